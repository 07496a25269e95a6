// BF16HeadProducts: attention's per-head products in a `--precision bf16` pass — B×H small
// products (sequence × head size), bfloat16 operands summed in float32, as PyTorch's autocast runs
// attention's bmm. The heads' operands are either bfloat16 rows that a projection wrote rounded
// (q, k, v, dContext: [B·T, C], head h at columns h·D…) or float32 matrices of one head each
// (probabilities, their gradient). Natively each worker puts one head's operands into the pair
// layout AVX512-BF16's vdpbf16ps reads (Kernels/bfloat16_pairs.c) and multiplies them while they are
// in its cache; an A of bfloat16 rows is read where it lies. The reference backend widens the
// rounded operands to float32 and multiplies them with OpenBLAS.

import CKernels
import Foundation

/// Matrix i of a batch (i = b·H + h) of bfloat16 rows: `base + b·outerStride + h·innerStride`,
/// rows `ld` values apart.
struct BF16Rows {
    var base: UnsafeMutablePointer<UInt16>
    var outerStride, innerStride, ld: Int

    func matrix(_ i: Int, inner: Int) -> UnsafeMutablePointer<UInt16> { base + (i / inner) * outerStride + (i % inner) * innerStride }
}

/// A batch of matrices of float32 or bfloat16 values (attention's per-head view).
enum HeadMatrices {
    case float32(MatrixBatch)
    case bfloat16(BF16Rows)
}

final class BF16HeadProducts {
    let backend: BF16Backend
    /// Per worker: A's and B's pairs for one head (native), or their float32 values and C's (reference).
    private var scratch: [GrowableBuffer<UInt32>] = []

    init(backend: BF16Backend) { self.backend = backend }

    /// What runs them, for logs.
    static func kernelName(_ backend: BF16Backend) -> String {
        backend == .native ? "attention's per-head products: nmt's vdpbf16ps kernel" : "attention's per-head products: reference (OpenBLAS)"
    }

    /// C_i = alpha · op(A_i) · op(B_i) for the `outer × inner` matrices (beta 0), C float32 or
    /// (alpha 1) rounded to bfloat16. With `columnSums` (C rounded: an input gradient of
    /// projections, any alpha), each C_i is added to its columns' sums before it is rounded —
    /// columnSums[(i mod inner)·innerStride + j], rows in order, matrices in the order of i (the
    /// order summing C's rows would take: the bias gradient, bit for bit).
    func multiply(outer: Int, inner: Int, _ c: HeadMatrices, _ a: HeadMatrices, _ b: BF16Rows,
                         m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1,
                         columnSums: UnsafeMutablePointer<Float>? = nil) {
        let pairs = (k + 1) / 2
        require(!transposeB || k % 2 == 0, "BF16HeadProducts: a transposed B needs an even inner dimension")
        if case .bfloat16(let rows) = a {
            // Read as pairs where they lie: whole 32-bit words, pairs along the inner dimension.
            require(!transposeA && k % 2 == 0 && rows.ld % 2 == 0 && rows.innerStride % 2 == 0 && rows.outerStride % 2 == 0,
                    "BF16HeadProducts: bfloat16 rows as A need an even inner dimension and no transposition")
        }
        if case .bfloat16 = c { require(alpha == 1 || columnSums != nil, "BF16HeadProducts: a rounded C with alpha ≠ 1") }
        var sumsStride = 0
        if columnSums != nil {
            guard case .bfloat16(let rows) = c else { fatalError("BF16HeadProducts: column sums of a float32 C") }
            sumsStride = rows.innerStride
        }
        let count = outer * inner
        if count == 0 || m == 0 || n == 0 { return }
        // Each worker a range of i; with column sums, a range of heads (i mod inner) for every
        // outer index in order, so that each column's sums are one worker's, taken in row order.
        let summing = columnSums != nil
        let workers = max(1, min(Threads.count, summing ? inner : count))
        while scratch.count < workers { scratch.append(GrowableBuffer<UInt32>()) }
        if backend == .reference {
            let buffers = (0..<workers).map { UnsafeMutableRawPointer(scratch[$0].reserve(m * k + k * n + m * n)).assumingMemoryBound(to: Float.self) }
            Threads.parallelFor(workers) { w in
                let range = (count * w / workers)..<(count * (w + 1) / workers), heads = (inner * w / workers)..<(inner * (w + 1) / workers)
                for j in 0..<(summing ? outer * heads.count : range.count) {
                    let i = summing ? (j / heads.count) * inner + heads.lowerBound + j % heads.count : range.lowerBound + j
                    referenceProduct(i, inner: inner, c, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, alpha: alpha,
                                     columnSums: columnSums.map { $0 + (i % inner) * sumsStride }, scratch: buffers[w])
                }
            }
            return
        }
        let buffers = (0..<workers).map { scratch[$0].reserve((m + n) * pairs) }
        Threads.parallelFor(workers) { w in
            let aPairs = buffers[w], bPairs = aPairs + m * pairs
            let range = (count * w / workers)..<(count * (w + 1) / workers), heads = (inner * w / workers)..<(inner * (w + 1) / workers)
            for j in 0..<(summing ? outer * heads.count : range.count) {
                let i = summing ? (j / heads.count) * inner + heads.lowerBound + j % heads.count : range.lowerBound + j
                // The next head's operands are on their way while this one's are laid out and multiplied.
                let next = summing ? ((j + 1) / heads.count) * inner + heads.lowerBound + (j + 1) % heads.count : i + 1
                if next < count {
                    switch a {
                    case .bfloat16(let rows): nmt_prefetch_rows(rows.matrix(next, inner: inner), m, 2 * k, 2 * rows.ld)
                    case .float32(let batch):
                        if transposeA { nmt_prefetch_rows(batch.matrix(next, inner: inner), k, 4 * m, 4 * batch.ld) }
                        else { nmt_prefetch_rows(batch.matrix(next, inner: inner), m, 4 * k, 4 * batch.ld) }
                    }
                    if transposeB { nmt_prefetch_rows(b.matrix(next, inner: inner), n, 2 * k, 2 * b.ld) }
                    else { nmt_prefetch_rows(b.matrix(next, inner: inner), k, 2 * n, 2 * b.ld) }
                }
                // A: pair p of row i at a[i·rowStride + p·pairStride].
                var aWords = UnsafePointer(aPairs), rowStride = pairs, pairStride = 1
                switch a {
                case .bfloat16(let rows):
                    aWords = UnsafeRawPointer(rows.matrix(i, inner: inner)).assumingMemoryBound(to: UInt32.self)
                    rowStride = rows.ld / 2
                case .float32(let batch):
                    if transposeA {
                        nmt_bf16_pairs_down_columns(aPairs, batch.matrix(i, inner: inner), k, m, batch.ld)
                        (rowStride, pairStride) = (1, m)
                    } else {
                        nmt_bf16_pairs_along_rows(aPairs, batch.matrix(i, inner: inner), m, k, batch.ld)
                    }
                }
                // B as [pairs, n]: pairs down the columns of B_i, or (B_i = a matrix of rows, transposed) along its rows.
                if transposeB {
                    nmt_bf16_words_transposed(bPairs, b.matrix(i, inner: inner), n, k, b.ld)
                } else {
                    nmt_bf16_words_down_columns(bPairs, b.matrix(i, inner: inner), k, n, b.ld)
                }
                switch c {
                case .float32(let batch):
                    nmt_bf16_pair_product(batch.matrix(i, inner: inner), batch.ld, aWords, rowStride, pairStride, bPairs, n, m, n, pairs, alpha)
                case .bfloat16(let rows):
                    if let columnSums {
                        nmt_bf16_pair_product_rounded_summing(rows.matrix(i, inner: inner), rows.ld, columnSums + (i % inner) * sumsStride,
                                                              aWords, rowStride, pairStride, bPairs, n, m, n, pairs, alpha)
                    } else {
                        nmt_bf16_pair_product_rounded(rows.matrix(i, inner: inner), rows.ld, aWords, rowStride, pairStride, bPairs, n, m, n, pairs)
                    }
                }
            }
        }
    }

