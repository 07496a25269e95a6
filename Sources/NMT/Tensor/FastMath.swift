// FastMath: SIMD16 building blocks for the kernels' hot loops.
//
// Measured on this machine (see SWIFT-PERFORMANCE.md): float reductions never auto-vectorise,
// so sums and maxima use SIMD16 accumulators; libm `expf` costs ~4.5 ns per element, so
// softmax and the loss use the polynomial `exp16` below (≈1e-7 relative error).

import Foundation

public typealias Float16x = SIMD16<Float>

/// e^x for 16 lanes. Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, then a degree-7
/// Taylor polynomial for e^r (truncation error < 6e-9) and 2^n built from exponent bits.
/// Inputs above 88.3 are clamped (the float range ends at e^88.7); inputs below −87.3 give
/// exactly 0, so a masked (−∞) score contributes nothing.
@inline(__always)
public func exp16(_ input: Float16x) -> Float16x {
    var x = input
    x.replace(with: Float16x(repeating: -87.3), where: x .< -87.3)
    x.replace(with: Float16x(repeating: 88.3), where: x .> 88.3)
    let magic = Float16x(repeating: 12582912)  // 1.5·2^23: adding it rounds to the nearest integer
    let shifted = x * 1.442695041 + magic
    let n = shifted - magic
    let r = (x - n * 0.693359375) - n * -2.12194440e-4  // ln2 split in a high and a low part
    var p = r * (1.0 / 5040) + (1.0 / 720)
    p = p * r + (1.0 / 120)
    p = p * r + (1.0 / 24)
    p = p * r + (1.0 / 6)
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let twoToN = unsafeBitCast((integer &+ 127) &<< 23, to: Float16x.self)
    var result = p * twoToN
    result.replace(with: Float16x(), where: input .< -87.3)
    return result
}

/// e^x for one value with the same polynomial as `exp16` (used for the tails of rows).
@inline(__always)
public func expScalar(_ x: Float) -> Float {
    exp16(Float16x(repeating: x))[0]
}

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> Float16x {
    UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inline(__always)
func store16(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self)
}

/// Σ x[i] for i < n.
@inline(__always)
public func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Float16x()
    var i = 0
    while i + 16 <= n { acc += load16(x + i); i += 16 }
    var s = acc.sum()
    while i < n { s += x[i]; i += 1 }
    return s
}

/// Σ x[i]·y[i] for i < n.
@inline(__always)
public func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Float16x()
    var i = 0
    while i + 16 <= n { acc += load16(x + i) * load16(y + i); i += 16 }
    var s = acc.sum()
    while i < n { s += x[i] * y[i]; i += 1 }
    return s
}

/// max x[i] for i < n (n ≥ 1).
@inline(__always)
public func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var m = -Float.infinity
    if n >= 16 {
        var acc = load16(x)
        i = 16
        while i + 16 <= n {
            let v = load16(x + i)
            acc.replace(with: v, where: acc .< v)
            i += 16
        }
        m = acc.max()
    }
    while i < n { m = Swift.max(m, x[i]); i += 1 }
    return m
}

/// y[i] = e^(x[i] − shift) for i < n; returns Σ y[i]. `x` and `y` may be the same memory.
@inline(__always)
public func expShifted(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = Float16x()
    var i = 0
    let s = Float16x(repeating: shift)
    while i + 16 <= n {
        let e = exp16(load16(x + i) - s)
        store16(e, y + i)
        acc += e
        i += 16
    }
    var total = acc.sum()
    if i < n {
        // The tail goes through one partially filled vector, so every element uses the same formula.
        var v = Float16x(repeating: -Float.infinity)
        for j in 0..<(n - i) { v[j] = x[i + j] }
        let e = exp16(v - s)
        for j in 0..<(n - i) { y[i + j] = e[j]; total += e[j] }
    }
    return total
}

/// y[i] += alpha · x[i] for i < n.
@inline(__always)
public func addScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ alpha: Float = 1) {
    for i in 0..<n { y[i] += alpha * x[i] }
}
