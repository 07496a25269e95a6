// Inverted dropout (Srivastava et al. 2014): during training each element is zeroed with
// probability p and the survivors are scaled by 1/(1−p), so inference needs no rescaling.
//
//   forward:  kept[i] = 0 with probability p, else 1;  y = x · kept · 1/(1−p)
//   backward: dx += dy · kept · 1/(1−p)
// The mask is kept for the backward pass as one byte per element (a quarter of a Float mask:
// masks were a fifth of a training step's activation memory). Masks are drawn serially from
// one seeded generator, so they do not depend on the thread count.

/// Which elements dropout kept, one byte each (1 kept, 0 zeroed), and the survivors' scale.
public struct DropoutMask {
    public let kept: UnsafeMutablePointer<UInt8>
    public let count: Int
    /// 1/(1−p).
    public let scale: Float

    /// The factor element i was multiplied by: 1/(1−p) or 0.
    @inline(__always)
    public subscript(i: Int) -> Float { kept[i] != 0 ? scale : 0 }

    /// x[i] *= factor i, in place (a gradient passing back through the dropout).
    public func apply(to x: Tensor) {
        checkShape(x.count == count, "DropoutMask.apply: tensor vs mask", x.shape, Shape(count))
        let p = x.pointer
        for i in 0..<count { p[i] = kept[i] != 0 ? p[i] * scale : 0 }
    }
}

/// y = dropout(x) (y may be x); the mask is written into `kept` (x.count bytes) and returned.
@discardableResult
public func dropoutForward(_ y: Tensor, _ x: Tensor, kept: UnsafeMutablePointer<UInt8>, probability p: Float,
                           rng: inout RandomGenerator) -> DropoutMask {
    checkShape(y.count == x.count, "dropoutForward: output vs input", y.shape, x.shape)
    require(p >= 0 && p < 1, "dropoutForward: probability \(p) outside [0, 1)")
    let scale = 1 / (1 - p)
    let xp = x.pointer, yp = y.pointer
    for i in 0..<x.count { kept[i] = rng.nextUnitFloat() < p ? 0 : 1 }
    for i in 0..<x.count { yp[i] = kept[i] != 0 ? xp[i] * scale : 0 }
    return DropoutMask(kept: kept, count: x.count, scale: scale)
}

/// dx += dy · mask.
public func dropoutBackward(dx: Tensor, dy: Tensor, mask: DropoutMask) {
    checkShape(dy.count == mask.count && dx.count == mask.count, "dropoutBackward: dy/dx vs mask", dy.shape, Shape(mask.count))
    let dyp = dy.pointer, dxp = dx.pointer
    for i in 0..<mask.count where mask.kept[i] != 0 { dxp[i] += dyp[i] * mask.scale }
}
