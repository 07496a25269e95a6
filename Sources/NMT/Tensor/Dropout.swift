// Inverted dropout (Srivastava et al. 2014): during training each element is zeroed with
// probability p and the survivors are scaled by 1/(1−p), so inference needs no rescaling.
//
//   forward:  kept[i] = 0 with probability p, else 1;  y = x · kept · 1/(1−p)
//   backward: dx += dy · kept · 1/(1−p)
// The mask is kept for the backward pass as one byte per element (a quarter of a Float mask:
// masks were a fifth of a training step's activation memory). Each mask takes one number from
// the seeded generator and derives element i's draw from it and i (counter-based, splitmix64),
// so masks are drawn in parallel and still do not depend on the thread count.

import CKernels

/// Which elements dropout kept, one byte each (1 kept, 0 zeroed), and the survivors' scale.
public struct DropoutMask {
    public let kept: UnsafeMutablePointer<UInt8>
    public let count: Int
    /// 1/(1−p).
    public let scale: Float

    /// The factor element i was multiplied by: 1/(1−p) or 0.
    @inline(__always)
    public subscript(i: Int) -> Float { kept[i] != 0 ? scale : 0 }

    /// y[i] = x[i] · factor i (y may be x): what the forward pass made of x, or a gradient
    /// passing back through the dropout.
    public func apply(_ x: Tensor, into y: Tensor) {
        checkShape(x.count == count && y.count == count, "DropoutMask.apply: tensors vs mask", x.shape, Shape(count))
        let xp = x.pointer, yp = y.pointer, kept = kept, scale = scale
        Threads.parallelChunks(count, minChunk: 1 << 16) { range in
            let i = range.lowerBound
            nmt_dropout_apply(yp + i, xp + i, kept + i, range.count, scale)  // Kernels/dropout_mask.c
        }
    }

    /// x[i] *= factor i, in place.
    public func apply(to x: Tensor) { apply(x, into: x) }
}

/// y = dropout(x) (y may be x); the mask is written into `kept` (x.count bytes) and returned.
@discardableResult
public func dropoutForward(_ y: Tensor, _ x: Tensor, kept: UnsafeMutablePointer<UInt8>, probability p: Float,
                           rng: inout RandomGenerator) -> DropoutMask {
    checkShape(y.count == x.count, "dropoutForward: output vs input", y.shape, x.shape)
    require(p >= 0 && p < 1, "dropoutForward: probability \(p) outside [0, 1)")
    let scale = 1 / (1 - p)
    let xp = x.pointer, yp = y.pointer
    let stream = rng.next()
    Threads.parallelChunks(x.count, minChunk: 1 << 15) { range in
        let i = range.lowerBound
        nmt_dropout_forward(yp + i, xp + i, kept + i, i, range.count, stream, p, scale)  // Kernels/dropout_mask.c: uniformDraw's math
    }
    return DropoutMask(kept: kept, count: x.count, scale: scale)
}

/// Draw i of a counter-based stream, uniform in [0, 1): splitmix64's finaliser of
/// (stream + i·golden ratio), top 24 bits. The definition Kernels/dropout_mask.c follows (the
/// tests hold the kernel to it bit for bit).
@inline(__always)
func uniformDraw(_ stream: UInt64, _ i: Int) -> Float {
    var z = stream &+ UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) * (1 / Float(1 << 24))
}

/// dx += dy · mask.
public func dropoutBackward(dx: Tensor, dy: Tensor, mask: DropoutMask) {
    checkShape(dy.count == mask.count && dx.count == mask.count, "dropoutBackward: dy/dx vs mask", dy.shape, Shape(mask.count))
    let dyp = dy.pointer, dxp = dx.pointer, kept = mask.kept, scale = mask.scale
    Threads.parallelChunks(mask.count, minChunk: 1 << 16) { range in
        for i in range where kept[i] != 0 { dxp[i] += dyp[i] * scale }
    }
}