    /// C_i of `multiply` by the reference arithmetic: A_i and B_i rounded to bfloat16 and widened
    /// back to float32 (exactly), OpenBLAS's float32 product, then C_i written (rounded, after its
    /// column sums, rows in order, when C is bfloat16).
    private func referenceProduct(_ i: Int, inner: Int, _ c: HeadMatrices, _ a: HeadMatrices, _ b: BF16Rows, m: Int, n: Int, k: Int,
                                  transposeA: Bool, transposeB: Bool, alpha: Float, columnSums: UnsafeMutablePointer<Float>?,
                                  scratch: UnsafeMutablePointer<Float>) {
        let a32 = scratch, b32 = scratch + m * k, c32 = b32 + k * n
        // A as stored: [m, k], or [k, m] when transposed.
        let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
        switch a {
        case .float32(let batch):
            let p = batch.matrix(i, inner: inner)
            for r in 0..<aRows { for j in 0..<aColumns { a32[r * aColumns + j] = bfloat16Value(bfloat16Bits(p[r * batch.ld + j])) } }
        case .bfloat16(let rows):
            let p = rows.matrix(i, inner: inner)
            for r in 0..<aRows { widenBFloat16(a32 + r * aColumns, p + r * rows.ld, count: aColumns) }
        }
        let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
        let pb = b.matrix(i, inner: inner)
        for r in 0..<bRows { widenBFloat16(b32 + r * bColumns, pb + r * b.ld, count: bColumns) }
        switch c {
        case .float32(let batch):
            sgemm(batch.matrix(i, inner: inner), ldc: batch.ld, a32, lda: aColumns, transposeA: transposeA, b32, ldb: bColumns, transposeB: transposeB,
                  m: m, n: n, k: k, alpha: alpha)
        case .bfloat16(let rows):
            sgemm(c32, ldc: n, a32, lda: aColumns, transposeA: transposeA, b32, ldb: bColumns, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha)
            let out = rows.matrix(i, inner: inner)
            for r in 0..<m {
                if let columnSums {
                    nmt_round_to_bfloat16_summing_columns(out + r * rows.ld, columnSums, c32 + r * n, 1, n, n)
                } else {
                    nmt_round_to_bfloat16(out + r * rows.ld, c32 + r * n, 1, n, n)
                }
            }
        }
    }
}

/// float32 → bfloat16 bits, nearest with ties to even (clones.h's bfloat16_bits).
@inline(__always)
func bfloat16Bits(_ x: Float) -> UInt16 {
    let v = x.bitPattern
    return UInt16(truncatingIfNeeded: (v &+ 0x7FFF &+ ((v >> 16) & 1)) >> 16)
}

/// bfloat16 bits → float32 (exact).
@inline(__always)
func bfloat16Value(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
