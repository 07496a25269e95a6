// Compute: how a pass computes — the precision of its matrix products and, for bfloat16, the
// product engine that pass owns (oneDNN's primitives, scratch, the parameters rounded once per
// update and packed for oneDNN's kernels). Whoever owns a pass makes one — a training step, a
// translator — and passes it down to every layer the way a `DropoutSampler` is passed, as
// CTranslate2 fixes a compute type when a translator is built. Nothing else decides which code runs:
// the layers have one body, and the product and rounding operations they call dispatch on it.
//
//   float32   every product through OpenBLAS (Matmul.swift); activations float32
//   float32, rows independent (decoding)  every output row a function of its own input row, in
//             an order the code fixes — the linear product over packed weights (PanelLinear.swift),
//             attention per query over its own keys up to the last it may see (gathered_attention.c),
//             softmax over those keys only — so that a sentence decodes to the same bits whatever
//             batch, padding and neighbours it comes with (int8 products are exact, hence row
//             independent already)
//   bfloat16  products of bfloat16 inputs summed in float32 (Kalamkar et al. 2019); an activation
//             read only by products is kept rounded (a `Matrix` of bfloat16), the rest float32
//
// A bfloat16 Compute is state of one pass at a time: it is not shared between threads that run
// passes at once (Compute.float32 holds no state and is shared freely).

import CDNNL
import CKernels

/// The precision of a pass's matrix products (`nmt train --precision`).
public enum MatrixPrecision: String, Codable, Sendable, CaseIterable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

/// What computes a bfloat16 pass's products: oneDNN and nmt's AVX512-BF16 kernels (`native`, what
/// users run), or a portable reference of the same arithmetic — inputs rounded to bfloat16, exact
/// products summed in float32 by OpenBLAS — that tests select on CPUs without AVX512-BF16, so that
/// the bf16 pass's rounding, layouts and gradients are checked on every CPU. The two sum in
/// different orders: their results agree to float32 rounding, not bit for bit.
public enum BF16Backend: String, Sendable, CaseIterable {
    case native, reference

    /// Whether this CPU has AVX512-BF16 (oneDNN's avx512_core_bf16 or better), which `native` needs.
    public static var nativeAvailable: Bool { nmt_dnnl_has_bf16() != 0 }

    /// The backends this CPU can run (tests run each).
    public static var available: [BF16Backend] { nativeAvailable ? [.native, .reference] : [.reference] }
}

public final class Compute: @unchecked Sendable {
    public let precision: MatrixPrecision
    /// The bfloat16 product engine (nil in float32).
    let bf16: BF16Products?
    /// Whether every output row depends on its own input row (and a query on its own keys) alone.
    public let independentRows: Bool

    /// Float32 through OpenBLAS: stateless, shared by every scoring pass (validation, rescoring).
    public static let float32 = Compute(independentRows: false)

    /// Float32 with independent rows: stateless, shared by every decoding pass.
    public static let rowIndependent = Compute(independentRows: true)

    private init(independentRows: Bool) {
        precision = .float32
        bf16 = nil
        self.independentRows = independentRows
    }

    /// A pass in `precision`; bfloat16 products run on `backend`.
    public init(precision: MatrixPrecision, backend: BF16Backend = .native) {
        self.precision = precision
        bf16 = precision == .bfloat16 ? BF16Products(backend: backend) : nil
        independentRows = false
    }

    /// Whether activations that only products read are kept rounded to bfloat16.
    var roundsActivations: Bool { bf16 != nil }

    /// A new matrix [rows, columns] in the element type this pass keeps product inputs in
    /// (float32, or bfloat16 in a bf16 pass), valid until the arena's next reset.
    func matrix(rows: Int, columns: Int, arena: Arena) -> Matrix {
        roundsActivations ? .bfloat16(arena.bfloat16(rows: rows, columns: columns)) : .float32(arena.tensor(Shape(rows, columns)))
    }

    /// `x` as the products of this pass read it: itself, or rounded once (into the arena).
    func productInput(_ x: Tensor, arena: Arena) -> Matrix {
        roundsActivations ? .bfloat16(arena.bfloat16(of: x)) : .float32(x)
    }

