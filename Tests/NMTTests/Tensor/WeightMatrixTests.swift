import CDNNL
import CKernels
import Testing
@testable import NMT

@Suite struct WeightMatrixTests {
    /// Per-row int8 weights and per-row int8 activations (Int8Matmul's scheme): the error of each
    /// output stays within Σ|x_i|·max|W_o|/254 + Σ|ŵ_i|·max|x_n|/(2R) (plus Float rounding).
    @Test func anInt8ProductMatchesTheFloatProductWithinTheQuantizationBound() {
        var rng = RandomGenerator(seed: 3)
        let (n, i, o) = (37, 64, 48)
        let x = OwnedTensor(Shape(n, i), uniform: 1, rng: &rng), w = OwnedTensor(Shape(o, i), uniform: 0.5, rng: &rng)
        let b = OwnedTensor(Shape(o), uniform: 0.1, rng: &rng)
        let exact = OwnedTensor(Shape(n, o)), quantized = OwnedTensor(Shape(n, o))
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: o * i), scales = UnsafeMutablePointer<Float>.allocate(capacity: o)
        defer { values.deallocate(); scales.deallocate() }
        let q = QuantizedMatrix.quantize(w.t, values: values, scales: scales)
        linearForward(.float32(exact.t), .float32(x.t), weight: .float32(w.t), bias: b.t, compute: .float32)
        linearForward(.float32(quantized.t), .float32(x.t), weight: .int8(q), bias: b.t, compute: .float32)
        let range = Double(Int8Kernel.activationRange)
        var worstRatio = 0.0
        for r in 0..<n {
            let xMax = Double((0..<i).map { abs(x.t[r * i + $0]) }.max()!)
            let xSum = (0..<i).map { Double(abs(x.t[r * i + $0])) }.reduce(0, +)
            for c in 0..<o {
                let rowMax = Double((0..<i).map { abs(w.t[c * i + $0]) }.max()!)
                let dequantizedSum = (0..<i).map { Double(abs(Float(values[c * i + $0]) / scales[c])) }.reduce(0, +)
                let bound = xSum * rowMax / 254 + dequantizedSum * xMax / (2 * range) + 1e-5
                let error = Double(abs(quantized.t[r * o + c] - exact.t[r * o + c]))
                #expect(error <= bound, "y[\(r), \(c)]: error \(error) above the bound \(bound)")
                worstRatio = max(worstRatio, error / bound)
            }
        }
        #expect(worstRatio > 0.01, "the int8 product should not be exact")
    }

    /// oneDNN's integer sums are exact, so its product equals a plain Swift one with the same
    /// rounding — with 8-bit activations (VNNI CPUs) and the 7-bit ones every CPU is exact for.
    @Test(arguments: [127, 63])
    func theOneDNNInt8ProductEqualsThePlainReference(activationRange: Int) {
        var rng = RandomGenerator(seed: 11)
        let (n, i, o) = (40, 96, 72)
        let x = OwnedTensor(Shape(n, i), uniform: 3, rng: &rng), w = OwnedTensor(Shape(o, i), uniform: 0.2, rng: &rng)
        let b = OwnedTensor(Shape(o), uniform: 0.1, rng: &rng)
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: o * i), scales = UnsafeMutablePointer<Float>.allocate(capacity: o)
        defer { values.deallocate(); scales.deallocate() }
        let q = QuantizedMatrix.quantize(w.t, values: values, scales: scales)
        let fast = OwnedTensor(Shape(n, o)), reference = OwnedTensor(Shape(n, o))
        if activationRange == 127 && Int8Kernel.activationRange != 127 { return }  // needs VNNI
        int8LinearForward(fast.t, x.t, weight: q, bias: b.t, activationRange: activationRange)
        int8LinearReference(reference.t, x.t, weight: q, bias: b.t, activationRange: activationRange)
        let differing = (0..<(n * o)).filter { fast.t[$0] != reference.t[$0] }
        #expect(differing.isEmpty, "\(differing.count) outputs differ, first at \(differing.first ?? -1)")
    }

    typealias PackedProduct = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?,
                                              UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<UInt8>?, Int, Int,
                                              UnsafePointer<Int8>?, UnsafePointer<Int32>?, Int, Int32) -> Void

    /// `product` over packed weights against oneDNN's gemm on activations below `activationLimit`
    /// shifted by `shift`: the same int32 sums for m rows of a shape that fills no block, and
    /// scaled back to floats inside the kernel, the separate pass's bits, with and without bias.
    func expectPackedProductEqualsOneDNNs(_ product: PackedProduct, rows m: Int, activationLimit: Float, shift: Int32, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let (k, n) = (97, 37)
        let a = (0..<(m * k)).map { _ in UInt8(truncatingIfNeeded: Int(rng.nextUnitFloat() * activationLimit)) }
        let w = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: Int(rng.nextUnitFloat() * 255) - 127) }
        var packed = [Int8](repeating: 0, count: nmt_int8_packed_size(n, k)), sums = [Int32](repeating: 0, count: n)
        nmt_int8_pack(&packed, &sums, w, n, k)
        var fast = [Int32](repeating: 0, count: m * n), reference = [Int32](repeating: 0, count: m * n)
        product(&fast, nil, nil, nil, nil, a, m, k, packed, sums, n, shift)
        #expect(nmt_gemm_u8s8s32(Int64(m), Int64(n), Int64(k), a, UInt8(shift), w, &reference) == 0)
        #expect(fast == reference)
        let factors = (0..<m).map { _ in rng.nextUnitFloat() / 100 }, scales = (0..<n).map { _ in 1 + rng.nextUnitFloat() * 50 }
        let bias = (0..<n).map { _ in rng.nextUnitFloat() - 0.5 }
        for withBias in [true, false] {
            var fused = [Float](repeating: 0, count: m * n), separate = [Float](repeating: 0, count: m * n)
            bias.withUnsafeBufferPointer { b in
                let b = withBias ? b.baseAddress : nil
                product(nil, &fused, factors, scales, b, a, m, k, packed, sums, n, shift)
                nmt_dequantize_rows(&separate, reference, factors, scales, b, m, n)
            }
            #expect(fused.map(\.bitPattern) == separate.map(\.bitPattern), "bias \(withBias)")
        }
    }

    /// nmt's VNNI kernel (8-bit activations, shift 128), for groups of eight rows and the rest.
    @Test(arguments: [1, 5, 8, 9, 40])
    func thePackedVNNIProductEqualsOneDNNs(rows m: Int) {
        guard Int8Kernel.product == .vnni else { return }  // needs AVX512-VNNI
        expectPackedProductEqualsOneDNNs(nmt_int8_packed_product, rows: m, activationLimit: 256, shift: 128, seed: UInt64(m))
    }

    /// nmt's AVX2 kernel (7-bit activations, shift 64), for groups of four rows and the rest.
    @Test(arguments: [1, 3, 4, 5, 9, 40])
    func thePackedAVX2ProductEqualsOneDNNs(rows m: Int) {
        guard nmt_int8_packed_avx2_available() != 0 else { return }  // needs AVX2
        expectPackedProductEqualsOneDNNs(nmt_int8_packed_product_avx2, rows: m, activationLimit: 128, shift: 64, seed: UInt64(m) + 100)
    }

    /// Activations are rounded half away from zero without libm: exact ties (±2.5, ±3.5, ±126.5),
    /// the float just below a half (0.49999997), zeros and the extremes must all agree with
    /// `Float.rounded()` — the reference — or translations would change.
    @Test func activationRoundingMatchesRoundedOnTiesAndNearTies() {
        let tricky: [Float] = [127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 0.49999997, -0.49999997,
                               1.4999999, -1.4999999, 0, -0, 64.5, -64.5, -127, 100.25, -100.75]
        let (i, o) = (tricky.count, 8)
        var rng = RandomGenerator(seed: 12)
        let x = OwnedTensor(Shape(1, i), values: tricky), w = OwnedTensor(Shape(o, i), uniform: 0.3, rng: &rng)
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: o * i), scales = UnsafeMutablePointer<Float>.allocate(capacity: o)
        defer { values.deallocate(); scales.deallocate() }
        let q = QuantizedMatrix.quantize(w.t, values: values, scales: scales)
        let fast = OwnedTensor(Shape(1, o)), reference = OwnedTensor(Shape(1, o))
        let range = Int8Kernel.activationRange  // 127 on VNNI CPUs: the scale is exactly 1, so the ties stay ties
        int8LinearForward(fast.t, x.t, weight: q, bias: nil, activationRange: range)
        int8LinearReference(reference.t, x.t, weight: q, bias: nil, activationRange: range)
        #expect((0..<o).allSatisfy { fast.t[$0] == reference.t[$0] })
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
