// FastMath: the row primitives of the kernels' hot loops — sums, dot products, maxima and the
// exponentials of softmax and the loss — in C (Kernels/float_rows.c), built per instruction set.
//
// Measured on this machine (see SWIFT-PERFORMANCE.md): float reductions never auto-vectorise, so
// sums and maxima use sixteen-lane accumulators (lane l sums elements l, l + 16, …; the lanes are
// then added in order, the tail last — the order is part of the result); libm `expf` costs
// ~4.5 ns per element, so softmax and the loss use a polynomial e^x (≈1e-7 relative error).
// Swift, built for baseline x86-64, ran these sixteen lanes as four SSE registers; the C kernels
// compute the same bits with one AVX-512 register where the CPU has it.

import CKernels

/// e^x by the kernels' polynomial (Kernels/float_rows.h: nmt_exp).
@inline(__always)
public func expScalar(_ x: Float) -> Float { nmt_exp(x) }

/// Σ x[i] for i < n.
@inline(__always)
public func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float { nmt_row_sum(x, n) }

/// Σ x[i]·y[i] for i < n.
@inline(__always)
public func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float { nmt_row_dot(x, y, n) }

/// max x[i] for i < n (n ≥ 1).
@inline(__always)
public func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float { nmt_row_max(x, n) }

/// y[i] = e^(x[i] − shift) for i < n; returns Σ y[i]. `x` and `y` may be the same memory.
@inline(__always)
public func expShifted(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    nmt_exp_shifted(y, x, n, shift)
}

/// Σ e^(x[i] − shift) for i < n, without storing the terms.
@inline(__always)
func expSumOnly(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float { nmt_exp_sum(x, n, shift) }

/// y[i] += alpha · x[i] for i < n.
@inline(__always)
public func addScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ alpha: Float = 1) {
    for i in 0..<n { y[i] += alpha * x[i] }
}
