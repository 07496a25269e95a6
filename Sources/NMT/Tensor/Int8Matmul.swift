// Int8Matmul: y = x·Wᵀ (+ b) with an int8 weight (per-row scales s_o, W ≈ q/s_o) and int8
// activations quantized per row on the fly — CTranslate2's scheme:
//
//   a_n = R / max_i |x[n, i]|,   x̂[n, i] = round(x[n, i]·a_n) ∈ [−R, R]
//   y[n, o] = (Σ_i x̂[n, i]·q[o, i]) / (a_n·s_o) + b[o]
//
// The integer sums are exact int32 products — nmt's kernels over weights packed at load
// (Kernels/int8_packed.c: AVX512-VNNI's, else AVX2's), oneDNN's (`dnnl_gemm_u8s8s32`) elsewhere —
// of activations shifted by +S to u8, the shift taken back as a zero point. With VNNI (vpdpbusd) R = 127, S = 128.
// Without VNNI oneDNN adds pairs of u8·s8 products in saturating int16 (2·255·127 > 32767), so
// activations keep 7 bits, R = 63, S = 64 (2·127·127 ≤ 32767: exact again) — PyTorch's fbgemm
// "reduce_range" for the same reason. Either way the sums are exact; only the rounding differs.
//
// Error bound (per output, before Float rounding): with ŵ = q/s and x̃ = x̂/a,
//   y − ŷ = Σ_i x_i·(W_i − ŵ_i) + Σ_i ŵ_i·(x_i − x̃_i),  |W_i − ŵ_i| ≤ max|W_o|/254,  |x_i − x̃_i| ≤ max|x_n|/(2R)
//   so |y − ŷ| ≤ Σ_i |x_i|·max|W_o|/254 + Σ_i |ŵ_i|·max|x_n|/(2R).

import CDNNL
import CKernels
import Foundation

public enum Int8Kernel {
    /// Largest quantized activation magnitude R (127 with VNNI, 63 without).
    public static let activationRange: Int = nmt_int8_has_vnni() != 0 ? 127 : 63

    /// What computes the int8 products' sums.
    public enum Product: Sendable { case vnni, avx2, oneDNN }

    /// nmt's kernels over weights packed once at load (Kernels/int8_packed.c) wherever they run:
    /// oneDNN's gemm repacks the weights on every call, which is most of a product of a few rows
    /// (decoding one sentence: 2.1–2.4× faster end to end with VNNI) and no faster on many rows.
    /// AVX512-VNNI's where the CPU has it; AVX2's on CPUs without any VNNI (7-bit activations
    /// either way there); oneDNN's on CPUs with AVX-VNNI but not AVX512 (8-bit activations) and
    /// without AVX2. oneDNN's DNNL_MAX_CPU_ISA counts: told the CPU lacks AVX512-VNNI, nmt
    /// computes as on a CPU without it.
    public static let product: Product = {
        let isa = UInt32(nmt_dnnl_isa()), vnni = dnnl_cpu_isa_avx512_core_vnni.rawValue
        if nmt_int8_packed_available() != 0 && isa & vnni == vnni { return .vnni }
        if activationRange == 63 && nmt_int8_packed_avx2_available() != 0 { return .avx2 }
        return .oneDNN
    }()

    /// Whether the products read weights packed at load.
    public static var packedProduct: Bool { product != .oneDNN }

    /// Rows up to which the AVX2 kernel runs a product; more go to oneDNN's gemm, whose repacking
    /// is then amortized and whose kernel is faster on many rows (Zen 4 as an AVX2 CPU, 300 lines,
    /// one thread: 1 row 3×, 5 rows 1.35× faster than oneDNN; 32 rows about even, 160 rows 0.65×).
    /// The sums are exact either way, so the choice never changes a result.
    public static let avx2RowLimit = 8

    /// Whether a product of `rows` rows over packed weights runs nmt's kernel.
    static func packedKernel(rows: Int) -> Bool { product == .vnni || (product == .avx2 && rows <= avx2RowLimit) }

    /// What runs the int8 products, for the log: "oneDNN 2.6.3 u8s8s32, avx512_core_vnni".
    public static var description: String {
        let v = dnnl_version()!.pointee
        let bits = activationRange == 127 ? "8-bit activations" : "7-bit activations (no VNNI)"
        switch product {
        case .vnni: return "nmt's AVX512-VNNI kernel over weights packed at load, \(bits)"
        case .avx2: return "nmt's AVX2 kernel over weights packed at load for up to \(avx2RowLimit) rows, oneDNN \(v.major).\(v.minor).\(v.patch) beyond, \(bits)"
        case .oneDNN: return "oneDNN \(v.major).\(v.minor).\(v.patch) u8s8s32 on \(isaName(Int(nmt_dnnl_isa()))), \(bits)"
        }
    }

    static func isaName(_ isa: Int) -> String {
        let names: [(Int, String)] = [(0x3e7, "avx512_core_amx"), (0xe7, "avx512_core_bf16"), (0x67, "avx512_core_vnni"),
                                      (0x27, "avx512_core"), (0x407, "avx2_vnni"), (0x7, "avx2"), (0x3, "avx"), (0x1, "sse41")]
        return names.first { isa & $0.0 == $0.0 }?.1 ?? "isa 0x\(String(isa, radix: 16))"
    }
}