    /// Where a product's output gradient is written as its products read it: over the float32
    /// output `y` itself, or (a bf16 pass) rounded into a new matrix.
    func gradient(over y: Tensor, arena: Arena) -> Matrix {
        roundsActivations ? .bfloat16(arena.bfloat16(rows: y.rows, columns: y.columns)) : .float32(y)
    }

    /// Starts a training update over `parameters` (unchanged until `endUpdate`): a bf16 pass rounds
    /// them once, and its products read weights from that copy, packed once per update.
    public func beginUpdate(parameters: UnsafeBufferPointer<Float>) {
        bf16?.weights.round(parameters)
    }

    /// Ends what `beginUpdate` started, before the parameters change.
    public func endUpdate() {
        bf16?.weights.release()
    }

    /// Seconds spent inside the bf16 products so far (0 in float32): what a benchmark compares with a step's time.
    public var productSeconds: Double { bf16?.productSeconds ?? 0 }

    /// What runs the products, for logs.
    public var kernels: String {
        guard let bf16 else { return kernelDescription(.float32) }
        return bf16.kernelName + "; " + BF16HeadProducts.kernelName(bf16.backend)
    }

    // MARK: products the layers call

    /// out = alpha · op(a) · op(b) + beta · out in this pass's precision: `matmul` in float32, in a
    /// bf16 pass a product of a and b rounded (benchmarks and tests; layers go through linearForward).
    public func multiply(_ out: Tensor, _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                         alpha: Float = 1, beta: Float = 0) {
        guard let bf16 else { return matmul(out, a, b, transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta) }
        let (m, k) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
        let (kB, n) = transposeB ? (b.columns, b.rows) : (b.rows, b.columns)
        checkShape(k == kB, "Compute.multiply: inner dimensions of a and b", a.shape, b.shape)
        checkShape(out.rows == m && out.columns == n, "Compute.multiply: output of a·b", out.shape, Shape(m, n))
        bf16.multiply(out.pointer, .float32(a.pointer, ld: a.columns), transposeA: transposeA, .float32(b.pointer, ld: b.columns), transposeB: transposeB,
                      m: m, n: n, k: k, alpha: alpha, beta: beta)
    }

    /// C_i = alpha · op(A_i) · op(B_i) for the `outer × inner` matrices of a batch (attention's
    /// per-head products; beta 0). A float32 pass multiplies float32 matrices with OpenBLAS; a
    /// bf16 pass reads A and B rounded (B as bfloat16 rows) and writes C float32 or rounded
    /// (BF16HeadProducts). With `columnSums`, C_i's rows are added to columnSums[(i mod inner)·D
    /// + j] in order, matrices in the order of i: the order summing C's rows takes (a bias
    /// gradient, bit for bit).
    func headProducts(outer: Int, inner: Int, _ c: HeadMatrices, _ a: HeadMatrices, _ b: HeadMatrices, m: Int, n: Int, k: Int,
                      transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1, columnSums: UnsafeMutablePointer<Float>? = nil) {
        if let bf16 {
            guard case .bfloat16(let rows) = b else { fatalError("Compute.headProducts: a bf16 pass reads B as bfloat16 rows") }
            bf16.heads.multiply(outer: outer, inner: inner, c, a, rows, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, alpha: alpha,
                                columnSums: columnSums)
            return
        }
        guard case .float32(let cb) = c, case .float32(let ab) = a, case .float32(let bb) = b else {
            fatalError("Compute.headProducts: bfloat16 matrices in a float32 pass")
        }
        batchedMatmul(outer: outer, inner: inner, cb, ab, bb, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, alpha: alpha)
        guard let columnSums else { return }
        // Each head's columns are one worker's, summed over the outer index in order.
        Threads.parallelFor(inner) { h in
            for o in 0..<outer {
                nmt_column_sums(columnSums + h * cb.innerStride, cb.matrix(o * inner + h, inner: inner), m, n, cb.ld)  // Kernels/float_rows.c
            }
        }
    }

    /// Runs `body` (products of this pass) with the promise that no B they read changes during it:
    /// a bf16 pass packs a B they share once (attention's q, k and v weight gradients all read x).
    func sharingActivations(_ body: () -> Void) {
        if let bf16 { bf16.sharingActivations(body) } else { body() }
    }
}
