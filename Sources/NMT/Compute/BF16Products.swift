// BF16Products: C = alpha · op(A) · op(B) + beta · C with A and B rounded to bfloat16 and products
// summed in float32 — the matrix products of a `--precision bf16` pass. bfloat16 keeps float32's
// 8-bit exponent and 8 of its 24 significand bits (Kalamkar et al. 2019), so no loss scaling is
// needed; every sum is float32. Natively through oneDNN's matmul primitive (OneDNNBF16Primitives):
// AVX512-BF16's vdpbf16ps does two multiply-adds per float32 lane. The reference backend computes
// the same arithmetic portably: operands rounded to bfloat16 and widened back (exactly), OpenBLAS's
// float32 sums of their exact products.
//
// One engine belongs to one pass (a `Compute`), called from the thread that runs it, never inside
// nmt's parallel regions; nmt's workers each run one block of rows on one OpenMP thread. The
// parameters are rounded once per update (BF16Weights); a weight read from them is packed once per
// update into the layout oneDNN's kernel asks for, and a weight gradient's activations (B of
// dW = dyᵀ·x) are laid out the same way as they are read (BF16ActivationPacker).

import CBLAS
import CDNNL
import CKernels
import Foundation

/// A bf16 product's input: float32 values the product rounds into its scratch copy, or values a
/// caller rounded already (dense: leading dimension = its columns).
public enum BF16Operand {
    case float32(UnsafePointer<Float>, ld: Int)
    case bfloat16(UnsafePointer<UInt16>)

    /// The operand from element `offset` on (same leading dimension).
    func advanced(_ offset: Int) -> BF16Operand {
        switch self {
        case .float32(let p, let ld): return .float32(p + offset, ld: ld)
        case .bfloat16(let p): return .bfloat16(p + offset)
        }
    }

    var isFloat32: Bool { if case .float32 = self { return true } else { return false } }

    /// Where the values lie.
    var address: UnsafeRawPointer {
        switch self {
        case .float32(let p, _): return UnsafeRawPointer(p)
        case .bfloat16(let p): return UnsafeRawPointer(p)
        }
    }

    /// Leading dimension of a stored matrix with `columns` columns.
    func ld(columns: Int) -> Int {
        if case .float32(_, let ld) = self { return ld }
        return columns
    }
}

/// Where a product writes: float32 or bfloat16 elements (after a ReLU, if `relu`).
struct BF16Output {
    var base: UnsafeMutableRawPointer
    var bfloat16: Bool
    var relu = false
    init(_ base: UnsafeMutableRawPointer, bfloat16: Bool, relu: Bool = false) { (self.base, self.bfloat16, self.relu) = (base, bfloat16, relu) }
    /// Element `offset` on.
    static func + (o: BF16Output, offset: Int) -> BF16Output { BF16Output(o.base + offset * (o.bfloat16 ? 2 : 4), bfloat16: o.bfloat16, relu: o.relu) }
}

final class BF16Products {
    let backend: BF16Backend
    /// The parameters rounded once per update, and weights packed from them.
    let weights: BF16Weights
    /// Weight gradients' activations laid out for oneDNN's kernel.
    let activations = BF16ActivationPacker()
    /// Attention's per-head products.
    let heads: BF16HeadProducts
    /// oneDNN's engine, streams and primitives (native only; made on first use).
    private lazy var primitives = OneDNNBF16Primitives()
    /// bfloat16 copies of A and B (grown as needed, reused by every call).
    private let scratchA = GrowableBuffer<UInt16>()
    private let scratchB = GrowableBuffer<UInt16>()
    /// The reference backend's float32 copies of the rounded operands and its product before rounding.
    private let widened = (a: GrowableBuffer<Float>(), b: GrowableBuffer<Float>(), c: GrowableBuffer<Float>())
    /// Seconds spent inside the products (not the rounding into scratch copies).
    private(set) var productSeconds = 0.0

    init(backend: BF16Backend) {
        require(backend == .reference || BF16Backend.nativeAvailable, "BF16Products: the native backend needs AVX512-BF16")
        self.backend = backend
        weights = BF16Weights()
        heads = BF16HeadProducts(backend: backend)
    }

    /// What runs the products, for logs.
    var kernelName: String {
        let v = dnnl_version()!.pointee
        switch backend {
        case .native: return "oneDNN \(v.major).\(v.minor) matmul, bf16 × bf16 → f32 (AVX512-BF16)"
        case .reference: return "reference bf16 products: bfloat16-rounded inputs, OpenBLAS float32 sums"
        }
    }

