// OneDNNBF16Primitives: oneDNN's side of the native bf16 products — the CPU engine, one stream and
// one scratchpad per worker (the workers run the same primitives at once), and the matmul
// primitives, made once per shape and kept (BF16Products runs them). Owned by one pass's engine.

import CDNNL

final class OneDNNBF16Primitives {
    /// What a matmul primitive is made for.
    struct Key: Hashable {
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
        /// or an activation packed for this product.
        var packedB: Bool
    }

    struct Entry {
        var primitive: dnnl_primitive_t
        var a, b, c, scratchpad, bias: dnnl_memory_desc_t
        var scratchpadBytes: Int
    }

    private(set) var engine: dnnl_engine_t? = nil
    private var streams: [dnnl_stream_t?] = []
    private var scratchpads: [UnsafeMutableRawPointer?] = []
    private var scratchpadCapacity: [Int] = []
    private var cache: [Key: Entry] = [:]
    /// Reorders from plain rounded rows into a packed layout, by shape and direction.
    private struct ReorderKey: Hashable { var k, n: Int, transposed: Bool }
    private var reorders: [ReorderKey: (primitive: dnnl_primitive_t, plain: dnnl_memory_desc_t, layout: dnnl_memory_desc_t)] = [:]

    init() {
        checkDNNL(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
    }

    deinit {
        for entry in cache.values { dnnl_primitive_destroy(entry.primitive) }
        for reorder in reorders.values { dnnl_primitive_destroy(reorder.primitive) }
        for stream in streams { dnnl_stream_destroy(stream) }
        for scratchpad in scratchpads { scratchpad?.deallocate() }
        dnnl_engine_destroy(engine)
    }

    /// The primitive for `key`, made on first use.
    func entry(_ key: Key) -> Entry {
        if let entry = cache[key] { return entry }
        let entry = makeEntry(key)
        cache[key] = entry
        return entry
    }

    /// Streams and scratchpads for workers 0..<bytes.count, each with room for its block's scratchpad.
    func reserveWorkers(_ bytes: [Int]) {
        while streams.count < bytes.count {
            var stream: dnnl_stream_t? = nil
            checkDNNL(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
            streams.append(stream)
            scratchpads.append(nil)
            scratchpadCapacity.append(0)
        }
        for (slot, size) in bytes.enumerated() where size > scratchpadCapacity[slot] {
            scratchpads[slot]?.deallocate()
            scratchpads[slot] = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            scratchpadCapacity[slot] = size
        }
    }

    /// Runs `entry` on worker `slot`'s stream, on the calling thread alone.
    func execute(_ entry: Entry, slot: Int, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutableRawPointer, bias: UnsafePointer<Float>?) {
        omp_set_num_threads(1)
        let count = entry.bias.ndims == 0 ? 4 : 5
        var memories: [dnnl_memory_t?] = [nil, nil, nil, nil, nil]
        var descriptors = [entry.a, entry.b, entry.c, entry.scratchpad, entry.bias]
        let handles: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(mutating: a), UnsafeMutableRawPointer(mutating: b), c, scratchpads[slot],
                                                   bias.map { UnsafeMutableRawPointer(mutating: $0) }]
        for i in 0..<count { checkDNNL(dnnl_memory_create(&memories[i], &descriptors[i], engine, handles[i]), "memory") }
        let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memories[0]),
                         dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memories[1]),
                         dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memories[2]),
                         dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memories[3]),
                         dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memories[4])]
        checkDNNL(dnnl_primitive_execute(entry.primitive, streams[slot], Int32(count), arguments), "execute")
        checkDNNL(dnnl_stream_wait(streams[slot]), "wait")
        for memory in memories.prefix(count) { dnnl_memory_destroy(memory) }
    }

    /// Moves B [k, n] (Wᵀ over W's rounded rows [n, k] when transposed, else W itself) from plain
    /// rows at `source` into `layout` at `target`: one reorder primitive per shape and direction
    /// (remade if the layout changes).
    func reorder(_ source: UnsafePointer<UInt16>, transposed: Bool, k: Int, n: Int, layout: dnnl_memory_desc_t, into target: UnsafeMutableRawPointer) {
        var layout = layout
        let shape = ReorderKey(k: k, n: n, transposed: transposed)
        var reorder = reorders[shape]
        if var known = reorder?.layout, dnnl_memory_desc_equal(&known, &layout) == 0 {
            dnnl_primitive_destroy(reorder!.primitive)
            reorder = nil
        }
        if reorder == nil {
            var plain = dnnl_memory_desc_t()
            var dims: [Int64] = [Int64(k), Int64(n)], strides: [Int64] = transposed ? [1, Int64(k)] : [Int64(n), 1]
            checkDNNL(dnnl_memory_desc_init_by_strides(&plain, 2, &dims, dnnl_bf16, &strides), "plain weights")
            var description: dnnl_primitive_desc_t? = nil
            checkDNNL(dnnl_reorder_primitive_desc_create(&description, &plain, engine, &layout, engine, nil), "reorder descriptor")
            defer { dnnl_primitive_desc_destroy(description) }
            var primitive: dnnl_primitive_t? = nil
            checkDNNL(dnnl_primitive_create(&primitive, description), "reorder")
            reorder = (primitive!, plain, layout)
            reorders[shape] = reorder
        }
        reserveWorkers([0])
        omp_set_num_threads(1)
        var plain = reorder!.plain
        var memories: [dnnl_memory_t?] = [nil, nil]
        checkDNNL(dnnl_memory_create(&memories[0], &plain, engine, UnsafeMutableRawPointer(mutating: source)), "memory")
        checkDNNL(dnnl_memory_create(&memories[1], &layout, engine, target), "memory")
        let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: memories[0]), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: memories[1])]
        checkDNNL(dnnl_primitive_execute(reorder!.primitive, streams[0], 2, arguments), "reorder")
        checkDNNL(dnnl_stream_wait(streams[0]), "wait")
        for memory in memories { dnnl_memory_destroy(memory) }
    }

    private func makeEntry(_ key: Key) -> Entry {
        omp_set_num_threads(1)
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var aDims: [Int64] = [Int64(key.m), Int64(key.k)], bDims: [Int64] = [Int64(key.k), Int64(key.n)], cDims: [Int64] = [Int64(key.m), Int64(key.n)]
        // op(A) [m, k] over the dense copy: rows k apart, or (transposed storage [k, m]) columns m apart.
        var aStrides: [Int64] = key.transposeA ? [1, Int64(key.aStride)] : [Int64(key.k), 1]
        var bStrides: [Int64] = key.transposeB ? [1, Int64(key.bStride)] : [Int64(key.bStride), 1]
        var cStrides: [Int64] = [Int64(key.cStride), 1]
        checkDNNL(dnnl_memory_desc_init_by_strides(&a, 2, &aDims, dnnl_bf16, &aStrides), "source")
        if key.packedB {
            checkDNNL(dnnl_memory_desc_init_by_tag(&b, 2, &bDims, dnnl_bf16, dnnl_format_tag_any), "weights")
        } else {
            checkDNNL(dnnl_memory_desc_init_by_strides(&b, 2, &bDims, dnnl_bf16, &bStrides), "weights")
        }
        checkDNNL(dnnl_memory_desc_init_by_strides(&c, 2, &cDims, key.outputBF16 ? dnnl_bf16 : dnnl_f32, &cStrides), "destination")
        var bias = dnnl_memory_desc_t()
        if key.bias {
            var biasDims: [Int64] = [1, Int64(key.n)]
            checkDNNL(dnnl_memory_desc_init_by_tag(&bias, 2, &biasDims, dnnl_f32, dnnl_ab), "bias")
        }
        var description = dnnl_matmul_desc_t()
        if key.bias {
            checkDNNL(dnnl_matmul_desc_init(&description, &a, &b, &bias, &c), "matmul")
        } else {
            checkDNNL(dnnl_matmul_desc_init(&description, &a, &b, nil, &c), "matmul")
        }
        var attributes: dnnl_primitive_attr_t? = nil
        checkDNNL(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        checkDNNL(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad")
        if key.alpha != 1 {
            var alpha = key.alpha
            checkDNNL(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "alpha")
        }
        if key.beta != 0 || key.relu {
            var postOps: dnnl_post_ops_t? = nil
            checkDNNL(dnnl_post_ops_create(&postOps), "post-ops")
            if key.beta != 0 { checkDNNL(dnnl_post_ops_append_sum(postOps, key.beta), "beta") }
            if key.relu { checkDNNL(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "relu") }
            checkDNNL(dnnl_primitive_attr_set_post_ops(attributes, postOps), "post-ops")
            dnnl_post_ops_destroy(postOps)
        }
        var primitiveDescription: dnnl_primitive_desc_t? = nil
        checkDNNL(dnnl_primitive_desc_create(&primitiveDescription, &description, attributes, engine, nil), "primitive descriptor")
        defer { dnnl_primitive_desc_destroy(primitiveDescription) }
        var primitive: dnnl_primitive_t? = nil
        checkDNNL(dnnl_primitive_create(&primitive, primitiveDescription), "primitive")
        if key.packedB { b = dnnl_primitive_desc_query_md(primitiveDescription, dnnl_query_weights_md, 0)!.pointee }
        let scratchpad = dnnl_primitive_desc_query_md(primitiveDescription, dnnl_query_scratchpad_md, 0)!.pointee
        var scratchpadCopy = scratchpad
        return Entry(primitive: primitive!, a: a, b: b, c: c, scratchpad: scratchpad, bias: bias, scratchpadBytes: max(64, dnnl_memory_desc_get_size(&scratchpadCopy)))
    }
}

func checkDNNL(_ status: dnnl_status_t, _ what: String) {
    require(status == dnnl_success, "bf16 products: oneDNN failed (\(what)) with status \(status.rawValue)")
}
