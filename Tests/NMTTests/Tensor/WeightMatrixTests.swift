import Testing
@testable import NMT

@Suite struct WeightMatrixTests {
    /// Per-row int8 (CTranslate2's scheme): |W − q/scale| ≤ 0.5/scale = max|row|/254 per weight, so
    /// |y_int8 − y_float| ≤ Σ_i |x_i| · max|row_o| / 254 for output o (plus Float rounding).
    @Test func anInt8WeightMatchesTheFloatProductWithinTheQuantizationBound() {
        var rng = RandomGenerator(seed: 3)
        let (n, i, o) = (5, 24, 7)
        let x = OwnedTensor(Shape(n, i), uniform: 1, rng: &rng), w = OwnedTensor(Shape(o, i), uniform: 0.5, rng: &rng)
        let b = OwnedTensor(Shape(o), uniform: 0.1, rng: &rng)
        let exact = OwnedTensor(Shape(n, o)), quantized = OwnedTensor(Shape(n, o))
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: o * i), scales = UnsafeMutablePointer<Float>.allocate(capacity: o)
        defer { values.deallocate(); scales.deallocate() }
        let q = QuantizedMatrix.quantize(w.t, values: values, scales: scales)
        linearForward(exact.t, x.t, weight: .float32(w.t), bias: b.t)
        linearForward(quantized.t, x.t, weight: .int8(q), bias: b.t)
        var worstRatio = 0.0
        for r in 0..<n {
            for c in 0..<o {
                let rowMax = (0..<i).map { abs(w.t[c * i + $0]) }.max()!
                let bound = (0..<i).map { Double(abs(x.t[r * i + $0])) }.reduce(0, +) * Double(rowMax) / 254 + 1e-5
                let error = Double(abs(quantized.t[r * o + c] - exact.t[r * o + c]))
                #expect(error <= bound, "y[\(r), \(c)]: error \(error) above the bound \(bound)")
                worstRatio = max(worstRatio, error / bound)
            }
        }
        #expect(worstRatio > 0, "the int8 product should not be exact")
    }

    @Test func quantizingGivesEachRowTheScaleOf127OverItsLargestMagnitude() {
        let w = OwnedTensor(Shape(2, 3), values: [0.5, -1, 0.25, 0, 0, 0])
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: 6), scales = UnsafeMutablePointer<Float>.allocate(capacity: 2)
        defer { values.deallocate(); scales.deallocate() }
        _ = QuantizedMatrix.quantize(w.t, values: values, scales: scales)
        #expect(Array(UnsafeBufferPointer(start: scales, count: 2)) == [127, 1])
        #expect(Array(UnsafeBufferPointer(start: values, count: 6)) == [64, -127, 32, 0, 0, 0])
    }
}
