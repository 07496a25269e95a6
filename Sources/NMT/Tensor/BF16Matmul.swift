// BF16Matmul: C = alpha · op(A) · op(B) + beta · C with A and B rounded to bfloat16 and products
// summed in float32 (`nmt train --precision bf16`), through oneDNN's matmul primitive — the
// AVX512-BF16 instruction vdpbf16ps does two multiply-adds per float32 lane. bfloat16 keeps
// float32's 8-bit exponent and 8 of its 24 significand bits (Kalamkar et al. 2019), so no loss
// scaling is needed; every result is float32.
//
// Called from the thread that runs the step (never inside nmt's parallel regions); nmt's workers
// each run one block of rows on one OpenMP thread. Primitives are cached by shape and share no
// state (each worker passes its own scratchpad). A training step rounds the parameters once
// (`roundParameters`); a weight read from them is packed once per update into the layout
// oneDNN's kernel asks for (its "any" weights format: row pairs in blocks, laid out by nmt's
// pairs kernels), which oneDNN would otherwise do inside every product for every block of rows;
// a weight gradient's activations (B of dW = dyᵀ·x) are laid out the same way as they are read.

import CDNNL
import CKernels
import Foundation

public enum MatrixPrecision: String, Codable, Sendable, CaseIterable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

public enum BF16Matmul {
    /// While true on this thread, `matmul` runs its products in bfloat16; the training step sets it
    /// around its forward and backward passes only (per thread: a translation or a test running
    /// on another thread meanwhile stays float32).
    public static var active: Bool {
        get { pthread_getspecific(activeKey) != nil }
        set { pthread_setspecific(activeKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
    private static let activeKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    /// True where `matmul` goes to bf16: a bf16 pass on this thread, outside nmt's parallel regions.
    public static var inPass: Bool { active && !Threads.inParallelRegion }

    /// A bfloat16 copy of the model's parameters for the pass running on one thread: a pass reads
    /// each weight matrix in several products (the forward product, the backward's input
    /// gradient), and each rounded its own copy of it; `roundParameters` rounds them all once per
    /// update instead (the same rounding, so the same bits), and products then read each weight
    /// packed once per update in oneDNN's own layout (`packedWeight`).
    private struct RoundedParameters {
        var thread: pthread_t
        var source: UnsafePointer<Float>
        var count: Int
        var values: UnsafePointer<UInt16>
    }
    nonisolated(unsafe) private static var roundedParameters: RoundedParameters? = nil
    /// Counts `roundParameters` calls: packed weights of an earlier count are stale.
    nonisolated(unsafe) private static var parameterGeneration = 0
    nonisolated(unsafe) private static var roundedParameterValues = GrowableBuffer<UInt16>()

    /// Rounds `parameters` (unchanged until `releaseParameters`) for this thread's bf16 pass: its
    /// products read a float32 operand that lies in them from the copy. One pass at a time holds
    /// the copy; another thread's pass meanwhile rounds per product, as without it.
    public static func roundParameters(_ parameters: UnsafeBufferPointer<Float>) {
        guard let source = parameters.baseAddress, !parameters.isEmpty else { return }
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard roundedParameters == nil else { return }
        let count = parameters.count, rows = count / 1024
        let copy = roundedParameterValues.reserve(count)
        roundToBFloat16(copy, source, rows: rows, columns: 1024, ld: 1024)
        if count > rows * 1024 {
            roundToBFloat16(copy + rows * 1024, source + rows * 1024, rows: 1, columns: count - rows * 1024, ld: count - rows * 1024)
        }
        roundedParameters = RoundedParameters(thread: pthread_self(), source: source, count: count, values: copy)
        parameterGeneration += 1
    }

    /// Ends what `roundParameters` started on this thread (before the parameters change).
    public static func releaseParameters() {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let r = roundedParameters, pthread_equal(r.thread, pthread_self()) != 0 { roundedParameters = nil }
    }

    /// The rounded copy of rows × columns float32 values at `p` (rows `columns` apart) where this
    /// thread's rounded parameters hold them. Called under `lock`.
    private static func roundedParameters(at p: UnsafePointer<Float>, count: Int) -> UnsafePointer<UInt16>? {
        guard let r = roundedParameters, pthread_equal(r.thread, pthread_self()) != 0,
              p >= r.source, p + count <= r.source + r.count else { return nil }
        return r.values + (p - r.source)
    }

    /// `t` rounded, from this thread's rounded parameters if `t` is one of them (else nil).
    static func roundedParameter(_ t: Tensor) -> BF16Matrix? {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return roundedParameters(at: t.pointer, count: t.count).map { BF16Matrix(UnsafeMutablePointer(mutating: $0), rows: t.rows, columns: t.columns) }
    }

    /// Seconds spent inside oneDNN's products since the process started (not the rounding into
    /// scratch copies): what a benchmark compares with the whole step's time.
    nonisolated(unsafe) public private(set) static var productSeconds = 0.0

    /// One product at a time: the scratch copies, the cache and oneDNN's stream are shared.
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    private static let lockReady: Bool = { pthread_mutex_init(&lock, nil); return true }()

    /// Whether this CPU has AVX512-BF16 (oneDNN's avx512_core_bf16 or better), the instructions
    /// that make bfloat16 products faster than float32 ones.
    public static var isNative: Bool { nmt_dnnl_has_bf16() != 0 }

    /// What runs the products, for logs.
    public static var kernelName: String {
        let v = dnnl_version()!.pointee
        return "oneDNN \(v.major).\(v.minor) matmul, bf16 × bf16 → f32 (\(isNative ? "AVX512-BF16" : "no native bf16"))"
    }

    private struct Key: Hashable {
        var m, n, k: Int
        /// Elements between consecutive columns of op(A) when A is transposed (the copy's full m).
        var aStride: Int
        /// Elements between rows of B's storage [k, n] (its full n; k when transposed: [n, k]),
        /// and between rows of C (its full n).
        var bStride, cStride: Int
        var transposeA, transposeB: Bool
        var alpha, beta: Float
        /// A bias row [n] added to every row of C (oneDNN's bias argument).
        var bias: Bool
        /// C in bfloat16 (oneDNN rounds the float32 sums as it writes them).
        var outputBF16: Bool
        /// C = max(C, 0) before it is written (oneDNN's ReLU post-op).
        var relu: Bool
        /// B in the layout oneDNN's kernel picks (format `any`): a weight packed once per update
        /// (`packedWeight`) or an activation packed for this product (`packActivation`).
        var packedB: Bool
    }

    private struct Entry {
        var primitive: dnnl_primitive_t
        var a, b, c, scratchpad, bias: dnnl_memory_desc_t
        var scratchpadBytes: Int
    }

    nonisolated(unsafe) private static var engine: dnnl_engine_t? = nil
    /// One stream and one scratchpad per worker: the workers run the same primitives at once.
    nonisolated(unsafe) private static var streams: [dnnl_stream_t?] = []
    nonisolated(unsafe) private static var scratchpads: [UnsafeMutableRawPointer?] = []
    nonisolated(unsafe) private static var scratchpadCapacity: [Int] = []
    nonisolated(unsafe) private static var cache: [Key: Entry] = [:]
    /// bfloat16 copies of A and B (grown as needed, reused by every call).
    nonisolated(unsafe) private static var scratchA = GrowableBuffer<UInt16>()
    nonisolated(unsafe) private static var scratchB = GrowableBuffer<UInt16>()

    /// C [m, n] (leading dimension n) = alpha · op(A) · op(B) + beta · C, where A is stored
    /// [m, k] (or [k, m] when transposed) with leading dimension lda, B likewise [k, n] / [n, k].
    public static func multiply(_ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
                                _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                                m: Int, n: Int, k: Int, alpha: Float, beta: Float) {
        multiply(c, .float32(a, ld: lda), transposeA: transposeA, .float32(b, ld: ldb), transposeB: transposeB,
                 m: m, n: n, k: k, alpha: alpha, beta: beta)
    }

    /// The same product with either operand already rounded (a `BF16Matrix` read by several
    /// products is rounded once, by its maker, instead of once per product).
    /// With a `bias` [n] (op(A) not transposed), C = alpha · op(A) · op(B) + bias + beta · C: the
    /// bias is added to the float32 sums as oneDNN writes them, which costs nothing, where copying
    /// it into C first and adding with beta = 1 costs a pass over C and slows oneDNN's kernels
    /// (the sum post-op: measured up to 17 % on [2048, 256]·[256, 1024]).
    public static func multiply(_ c: UnsafeMutablePointer<Float>, _ a: Operand, transposeA: Bool, _ b: Operand, transposeB: Bool,
                                m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>? = nil) {
        multiply(Output(UnsafeMutableRawPointer(c), bfloat16: false), a, transposeA: transposeA, b, transposeB: transposeB,
                 m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias)
    }

    /// C = op(A) · op(B) (+ bias) written rounded to bfloat16 (nearest-even, as oneDNN writes the
    /// float32 sums): a result that only products read, made without its float32 copy. With `relu`,
    /// C = max(op(A) · op(B) + bias, 0) before rounding (oneDNN's post-op: no pass over C).
    public static func multiply(rounded c: UnsafeMutablePointer<UInt16>, _ a: Operand, _ b: Operand, transposeB: Bool,
                                m: Int, n: Int, k: Int, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        multiply(Output(UnsafeMutableRawPointer(c), bfloat16: true, relu: relu), a, transposeA: false, b, transposeB: transposeB,
                 m: m, n: n, k: k, alpha: 1, beta: 0, bias: bias)
    }

    /// Where a product writes: float32 or bfloat16 elements (after a ReLU, if `relu`).
    private struct Output {
        var base: UnsafeMutableRawPointer
        var bfloat16: Bool
        var relu = false
        init(_ base: UnsafeMutableRawPointer, bfloat16: Bool, relu: Bool = false) { (self.base, self.bfloat16, self.relu) = (base, bfloat16, relu) }
        /// Element `offset` on.
        static func + (o: Output, offset: Int) -> Output { Output(o.base + offset * (o.bfloat16 ? 2 : 4), bfloat16: o.bfloat16, relu: o.relu) }
    }

    private static func multiply(_ c: Output, _ a: Operand, transposeA: Bool, _ b: Operand, transposeB: Bool,
                                 m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>?) {
        if m == 0 || n == 0 { return }
        require(bias == nil || !transposeA, "BF16Matmul: a bias with a transposed A")
        require(!Threads.inParallelRegion, "BF16Matmul: called inside a parallel region")
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        // A float32 A's bfloat16 copy is kept to `blockElements` by taking A in blocks — rows of
        // op(A), or (A transposed: the weight gradient's activations) slices of the inner
        // dimension summed into C — so bf16 adds little to the peak memory (the output layer's
        // gradient [tokens, vocabulary] alone would be 65 MB in one piece).
        guard case .float32(let af, let lda) = a, m * k > blockElements else {
            multiplyBlock(c, a, transposeA: transposeA, b, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias)
            return
        }
        if !transposeA {
            let rows = max(16, blockElements / k)
            for start in stride(from: 0, to: m, by: rows) {
                multiplyBlock(c + start * n, .float32(af + start * lda, ld: lda), transposeA: false, b, transposeB: transposeB,
                              m: min(rows, m - start), n: n, k: k, alpha: alpha, beta: beta, bias: bias)
            }
        } else {
            let slice = max(16, blockElements / m)
            for start in stride(from: 0, to: k, by: slice) {
                // Rows start… of B (columns start… when B is transposed).
                multiplyBlock(c, .float32(af + start * lda, ld: lda), transposeA: true, b.advanced(transposeB ? start : start * b.ld(columns: n)),
                              transposeB: transposeB, m: m, n: n, k: min(slice, k - start), alpha: alpha, beta: start == 0 ? beta : 1)
            }
        }
    }

    /// A product's input: float32 values the product rounds into its scratch copy, or values a
    /// caller rounded already (dense: leading dimension = its columns).
    public enum Operand {
        case float32(UnsafePointer<Float>, ld: Int)
        case bfloat16(UnsafePointer<UInt16>)

        /// The operand from element `offset` on (same leading dimension).
        func advanced(_ offset: Int) -> Operand {
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

    /// The largest bfloat16 copy of A (4 Mi values, 8 MB).
    static let blockElements = 1 << 22

    private static func multiplyBlock(_ c: Output, _ a: Operand, transposeA: Bool, _ b: Operand, transposeB: Bool,
                                      m: Int, n: Int, k: Int, alpha: Float, beta: Float, bias: UnsafePointer<Float>? = nil) {
        // Dense bfloat16 copies of A and B, each in its own layout (oneDNN reads either), unless
        // the caller rounded them.
        let a16 = dense(a, rows: transposeA ? k : m, columns: transposeA ? m : k, scratch: &scratchA)

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
        if !byColumns || Threads.count == 1, let r = roundedParameters, pthread_equal(r.thread, pthread_self()) != 0 {
            switch b {
            case .float32(let p, let ld): if ld == (transposeB ? k : n) { packedSource = roundedParameters(at: p, count: k * n) }
            case .bfloat16(let p): if p >= r.values && p + k * n <= r.values + r.count { packedSource = p }  // the tied output projection
            }
        }
        let extent = byColumns ? n : m, unit = byColumns ? 64 : 16
        let workers = byColumns || m >= 32 * Threads.count ? Threads.count : 1
        var blocks: [(start: Int, entry: Entry)] = []
        func makeBlocks(packed: Bool) {
            blocks.removeAll(keepingCapacity: true)
            for w in 0..<workers {
                let start = workers == 1 ? 0 : (extent * w / workers) / unit * unit
                let end = w == workers - 1 ? extent : (extent * (w + 1) / workers) / unit * unit
                if end <= start { continue }
                let (blockM, blockN) = byColumns ? (m, end - start) : (end - start, n)
                let key = Key(m: blockM, n: blockN, k: k, aStride: m, bStride: transposeB ? k : n, cStride: n, transposeA: transposeA,
                              transposeB: transposeB, alpha: alpha, beta: beta, bias: bias != nil, outputBF16: c.bfloat16, relu: c.relu, packedB: packed)
                let entry = cache[key] ?? makeEntry(key)
                cache[key] = entry
                blocks.append((start, entry))
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
        var activationLayout: PairsLayout? = nil
        if packedSource == nil && !transposeB && blocks.count == 1 {
            makeBlocks(packed: true)
            activationLayout = PairsLayout(blocks[0].entry.b, k: k, n: n, padK: true)
            if activationLayout == nil { makeBlocks(packed: false) }
        }
        while streams.count < blocks.count {
            var stream: dnnl_stream_t? = nil
            check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
            streams.append(stream)
            scratchpads.append(nil)
            scratchpadCapacity.append(0)
        }
        for (slot, block) in blocks.enumerated() where block.entry.scratchpadBytes > scratchpadCapacity[slot] {
            scratchpads[slot]?.deallocate()
            scratchpads[slot] = UnsafeMutableRawPointer.allocate(byteCount: block.entry.scratchpadBytes, alignment: 64)
            scratchpadCapacity[slot] = block.entry.scratchpadBytes
        }
        // Where each block starts in A, B, C and the bias.
        let bStarts: [UnsafePointer<UInt16>]
        if let packedSource {
            // Row blocks of one product share one packed layout of B (oneDNN picks it by B's shape).
            bStarts = Array(repeating: packedWeight(packedSource, transposed: transposeB, k: k, n: n, layout: blocks[0].entry.b), count: blocks.count)
        } else if let activationLayout {
            bStarts = [packActivation(b, k: k, n: n, layout: activationLayout)]
        } else {
            let b16 = dense(b, rows: transposeB ? n : k, columns: transposeB ? k : n, scratch: &scratchB)
            bStarts = blocks.map { byColumns ? (transposeB ? b16 + $0.start * k : b16 + $0.start) : b16 }
        }
        let starts: [(a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: Output, bias: UnsafePointer<Float>?)] = blocks.indices.map { i in
            let block = blocks[i]
            return byColumns ? (a16, bStarts[i], c + block.start, bias.map { $0 + block.start })
                             : (transposeA ? a16 + block.start : a16 + block.start * k, bStarts[i], c + block.start * n, bias)
        }
        let run = { (slot: Int) in
            let block = blocks[slot]
            omp_set_num_threads(1)
            let count = block.entry.bias.ndims == 0 ? 4 : 5
            var memories: [dnnl_memory_t?] = [nil, nil, nil, nil, nil]
            var descriptors = [block.entry.a, block.entry.b, block.entry.c, block.entry.scratchpad, block.entry.bias]
            let handles: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(mutating: starts[slot].a), UnsafeMutableRawPointer(mutating: starts[slot].b),
                                                       starts[slot].c.base, scratchpads[slot],
                                                       starts[slot].bias.map { UnsafeMutableRawPointer(mutating: $0) }]
            for i in 0..<count { check(dnnl_memory_create(&memories[i], &descriptors[i], engine, handles[i]), "memory") }
            let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memories[0]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memories[1]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memories[2]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memories[3]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memories[4])]
            check(dnnl_primitive_execute(block.entry.primitive, streams[slot], Int32(count), arguments), "execute")
            check(dnnl_stream_wait(streams[slot]), "wait")
            for memory in memories.prefix(count) { dnnl_memory_destroy(memory) }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        if blocks.count == 1 { run(0) } else { Threads.parallelFor(blocks.count, run) }
        productSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// oneDNN's brgemm layout of B [k, n] (`nmt_dnnl_pairs_layout`): blocks of x rows by y
    /// columns of row pairs, kStride and nStride elements apart; `elements` in all (k padded).
    private struct PairsLayout: Equatable {
        var x, y, kStride, nStride, elements: Int
        init?(_ descriptor: dnnl_memory_desc_t, k: Int, n: Int, padK: Bool) {
            var layout = descriptor
            var x: Int64 = 0, y: Int64 = 0, kStride: Int64 = 0, nStride: Int64 = 0
            guard nmt_dnnl_pairs_layout(&layout, Int64(k), Int64(n), padK ? 1 : 0, &x, &y, &kStride, &nStride) != 0 else { return nil }
            (self.x, self.y, self.kStride, self.nStride) = (Int(x), Int(y), Int(kStride), Int(nStride))
            elements = dnnl_memory_desc_get_size(&layout) / 2
        }
    }

    /// What the packed activations hold: B's values (where they lie) and layout.
    private struct PackedActivation: Equatable {
        var source: UnsafeRawPointer
        var float32: Bool
        var ld, k, n: Int
        var layout: PairsLayout
    }
    nonisolated(unsafe) private static var sharedActivations: (thread: pthread_t, last: PackedActivation?)? = nil

    /// Runs `body` (products on this thread) with the promise that no B it reads changes during
    /// it: a B packed by one product is then read as packed by the next with the same B — the
    /// weight gradients of attention's q, k and v projections all read x (k and v: the encoder's
    /// output for cross-attention), which is otherwise packed for each.
    public static func sharingActivations(_ body: () -> Void) {
        _ = lockReady
        pthread_mutex_lock(&lock)
        let outermost = sharedActivations == nil
        if outermost { sharedActivations = (pthread_self(), nil) }
        pthread_mutex_unlock(&lock)
        body()
        pthread_mutex_lock(&lock)
        if outermost { sharedActivations = nil }
        pthread_mutex_unlock(&lock)
    }

    /// Activations packed by each thread's products (what tests see of the path a product took).
    nonisolated(unsafe) private static var packings: [UInt: Int] = [:]
    static var activationsPackedOnThisThread: Int {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return packings[UInt(pthread_self())] ?? 0
    }

    /// Packed activations (grown as needed, reused by every product).
    nonisolated(unsafe) private static var packedActivations = GrowableBuffer<UInt16>()

    /// B [k, n] rounded and laid out in `layout`; the rows padding the last row block are zero.
    private static func packActivation(_ b: Operand, k: Int, n: Int, layout: PairsLayout) -> UnsafePointer<UInt16> {
        let packing = PackedActivation(source: b.address, float32: b.isFloat32, ld: b.ld(columns: n), k: k, n: n, layout: layout)
        if let shared = sharedActivations {
            if pthread_equal(shared.thread, pthread_self()) != 0 {
                if shared.last == packing { return UnsafePointer(packedActivations.reserve(layout.elements)) }
                sharedActivations!.last = packing
            } else {
                sharedActivations!.last = nil  // another thread's product overwrites what the sharing one packed
            }
        }
        packings[UInt(pthread_self()), default: 0] += 1
        let words = packedActivations.reserve(layout.elements)
        let out = UnsafeMutableRawPointer(words).assumingMemoryBound(to: UInt32.self)
        // Workers take blocks of rows: x is read in order, whole rows at a time.
        Threads.parallelChunks((k + layout.x - 1) / layout.x, minChunk: 1) { rowBlocks in
            switch b {
            case .float32(let p, let ld):
                nmt_bf16_pack_pair_blocks(out, nil, p, k, n, ld, layout.x, layout.y, layout.kStride / 2, layout.nStride / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
            case .bfloat16(let p):
                nmt_bf16_pack_pair_blocks(out, p, nil, k, n, n, layout.x, layout.y, layout.kStride / 2, layout.nStride / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
            }
        }
        return UnsafePointer(words)
    }

    /// A weight's packed copy, by where its rounded rows lie and which way it is read.
    private struct PackedSlot: Hashable {
        var source: UnsafePointer<UInt16>
        var transposed: Bool
    }
    private struct Packed {
        var values: UnsafeMutableRawPointer
        var bytes: Int
        var layout: dnnl_memory_desc_t
        var generation: Int
    }
    nonisolated(unsafe) private static var packed: [PackedSlot: Packed] = [:]
    /// Reorders from plain rounded rows into a packed layout, by shape and layout.
    private struct PackerKey: Hashable { var k, n: Int, transposed: Bool }
    nonisolated(unsafe) private static var packers: [PackerKey: (primitive: dnnl_primitive_t, plain: dnnl_memory_desc_t, layout: dnnl_memory_desc_t)] = [:]

    /// B [k, n] (Wᵀ over W's rounded rows [n, k] when transposed, else W [k, n] itself) in
    /// `layout`, packed this update: the same bfloat16 values, moved — by the pairs kernels when
    /// the layout is brgemm's row-pair blocks, else by oneDNN's reorder. Called under `lock`.
    private static func packedWeight(_ source: UnsafePointer<UInt16>, transposed: Bool, k: Int, n: Int,
                                     layout: dnnl_memory_desc_t) -> UnsafePointer<UInt16> {
        var layout = layout
        let slot = PackedSlot(source: source, transposed: transposed)
        var entry = packed[slot]
        if let e = entry, e.generation == parameterGeneration, var seen = Optional(e.layout), dnnl_memory_desc_equal(&seen, &layout) != 0 {
            return UnsafePointer(e.values.assumingMemoryBound(to: UInt16.self))
        }
        let bytes = dnnl_memory_desc_get_size(&layout)
        if entry == nil || entry!.bytes < bytes {
            entry?.values.deallocate()
            entry = Packed(values: UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes: bytes, layout: layout, generation: 0)
        }
        defer {
            entry!.layout = layout
            entry!.generation = parameterGeneration
            packed[slot] = entry
        }
        if let pairs = PairsLayout(layout, k: k, n: n, padK: false) {
            // The layout brgemm reads (blocks of X rows by Y columns of B, row pairs in 32-bit
            // words): laid out block by block by the pairs kernels (Kernels/bfloat16_pairs.c),
            // about three times faster here than oneDNN's generic reorder.
            let (bx, by, ks, ns) = (pairs.x, pairs.y, pairs.kStride, pairs.nStride)
            let target = entry!.values.assumingMemoryBound(to: UInt32.self)
            if transposed {  // W's rows [n, k]: B(r, j) = W[j, r]
                Threads.parallelChunks(n / by, minChunk: 1) { columnBlocks in
                    for nb in columnBlocks {
                        for kb in 0..<(k / bx) {
                            nmt_bf16_words_transposed(target + (kb * ks + nb * ns) / 2, source + nb * by * k + kb * bx, by, bx, k)
                        }
                    }
                }
            } else {         // W's rows [k, n] are B's
                Threads.parallelChunks(k / bx, minChunk: 1) { rowBlocks in
                    nmt_bf16_pack_pair_blocks(target, source, nil, k, n, n, bx, by, ks / 2, ns / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
                }
            }
            return UnsafePointer(entry!.values.assumingMemoryBound(to: UInt16.self))
        }
        // Any other layout: one oneDNN reorder primitive per shape and direction (rebuilt if the layout changes).
        let shape = PackerKey(k: k, n: n, transposed: transposed)
        var packer = packers[shape]
        if var known = packer?.layout, dnnl_memory_desc_equal(&known, &layout) == 0 { packer = nil }
        if packer == nil {
            var plain = dnnl_memory_desc_t()
            var dims: [Int64] = [Int64(k), Int64(n)], strides: [Int64] = transposed ? [1, Int64(k)] : [Int64(n), 1]
            check(dnnl_memory_desc_init_by_strides(&plain, 2, &dims, dnnl_bf16, &strides), "plain weights")
            var description: dnnl_primitive_desc_t? = nil
            check(dnnl_reorder_primitive_desc_create(&description, &plain, engine, &layout, engine, nil), "reorder descriptor")
            defer { dnnl_primitive_desc_destroy(description) }
            var primitive: dnnl_primitive_t? = nil
            check(dnnl_primitive_create(&primitive, description), "reorder")
            packer = (primitive!, plain, layout)
            packers[shape] = packer
        }
        omp_set_num_threads(1)
        var plain = packer!.plain
        var memories: [dnnl_memory_t?] = [nil, nil]
        check(dnnl_memory_create(&memories[0], &plain, engine, UnsafeMutableRawPointer(mutating: source)), "memory")
        check(dnnl_memory_create(&memories[1], &layout, engine, entry!.values), "memory")
        let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: memories[0]), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: memories[1])]
        check(dnnl_primitive_execute(packer!.primitive, streams[0], 2, arguments), "reorder")
        check(dnnl_stream_wait(streams[0]), "wait")
        for memory in memories { dnnl_memory_destroy(memory) }
        return UnsafePointer(entry!.values.assumingMemoryBound(to: UInt16.self))
    }

    /// The operand as dense bfloat16 [rows, columns]: itself when rounded already, else rounded into `scratch`.
    private static func dense(_ operand: Operand, rows: Int, columns: Int, scratch: inout GrowableBuffer<UInt16>) -> UnsafePointer<UInt16> {
        switch operand {
        case .bfloat16(let p): return p
        case .float32(let p, let ld):
            if ld == columns, let rounded = roundedParameters(at: p, count: rows * columns) { return rounded }
            let copy = scratch.reserve(rows * columns)
            roundToBFloat16(copy, p, rows: rows, columns: columns, ld: ld)
            return UnsafePointer(copy)
        }
    }

    private static func makeEntry(_ key: Key) -> Entry {
        if engine == nil { check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine") }
        omp_set_num_threads(1)
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var aDims: [Int64] = [Int64(key.m), Int64(key.k)], bDims: [Int64] = [Int64(key.k), Int64(key.n)], cDims: [Int64] = [Int64(key.m), Int64(key.n)]
        // op(A) [m, k] over the dense copy: rows k apart, or (transposed storage [k, m]) columns m apart.
        var aStrides: [Int64] = key.transposeA ? [1, Int64(key.aStride)] : [Int64(key.k), 1]
        var bStrides: [Int64] = key.transposeB ? [1, Int64(key.bStride)] : [Int64(key.bStride), 1]
        var cStrides: [Int64] = [Int64(key.cStride), 1]
        check(dnnl_memory_desc_init_by_strides(&a, 2, &aDims, dnnl_bf16, &aStrides), "source")
        if key.packedB {
            check(dnnl_memory_desc_init_by_tag(&b, 2, &bDims, dnnl_bf16, dnnl_format_tag_any), "weights")
        } else {
            check(dnnl_memory_desc_init_by_strides(&b, 2, &bDims, dnnl_bf16, &bStrides), "weights")
        }
        check(dnnl_memory_desc_init_by_strides(&c, 2, &cDims, key.outputBF16 ? dnnl_bf16 : dnnl_f32, &cStrides), "destination")
        var bias = dnnl_memory_desc_t()
        if key.bias {
            var biasDims: [Int64] = [1, Int64(key.n)]
            check(dnnl_memory_desc_init_by_tag(&bias, 2, &biasDims, dnnl_f32, dnnl_ab), "bias")
        }
        var description = dnnl_matmul_desc_t()
        if key.bias {
            check(dnnl_matmul_desc_init(&description, &a, &b, &bias, &c), "matmul")
        } else {
            check(dnnl_matmul_desc_init(&description, &a, &b, nil, &c), "matmul")
        }
        var attributes: dnnl_primitive_attr_t? = nil
        check(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad")
        if key.alpha != 1 {
            var alpha = key.alpha
            check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "alpha")
        }
        if key.beta != 0 || key.relu {
            var postOps: dnnl_post_ops_t? = nil
            check(dnnl_post_ops_create(&postOps), "post-ops")
            if key.beta != 0 { check(dnnl_post_ops_append_sum(postOps, key.beta), "beta") }
            if key.relu { check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "relu") }
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "post-ops")
            dnnl_post_ops_destroy(postOps)
        }
        var primitiveDescription: dnnl_primitive_desc_t? = nil
        check(dnnl_primitive_desc_create(&primitiveDescription, &description, attributes, engine, nil), "primitive descriptor")
        defer { dnnl_primitive_desc_destroy(primitiveDescription) }
        var primitive: dnnl_primitive_t? = nil
        check(dnnl_primitive_create(&primitive, primitiveDescription), "primitive")
        if key.packedB { b = dnnl_primitive_desc_query_md(primitiveDescription, dnnl_query_weights_md, 0)!.pointee }
        let scratchpad = dnnl_primitive_desc_query_md(primitiveDescription, dnnl_query_scratchpad_md, 0)!.pointee
        var scratchpadCopy = scratchpad
        return Entry(primitive: primitive!, a: a, b: b, c: c, scratchpad: scratchpad, bias: bias, scratchpadBytes: max(64, dnnl_memory_desc_get_size(&scratchpadCopy)))
    }

    private static func check(_ status: dnnl_status_t, _ what: String) {
        require(status == dnnl_success, "BF16Matmul: oneDNN failed (\(what)) with status \(status.rawValue)")
    }
}

/// A buffer that only grows (scratch reused by every call).
struct GrowableBuffer<Element> {
    private var pointer: UnsafeMutablePointer<Element>? = nil
    private var capacity = 0

    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer?.deallocate()
            capacity = max(count, capacity * 3 / 2)
            pointer = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        }
        return pointer!
    }
}
