// Global-norm gradient clipping (Pascanu et al. 2013), as PyTorch's clip_grad_norm_:
// with ‖g‖ the L2 norm of all gradients together, g ← g · min(1, maxNorm / (‖g‖ + 1e-6)).

/// The global L2 norm of `gradient`, accumulated in Double over fixed blocks (the same
/// result for any thread count).
public func globalNorm(_ gradient: UnsafeBufferPointer<Float>) -> Double {
    let p = gradient.baseAddress!, n = gradient.count
    var total = 0.0
    var start = 0
    while start < n {
        let len = min(4096, n - start)
        total += Double(dot(p + start, p + start, len))
        start += len
    }
    return total.squareRoot()
}

/// Scales `gradient` in place so its global norm is at most `maxNorm` (no-op if `maxNorm` ≤ 0).
/// Returns the norm before clipping.
@discardableResult
public func clipGlobalNorm(_ gradient: UnsafeMutableBufferPointer<Float>, maxNorm: Double) -> Double {
    let norm = globalNorm(UnsafeBufferPointer(gradient))
    if maxNorm > 0 && norm > maxNorm {
        let scale = Float(maxNorm / (norm + 1e-6))
        for i in 0..<gradient.count { gradient[i] *= scale }
    }
    return norm
}