/// Per-thread scratch of the int8 product (quantized rows, int32 sums), grown to the largest use:
/// nothing is allocated per call once warm.
private final class Int8Scratch {
    var activations = UnsafeMutablePointer<UInt8>.allocate(capacity: 1), activationCapacity = 1
    var sums = UnsafeMutablePointer<Int32>.allocate(capacity: 1), sumCapacity = 1
    var rowFactors = UnsafeMutablePointer<Float>.allocate(capacity: 1), rowCapacity = 1

    func reserve(rows: Int, columns: Int, outputs: Int) {
        if rows * columns > activationCapacity {
            activations.deallocate(); activationCapacity = rows * columns; activations = .allocate(capacity: activationCapacity)
        }
        if rows * outputs > sumCapacity { sums.deallocate(); sumCapacity = rows * outputs; sums = .allocate(capacity: sumCapacity) }
        if rows > rowCapacity { rowFactors.deallocate(); rowCapacity = rows; rowFactors = .allocate(capacity: rowCapacity) }
    }

    deinit { activations.deallocate(); sums.deallocate(); rowFactors.deallocate() }

    nonisolated(unsafe) private static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let p = $0 { Unmanaged<Int8Scratch>.fromOpaque(p).release() } }
        return key
    }()

    static var current: Int8Scratch {
        if let p = pthread_getspecific(key) { return Unmanaged<Int8Scratch>.fromOpaque(p).takeUnretainedValue() }
        let scratch = Int8Scratch()
        pthread_setspecific(key, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }
}

/// y = x·Wᵀ + b for an int8 weight; rows are split across threads outside parallel regions
/// (integer sums are exact, so the split never changes a result).
/// (`activationRange` other than the CPU's is for tests: 63 is exact on every CPU, 127 needs VNNI.)
func int8LinearForward(_ y: Tensor, _ x: Tensor, weight q: QuantizedMatrix, bias: Tensor?,
                       activationRange: Int = Int8Kernel.activationRange) {
    let m = x.rows
    let workers = Threads.inParallelRegion ? 1 : min(Threads.count, m / 16)
    if workers <= 1 { int8LinearRows(y, x, q, bias, 0..<m, activationRange); return }
    Threads.parallelFor(workers) { w in int8LinearRows(y, x, q, bias, (m * w / workers)..<(m * (w + 1) / workers), activationRange) }
}

private func int8LinearRows(_ y: Tensor, _ x: Tensor, _ q: QuantizedMatrix, _ bias: Tensor?, _ rows: Range<Int>, _ activationRange: Int) {
    let (k, n, m) = (q.columns, q.rows, rows.count)
    if m == 0 { return }
    let scratch = Int8Scratch.current
    // The int32 sums go through memory only on oneDNN's path (the packed kernels scale them back
    // in registers), so only that path reserves room for them.
    let packedKernel = q.packed != nil && Int8Kernel.packedKernel(rows: m)
    scratch.reserve(rows: m, columns: k, outputs: packedKernel ? 0 : n)
    let shift = activationRange + 1
    // Quantizing and scaling back are element-wise C kernels (Kernels/int8_rows.c), vectorized per
    // instruction set; they equal `int8LinearReference`'s Swift arithmetic bit for bit.
    nmt_quantize_rows(scratch.activations, scratch.rowFactors, x.pointer + rows.lowerBound * k, m, k, Float(activationRange), UInt32(shift))
    if let packed = q.packed, packedKernel {
        let product = Int8Kernel.product == .avx2 ? nmt_int8_packed_product_avx2 : nmt_int8_packed_product
        product(nil, y.pointer + rows.lowerBound * n, scratch.rowFactors, q.scales, bias?.pointer, scratch.activations, m, k,
                packed.values, packed.sums, n, Int32(shift))
        return
    }
    let status = nmt_gemm_u8s8s32(Int64(m), Int64(n), Int64(k), scratch.activations, UInt8(shift), q.values, scratch.sums)
    require(status == 0, "int8LinearForward: oneDNN gemm failed with status \(status)")
    nmt_dequantize_rows(y.pointer + rows.lowerBound * n, scratch.sums, scratch.rowFactors, q.scales, bias?.pointer, m, n)
}

/// The same product in plain Swift (exact integer sums, the same rounding): what the oneDNN path
/// must equal on every CPU. For tests.
func int8LinearReference(_ y: Tensor, _ x: Tensor, weight q: QuantizedMatrix, bias: Tensor?, activationRange: Int) {
    let (k, n) = (q.columns, q.rows)
    let range = Float(activationRange)
    var quantized = [Int32](repeating: 0, count: k)
    for r in 0..<x.rows {
        let row = x.pointer + r * k
        var largest: Float = 0
        for j in 0..<k { largest = max(largest, abs(row[j])) }
        let a: Float = largest > 0 ? range / largest : 1
        for j in 0..<k { quantized[j] = Int32((row[j] * a).rounded()) }
        let factor = 1 / a
        for o in 0..<n {
            var total: Int32 = 0
            for j in 0..<k { total += quantized[j] * Int32(q.values[o * k + j]) }
            y.pointer[r * n + o] = Float(total) * factor / q.scales[o] + (bias?.pointer[o] ?? 0)
        }
    }
}
