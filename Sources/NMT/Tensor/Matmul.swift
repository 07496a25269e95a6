// Matmul: the one wrapper that every float32 matrix product in nmt goes through — OpenBLAS
// (cblas_sgemm; cblas_sgemv for matrix–vector cases), and oneDNN's sgemm for products of a few
// rows — and its batched form for attention (B×H independent small products). The products of a
// `--precision bf16` pass go through Compute/BF16Products instead.
//
// Row-major throughout: C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C,
// where op(X) = X or Xᵀ. With beta = 1 the product accumulates into C (gradients).

import CBLAS
import CDNNL

/// C = alpha · op(A) · op(B) + beta · C on raw row-major storage with leading dimensions.
@inline(__always)
public func sgemm(
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
    m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
) {
    if m == 0 || n == 0 { return }
    if m <= 5 && !transposeA {
        // A few rows (decoding a batch of one): OpenBLAS's sgemm packs all of B for them and its
        // sgemv reads B once per row; oneDNN's sgemm reads B once for all rows. Measured here (AMD
        // EPYC Zen 4, one thread, best of 3; OpenBLAS with this environment's Haswell kernels and
        // its own Cooperlake ones): for 2–5 rows oneDNN is 1.6–2.9× faster on every decoder shape
        // ([·, 256]·[256|1024|8000, 256]ᵀ, [·, 1024]·[256, 1024]ᵀ); for one row it is not (0.9–1.2×).
        if m >= 2 && k > 0 {
            let status = nmt_sgemm(0x4E, transposeB ? 0x54 : 0x4E, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
            require(status == 0, "sgemm: oneDNN failed with status \(status) for [\(m), \(k)]·[\(n), \(k)]")
            return
        }
        // Row i: C[i, :] = alpha · op(B)ᵀ · A[i, :] + beta · C[i, :].
        for i in 0..<m {
            sgemv(c + i * ldc, b, lda: ldb, transposeA: !transposeB, a + i * lda,
                  rows: transposeB ? n : k, columns: transposeB ? k : n, alpha: alpha, beta: beta)
        }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// y = alpha · op(A) · x + beta · y for a row-major A [rows, columns] with leading dimension lda
/// (products of a few rows, and a decoding step's attention for one query and one head:
/// scores K·q and context Vᵀ·p).
@inline(__always)
public func sgemv(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
                  _ x: UnsafePointer<Float>, rows: Int, columns: Int, alpha: Float = 1, beta: Float = 0) {
    cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), alpha,
                a, Int32(lda), x, 1, beta, y, 1)
}

/// out = alpha · op(a) · op(b) + beta · out, for tensors seen as matrices [rows, columns].
/// Shapes are checked: a mismatch stops with both shapes named.
public func matmul(_ out: Tensor, _ a: Tensor, _ b: Tensor,
                   transposeA: Bool = false, transposeB: Bool = false,
                   alpha: Float = 1, beta: Float = 0) {
    let (m, kA) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
    let (kB, n) = transposeB ? (b.columns, b.rows) : (b.rows, b.columns)
    checkShape(kA == kB, "matmul: inner dimensions of a and b", a.shape, b.shape)
    checkShape(out.rows == m && out.columns == n, "matmul: output of a·b", out.shape, Shape(m, n))
    let workers = Threads.count
    guard workers > 1, !Threads.inParallelRegion, m >= 32 * workers, Double(m) * Double(n) * Double(kA) >= 4e6 else {
        sgemm(out.pointer, ldc: n, a.pointer, lda: a.columns, transposeA: transposeA,
              b.pointer, ldb: b.columns, transposeB: transposeB,
              m: m, n: n, k: kA, alpha: alpha, beta: beta)
        return
    }
    // One block of output rows per core (blocks of 16 rows keep the kernels' tiles whole); each
    // output element is computed by exactly one worker, so results do not depend on the split.
    Threads.parallelFor(workers) { w in
        let start = (m * w / workers) / 16 * 16, end = w == workers - 1 ? m : (m * (w + 1) / workers) / 16 * 16
        if end <= start { return }
        // Rows of op(A): row r of A, or column r of Aᵀ's storage.
        let aBlock = transposeA ? a.pointer + start : a.pointer + start * a.columns
        sgemm(out.pointer + start * n, ldc: n, aBlock, lda: a.columns, transposeA: transposeA,
              b.pointer, ldb: b.columns, transposeB: transposeB,
              m: end - start, n: n, k: kA, alpha: alpha, beta: beta)
    }
}

/// Where matrix `i` of a batch lives: `base + (i / inner)·outerStride + (i % inner)·innerStride`,
/// rows `ld` floats apart. Attention's [B, T, H, d] layout is outer = batch, inner = head.
public struct MatrixBatch {
    public var base: UnsafeMutablePointer<Float>
    public var outerStride: Int
    public var innerStride: Int
    public var ld: Int

    public init(_ base: UnsafeMutablePointer<Float>, outerStride: Int, innerStride: Int, ld: Int) {
        self.base = base
        self.outerStride = outerStride
        self.innerStride = innerStride
        self.ld = ld
    }

    @inline(__always)
    func matrix(_ i: Int, inner: Int) -> UnsafeMutablePointer<Float> {
        base + (i / inner) * outerStride + (i % inner) * innerStride
    }
}

/// `outer × inner` independent products C_i = alpha · op(A_i) · op(B_i) + beta · C_i, run in
/// parallel over i with single-threaded BLAS inside each worker.
public func batchedMatmul(outer: Int, inner: Int,
                          _ c: MatrixBatch, _ a: MatrixBatch, _ b: MatrixBatch,
                          m: Int, n: Int, k: Int,
                          transposeA: Bool = false, transposeB: Bool = false,
                          alpha: Float = 1, beta: Float = 0) {
    Threads.parallelFor(outer * inner) { i in
        sgemm(c.matrix(i, inner: inner), ldc: c.ld,
              a.matrix(i, inner: inner), lda: a.ld, transposeA: transposeA,
              b.matrix(i, inner: inner), ldb: b.ld, transposeB: transposeB,
              m: m, n: n, k: k, alpha: alpha, beta: beta)
    }
}
