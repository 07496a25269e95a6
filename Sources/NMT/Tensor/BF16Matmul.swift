// BF16Matmul: C = alpha · op(A) · op(B) + beta · C with A and B rounded to bfloat16 and products
// summed in float32 (`nmt train --precision bf16`), through oneDNN's matmul primitive — the
// AVX512-BF16 instruction vdpbf16ps does two multiply-adds per float32 lane. bfloat16 keeps
// float32's 8-bit exponent and 8 of its 24 significand bits (Kalamkar et al. 2019), so no loss
// scaling is needed; every result is float32.
//
// Called from the thread that runs the step (never inside nmt's parallel regions); nmt's workers
// each run one block of rows on one OpenMP thread. Primitives are cached by shape and share no
// state (each worker passes its own scratchpad).

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
        var transposeA, transposeB: Bool
        var alpha, beta: Float
    }

    private struct Entry {
        var primitive: dnnl_primitive_t
        var a, b, c, scratchpad: dnnl_memory_desc_t
        var scratchpadBytes: Int
    }

    nonisolated(unsafe) private static var engine: dnnl_engine_t? = nil
    /// One stream and one scratchpad per worker: the workers run the same primitives at once.
    nonisolated(unsafe) private static var streams: [dnnl_stream_t?] = []
    nonisolated(unsafe) private static var scratchpads: [UnsafeMutableRawPointer?] = []
    nonisolated(unsafe) private static var scratchpadCapacity: [Int] = []
    nonisolated(unsafe) private static var cache: [Key: Entry] = [:]
    /// bfloat16 copies of A and B (grown as needed, reused by every call).
    nonisolated(unsafe) private static var scratchA = GrowableBuffer()
    nonisolated(unsafe) private static var scratchB = GrowableBuffer()

    /// C [m, n] (leading dimension n) = alpha · op(A) · op(B) + beta · C, where A is stored
    /// [m, k] (or [k, m] when transposed) with leading dimension lda, B likewise [k, n] / [n, k].
    public static func multiply(_ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
                                _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                                m: Int, n: Int, k: Int, alpha: Float, beta: Float) {
        if m == 0 || n == 0 { return }
        require(!Threads.inParallelRegion, "BF16Matmul: called inside a parallel region")
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        // A's bfloat16 copy is kept to `blockElements` by taking A in blocks — rows of op(A), or
        // (A transposed: the weight gradient's activations) slices of the inner dimension summed
        // into C — so bf16 adds little to the peak memory (the output layer's gradient [tokens,
        // vocabulary] alone would be 65 MB in one piece).
        if m * k <= blockElements {
            multiplyBlock(c, a, lda: lda, transposeA: transposeA, b, ldb: ldb, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta)
        } else if !transposeA {
            let rows = max(16, blockElements / k)
            for start in stride(from: 0, to: m, by: rows) {
                multiplyBlock(c + start * n, a + start * lda, lda: lda, transposeA: false, b, ldb: ldb, transposeB: transposeB,
                              m: min(rows, m - start), n: n, k: k, alpha: alpha, beta: beta)
            }
        } else {
            let slice = max(16, blockElements / m)
            for start in stride(from: 0, to: k, by: slice) {
                multiplyBlock(c, a + start * lda, lda: lda, transposeA: true, transposeB ? b + start : b + start * ldb, ldb: ldb, transposeB: transposeB,
                              m: m, n: n, k: min(slice, k - start), alpha: alpha, beta: start == 0 ? beta : 1)
            }
        }
    }

    /// The largest bfloat16 copy of A (4 Mi values, 8 MB).
    static let blockElements = 1 << 22

    private static func multiplyBlock(_ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
                                      _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                                      m: Int, n: Int, k: Int, alpha: Float, beta: Float) {
        // Dense bfloat16 copies of A and B, each in its own layout (oneDNN reads either).
        let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
        let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
        let a16 = scratchA.reserve(m * k), b16 = scratchB.reserve(n * k)
        roundToBFloat16(a16, a, rows: aRows, columns: aColumns, ld: lda)
        roundToBFloat16(b16, b, rows: bRows, columns: bColumns, ld: ldb)

        // One block of op(A)'s rows per worker (multiples of 16, as `matmul` splits them), each a
        // oneDNN product on that worker alone: oneDNN's own OpenMP team would keep spinning on the
        // cores after every product, slowing the nmt kernels that run next (measured: ~10 %).
        let workers = m >= 32 * Threads.count ? Threads.count : 1
        var blocks: [(start: Int, rows: Int, entry: Entry)] = []
        for w in 0..<workers {
            let start = workers == 1 ? 0 : (m * w / workers) / 16 * 16
            let end = w == workers - 1 ? m : (m * (w + 1) / workers) / 16 * 16
            if end <= start { continue }
            let key = Key(m: end - start, n: n, k: k, aStride: m, transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta)
            let entry = cache[key] ?? makeEntry(key)
            cache[key] = entry
            blocks.append((start, end - start, entry))
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
        let aBlocks = blocks.map { transposeA ? a16 + $0.start : a16 + $0.start * k }
        let run = { (slot: Int) in
            let block = blocks[slot]
            omp_set_num_threads(1)
            var memories: [dnnl_memory_t?] = [nil, nil, nil, nil]
            var descriptors = [block.entry.a, block.entry.b, block.entry.c, block.entry.scratchpad]
            let handles: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(aBlocks[slot]), UnsafeMutableRawPointer(b16),
                                                       UnsafeMutableRawPointer(c + block.start * n), scratchpads[slot]]
            for i in 0..<4 { check(dnnl_memory_create(&memories[i], &descriptors[i], engine, handles[i]), "memory") }
            let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memories[0]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memories[1]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memories[2]),
                             dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memories[3])]
            check(dnnl_primitive_execute(block.entry.primitive, streams[slot], 4, arguments), "execute")
            check(dnnl_stream_wait(streams[slot]), "wait")
            for memory in memories { dnnl_memory_destroy(memory) }
        }
        if blocks.count == 1 { run(0) } else { Threads.parallelFor(blocks.count, run) }
    }

    private static func makeEntry(_ key: Key) -> Entry {
        if engine == nil { check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine") }
        omp_set_num_threads(1)
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var aDims: [Int64] = [Int64(key.m), Int64(key.k)], bDims: [Int64] = [Int64(key.k), Int64(key.n)], cDims: [Int64] = [Int64(key.m), Int64(key.n)]
        // op(A) [m, k] over the dense copy: rows k apart, or (transposed storage [k, m]) columns m apart.
        var aStrides: [Int64] = key.transposeA ? [1, Int64(key.aStride)] : [Int64(key.k), 1]
        var bStrides: [Int64] = key.transposeB ? [1, Int64(key.k)] : [Int64(key.n), 1]
        var cStrides: [Int64] = [Int64(key.n), 1]
        check(dnnl_memory_desc_init_by_strides(&a, 2, &aDims, dnnl_bf16, &aStrides), "source")
        check(dnnl_memory_desc_init_by_strides(&b, 2, &bDims, dnnl_bf16, &bStrides), "weights")
        check(dnnl_memory_desc_init_by_strides(&c, 2, &cDims, dnnl_f32, &cStrides), "destination")
        var description = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&description, &a, &b, nil, &c), "matmul")
        var attributes: dnnl_primitive_attr_t? = nil
        check(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad")
        if key.alpha != 1 {
            var alpha = key.alpha
            check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "alpha")
        }
        if key.beta != 0 {
            var postOps: dnnl_post_ops_t? = nil
            check(dnnl_post_ops_create(&postOps), "post-ops")
            check(dnnl_post_ops_append_sum(postOps, key.beta), "beta")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "post-ops")
            dnnl_post_ops_destroy(postOps)
        }
        var primitiveDescription: dnnl_primitive_desc_t? = nil
        check(dnnl_primitive_desc_create(&primitiveDescription, &description, attributes, engine, nil), "primitive descriptor")
        defer { dnnl_primitive_desc_destroy(primitiveDescription) }
        var primitive: dnnl_primitive_t? = nil
        check(dnnl_primitive_create(&primitive, primitiveDescription), "primitive")
        let scratchpad = dnnl_primitive_desc_query_md(primitiveDescription, dnnl_query_scratchpad_md, 0)!.pointee
        var scratchpadCopy = scratchpad
        return Entry(primitive: primitive!, a: a, b: b, c: c, scratchpad: scratchpad, scratchpadBytes: max(64, dnnl_memory_desc_get_size(&scratchpadCopy)))
    }

    private static func check(_ status: dnnl_status_t, _ what: String) {
        require(status == dnnl_success, "BF16Matmul: oneDNN failed (\(what)) with status \(status.rawValue)")
    }
}

/// out[r·columns + j] = bfloat16(x[r·ld + j]), rounded to nearest, ties to even, rows split
/// across the cores (the conversion of a step's activations is not free: 4M values per product).
func roundToBFloat16(_ out: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) {
    Threads.parallelChunks(rows, minChunk: max(1, 16384 / max(columns, 1))) { range in
        nmt_round_to_bfloat16(out + range.lowerBound * columns, x + range.lowerBound * ld, range.count, columns, ld)  // Kernels/bfloat16_rows.c
    }
}

/// A buffer of UInt16 that only grows.
struct GrowableBuffer {
    private var pointer: UnsafeMutablePointer<UInt16>? = nil
    private var capacity = 0

    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        if count > capacity {
            pointer?.deallocate()
            capacity = max(count, capacity * 3 / 2)
            pointer = UnsafeMutablePointer<UInt16>.allocate(capacity: capacity)
        }
        return pointer!
    }
}