    /// C [m, n] (leading dimension n) = alpha · op(A) · op(B) + beta · C, where A is stored [m, k]
    /// (or [k, m] when transposed), B likewise [k, n] / [n, k].
    /// With a `bias` [n] (op(A) not transposed), C = alpha · op(A) · op(B) + bias + beta · C: the
    /// bias is added to the float32 sums as oneDNN writes them, which costs nothing, where copying
    /// it into C first and adding with beta = 1 costs a pass over C and slows oneDNN's kernels
    /// (the sum post-op: measured up to 17 % on [2048, 256]·[256, 1024]).
    func multiply(_ c: UnsafeMutablePointer<Float>, _ a: BF16Operand, transposeA: Bool, _ b: BF16Operand, transposeB: Bool,
                  m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        multiply(BF16Output(UnsafeMutableRawPointer(c), bfloat16: false, relu: relu), a, transposeA: transposeA, b, transposeB: transposeB,
                 m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias)
    }

    /// C = op(A) · op(B) (+ bias) written rounded to bfloat16 (nearest-even, as oneDNN writes the
    /// float32 sums): a result that only products read, made without its float32 copy. With `relu`,
    /// C = max(op(A) · op(B) + bias, 0) before rounding (oneDNN's post-op: no pass over C).
    func multiply(rounded c: UnsafeMutablePointer<UInt16>, _ a: BF16Operand, _ b: BF16Operand, transposeB: Bool,
                  m: Int, n: Int, k: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        multiply(BF16Output(UnsafeMutableRawPointer(c), bfloat16: true, relu: relu), a, transposeA: false, b, transposeB: transposeB,
                 m: m, n: n, k: k, alpha: 1, beta: 0, bias: bias)
    }

    /// The largest bfloat16 copy of A (4 Mi values, 8 MB).
    static let blockElements = 1 << 22

    private func multiply(_ c: BF16Output, _ a: BF16Operand, transposeA: Bool, _ b: BF16Operand, transposeB: Bool,
                          m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>?) {
        if m == 0 || n == 0 { return }
        require(bias == nil || !transposeA, "BF16Products: a bias with a transposed A")
        require(!Threads.inParallelRegion, "BF16Products: called inside a parallel region")
        // A float32 A's bfloat16 copy is kept to `blockElements` by taking A in blocks — rows of
        // op(A), or (A transposed: the weight gradient's activations) slices of the inner
        // dimension summed into C — so bf16 adds little to the peak memory (the output layer's
        // gradient [tokens, vocabulary] alone would be 65 MB in one piece).
        guard case .float32(let af, let lda) = a, m * k > BF16Products.blockElements else {
            multiplyBlock(c, a, transposeA: transposeA, b, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias)
            return
        }
        if !transposeA {
            let rows = max(16, BF16Products.blockElements / k)
            for start in stride(from: 0, to: m, by: rows) {
                multiplyBlock(c + start * n, .float32(af + start * lda, ld: lda), transposeA: false, b, transposeB: transposeB,
                              m: min(rows, m - start), n: n, k: k, alpha: alpha, beta: beta, bias: bias)
            }
        } else {
            let slice = max(16, BF16Products.blockElements / m)
            for start in stride(from: 0, to: k, by: slice) {
                // Rows start… of B (columns start… when B is transposed).
                multiplyBlock(c, .float32(af + start * lda, ld: lda), transposeA: true, b.advanced(transposeB ? start : start * b.ld(columns: n)),
                              transposeB: transposeB, m: m, n: n, k: min(slice, k - start), alpha: alpha, beta: start == 0 ? beta : 1)
            }
        }
    }

