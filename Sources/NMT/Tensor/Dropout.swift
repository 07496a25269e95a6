// Inverted dropout (Srivastava et al. 2014): during training each element is zeroed with
// probability p and the survivors are scaled by 1/(1−p), so inference needs no rescaling.
//
//   forward:  mask[i] = 0 with probability p, else 1/(1−p);  y = x · mask
//   backward: dx += dy · mask
// The mask is kept for the backward pass. Masks are drawn serially from one seeded
// generator, so they do not depend on the thread count.

public func dropoutForward(_ y: Tensor, _ x: Tensor, mask: Tensor, probability p: Float, rng: inout RandomGenerator) {
    checkShape(y.count == x.count && mask.count == x.count, "dropoutForward: output/mask vs input", mask.shape, x.shape)
    require(p >= 0 && p < 1, "dropoutForward: probability \(p) outside [0, 1)")
    let keep = 1 / (1 - p)
    let m = mask.pointer, xp = x.pointer, yp = y.pointer
    for i in 0..<x.count {
        m[i] = rng.nextUnitFloat() < p ? 0 : keep
    }
    for i in 0..<x.count { yp[i] = xp[i] * m[i] }
}

public func dropoutBackward(dx: Tensor, dy: Tensor, mask: Tensor) {
    checkShape(dy.count == mask.count && dx.count == mask.count, "dropoutBackward: dy/dx vs mask", dy.shape, mask.shape)
    let m = mask.pointer, dyp = dy.pointer, dxp = dx.pointer
    for i in 0..<mask.count { dxp[i] += dyp[i] * m[i] }
}