    private func multiplyBlock(_ c: BF16Output, _ a: BF16Operand, transposeA: Bool, _ b: BF16Operand, transposeB: Bool,
                               m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>? = nil) {
        // Dense bfloat16 copies of A and B, each in its own layout, unless the caller rounded them.
        let a16 = dense(a, rows: transposeA ? k : m, columns: transposeA ? m : k, scratch: scratchA)
        if backend == .reference {
            let b16 = dense(b, rows: transposeB ? n : k, columns: transposeB ? k : n, scratch: scratchB)
            timed { referenceProduct(c, a16, transposeA: transposeA, b16, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias) }
            return
        }

        // One block per worker, each a oneDNN product on that worker alone: oneDNN's own OpenMP
        // team would keep spinning on the cores after every product, slowing the nmt kernels that
        // run next (measured: ~10 %). Blocks of op(A)'s rows (multiples of 16, as `matmul` splits
        // them), or — when op(B) is the larger input (n > m: the output projection, weight
        // gradients of the wider layers) — blocks of op(B)'s columns (multiples of 64, oneDNN's
        // tile width), so that each worker packs only its share of B instead of all of it.
        // Each element of C is one worker's, so results do not depend on timing; oneDNN may block
        // a narrower product's inner dimension differently, so they can depend on the thread count
        // (in the last bits: bf16 losses moved by ≤ 1e-5 relative when this split came in).
        let byColumns = n > m && n >= 128 * Threads.count
        // A weight (B read from the rounded parameters, whole: not in the workers' column blocks)
        // is packed once per update into the layout oneDNN's kernel reads; given plain rows,
        // oneDNN packs B inside every product, again for each block of A's rows (measured: 5 % of
        // a base step's product time).
        var packedSource: UnsafePointer<UInt16>? = nil
        if !byColumns || Threads.count == 1 {
            switch b {
            case .float32(let p, let ld): if ld == (transposeB ? k : n) { packedSource = weights.rounded(at: p, count: k * n) }
            case .bfloat16(let p): if weights.holds(p, count: k * n) { packedSource = p }
            }
        }
        let extent = byColumns ? n : m, unit = byColumns ? 64 : 16
        let workers = byColumns || m >= 32 * Threads.count ? Threads.count : 1
        var blocks: [(start: Int, entry: OneDNNBF16Primitives.Entry)] = []
        func makeBlocks(packed: Bool) {
            blocks.removeAll(keepingCapacity: true)
            for w in 0..<workers {
                let start = workers == 1 ? 0 : (extent * w / workers) / unit * unit
                let end = w == workers - 1 ? extent : (extent * (w + 1) / workers) / unit * unit
                if end <= start { continue }
                let (blockM, blockN) = byColumns ? (m, end - start) : (end - start, n)
                let key = OneDNNBF16Primitives.Key(m: blockM, n: blockN, k: k, aStride: m, bStride: transposeB ? k : n, cStride: n,
                                                   transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta, bias: bias != nil,
                                                   outputBF16: c.bfloat16, relu: c.relu, packedB: packed)
                blocks.append((start, self.primitives.entry(key)))
            }
        }
        makeBlocks(packed: packedSource != nil)
        // The workers' products must read one packed layout (oneDNN could pick another for another block height).
        if packedSource != nil, !blocks.allSatisfy({ var a = $0.entry.b, b = blocks[0].entry.b; return dnnl_memory_desc_equal(&a, &b) != 0 }) {
            packedSource = nil
            makeBlocks(packed: false)
        }
        // B an activation (the weight gradient's x [tokens, in]) in a product one worker runs:
        // laid out by the pairs kernels in the layout oneDNN's kernel reads, as it is rounded — one
        // pass — where oneDNN would copy the rounded rows again inside the product, for every block
        // of A's rows. (A product split between workers reads B plain: its blocks' strided A or C
        // make oneDNN choose its gemm-based kernel, which reads B as it is.)
        var activationLayout: BF16PairsLayout? = nil
        if packedSource == nil && !transposeB && blocks.count == 1 {
            makeBlocks(packed: true)
            activationLayout = BF16PairsLayout(blocks[0].entry.b, k: k, n: n, padK: true)
            if activationLayout == nil { makeBlocks(packed: false) }
        }
        primitives.reserveWorkers(blocks.map(\.entry.scratchpadBytes))
        // Where each block starts in A, B, C and the bias.
        let bStarts: [UnsafePointer<UInt16>]
        if let packedSource {
            // Row blocks of one product share one packed layout of B (oneDNN picks it by B's shape).
            let packed = weights.packed(packedSource, transposed: transposeB, k: k, n: n, layout: blocks[0].entry.b, primitives: primitives)
            bStarts = Array(repeating: packed, count: blocks.count)
        } else if let activationLayout {
            bStarts = [activations.pack(b, k: k, n: n, layout: activationLayout)]
        } else {
            let b16 = dense(b, rows: transposeB ? n : k, columns: transposeB ? k : n, scratch: scratchB)
            bStarts = blocks.map { byColumns ? (transposeB ? b16 + $0.start * k : b16 + $0.start) : b16 }
        }
        let starts: [(a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: BF16Output, bias: UnsafePointer<Float>?)] = blocks.indices.map { i in
            let block = blocks[i]
            return byColumns ? (a16, bStarts[i], c + block.start, bias.map { $0 + block.start })
                             : (transposeA ? a16 + block.start : a16 + block.start * k, bStarts[i], c + block.start * n, bias)
        }
        let oneDNN = primitives
        let run = { (slot: Int) in
            oneDNN.execute(blocks[slot].entry, slot: slot, a: starts[slot].a, b: starts[slot].b, c: starts[slot].c.base, bias: starts[slot].bias)
        }
        timed { if blocks.count == 1 { run(0) } else { Threads.parallelFor(blocks.count, run) } }
    }

    /// Runs `product`, adding its time to `productSeconds`.
    private func timed(_ product: () -> Void) {
        let started = DispatchTime.now().uptimeNanoseconds
        product()
        productSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// The reference product: the rounded operands widened to float32 (exactly), their float32
    /// product by OpenBLAS, then the bias, the ReLU and the output's rounding as oneDNN applies them.
    private func referenceProduct(_ c: BF16Output, _ a16: UnsafePointer<UInt16>, transposeA: Bool, _ b16: UnsafePointer<UInt16>, transposeB: Bool,
                                  m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>?) {
        let a = widened.a.reserve(m * k), b = widened.b.reserve(k * n)
        widenBFloat16(a, a16, count: m * k)
        widenBFloat16(b, b16, count: k * n)
        // C in float32: C itself, or (a rounded C) a float32 copy rounded at the end.
        let out = c.bfloat16 ? widened.c.reserve(m * n) : c.base.assumingMemoryBound(to: Float.self)
        var sumBeta = beta
        if let bias {
            // C = beta · C + bias first, then the product adds to it.
            for r in 0..<m {
                let row = out + r * n
                for j in 0..<n { row[j] = (beta == 0 ? 0 : beta * row[j]) + bias[j] }
            }
            sumBeta = 1
        }
        sgemm(out, ldc: n, a, lda: transposeA ? m : k, transposeA: transposeA, b, ldb: transposeB ? k : n, transposeB: transposeB,
              m: m, n: n, k: k, alpha: alpha, beta: sumBeta)
        if c.relu { for i in 0..<(m * n) where !(out[i] > 0) { out[i] = 0 } }
        if c.bfloat16 { nmt_round_to_bfloat16(c.base.assumingMemoryBound(to: UInt16.self), out, m, n, n) }
    }

    /// Runs `body` (products of this pass) with the promise that no B it reads changes during it:
    /// a B packed by one product is then read as packed by the next with the same B — the weight
    /// gradients of attention's q, k and v projections all read x (k and v: the encoder's output
    /// for cross-attention), which is otherwise packed for each.
    func sharingActivations(_ body: () -> Void) {
        activations.sharing(body)
    }

    /// The operand as dense bfloat16 [rows, columns]: itself when rounded already, else rounded into `scratch`.
    private func dense(_ operand: BF16Operand, rows: Int, columns: Int, scratch: GrowableBuffer<UInt16>) -> UnsafePointer<UInt16> {
        switch operand {
        case .bfloat16(let p): return p
        case .float32(let p, let ld):
            if ld == columns, let rounded = weights.rounded(at: p, count: rows * columns) { return rounded }
            let copy = scratch.reserve(rows * columns)
            roundToBFloat16(copy, p, rows: rows, columns: columns, ld: ld)
            return UnsafePointer(copy)
        }
    }
}

/// out[i] = the float32 value of bfloat16 x[i] (exact: bfloat16 is float32's upper half).
func widenBFloat16(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<UInt16>, count: Int) {
    let bits = UnsafeMutableRawPointer(out).assumingMemoryBound(to: UInt32.self)
    for i in 0..<count { bits[i] = UInt32(x[i]) << 16 }
}

/// A buffer that only grows (scratch reused by every call), freed with its owner.
final class GrowableBuffer<Element> {
    private var pointer: UnsafeMutablePointer<Element>? = nil
    private var capacity = 0

    deinit { pointer?.deallocate() }

    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer?.deallocate()
            capacity = max(count, capacity * 3 / 2)
            pointer = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        }
        return pointer!
    }
}
