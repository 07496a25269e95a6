// Multi-head scaled dot-product attention (Vaswani et al. 2017, §3.2), forward and backward.
//
// Layouts: queries [B·Tq, C] and keys/values [B·Tk, C], seen per head as [B, T, H, D] (C = H·D);
// scores and probabilities [B, H, Tq, Tk].
//   q = x_q·Wqᵀ + bq,  k = x_kv·Wkᵀ + bk,  v = x_kv·Wvᵀ + bv
//   S_bh = q_bh·k_bhᵀ / √D,  P = softmax(S, masked),  P' = dropout(P)
//   ctx_bh = P'_bh·v_bh,  out = ctx·Woᵀ + bo
// Backward (per head):  dP' = dctx·vᵀ,  dv = P'ᵀ·dctx,  dP = dP'·mask (+ a loss's own ∂/∂P),  dS = softmax′(dP),
//   dq = dS·k/√D,  dk = dSᵀ·q/√D; then the four projections.
// One forward and one backward serve training, rescoring and incremental decoding (keys and values
// from a cache) in every precision: q, k, v, ctx and their gradients are Matrices in the pass's
// product type (rounded to bfloat16 in a bf16 pass: only products read them), P and dP float32.

import CKernels

/// Keys and values of a decoding cache, one query per row. Cross-attention: key t of query row r
/// at `keys + blocks[r]·blockStride + t·rowStride` (a beam's hypotheses share their sentence's
/// block). Self-attention: key t of query row r is the row `paths[r·pathStride + t]` (a
/// hypothesis's prefix is a path of positions shared with the hypotheses it shares a prefix with;
/// see DecoderState). Values alike.
public struct KeyValues {
    var keys: UnsafeMutablePointer<Float>
    var values: UnsafeMutablePointer<Float>
    /// Tk: keys each query sees.
    var count: Int
    var blockStride: Int
    var rowStride: Int
    var blocks: UnsafePointer<Int32>?
    var paths: UnsafePointer<Int32>?
    var pathStride: Int

    /// Blocks: key t of query row r at `blocks[r]·blockStride + t·rowStride`.
    init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, count: Int, blockStride: Int, rowStride: Int,
         blocks: UnsafePointer<Int32>) {
        (self.keys, self.values, self.count, self.blockStride, self.rowStride, self.blocks) = (keys, values, count, blockStride, rowStride, blocks)
        (paths, pathStride) = (nil, 0)
    }

    /// Paths: key t of query row r at `paths[r·pathStride + t]·rowStride`.
    init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, count: Int, rowStride: Int,
         paths: UnsafePointer<Int32>, pathStride: Int) {
        (self.keys, self.values, self.count, self.rowStride, self.paths, self.pathStride) = (keys, values, count, rowStride, paths, pathStride)
        (blockStride, blocks) = (0, nil)
    }

    /// Where key (and value) t of query row r starts, from `keys` (`values`).
    func offset(row r: Int, position t: Int) -> Int {
        if let paths { return Int(paths[r * pathStride + t]) * rowStride }
        return Int(blocks![r]) * blockStride + t * rowStride
    }
}

/// A decoding cache of one attention layer, for one query per row.
public struct AttentionCache {
    /// What attention reads this step.
    var keyValues: KeyValues
    /// Self-attention: this step's keys and values (projected from the query rows) are written at
    /// this position of each row's block first. nil for cross-attention, whose keys and values were
    /// projected once per source sentence.
    var writePosition: Int?
}

/// Keys and values as attention reads them: projected from whole sequences ([B·Tk, C] each), or a
/// decoding cache.
enum AttendedKeys {
    case sequences(keys: Matrix, values: Matrix, length: Int)
    case cached(KeyValues)

    var count: Int {
        switch self {
        case .sequences(_, _, let length): return length
        case .cached(let kv): return kv.count
        }
    }
}

/// What attention's forward pass keeps for its backward pass.
public struct AttentionActivations {
    var query: Matrix          // [B·Tq, C] input
    var keyValue: Matrix?      // [B·Tk, C] input (nil when keys came from a cache)
    var q: Matrix              // [B·Tq, C] projected
    var keys: AttendedKeys
    var probs: Tensor          // [B, H, Tq, Tk] before dropout
    var dropMask: DropoutMask? // [B, H, Tq, Tk]; the dropped probabilities are recomputed from it
    var context: Matrix        // [B·Tq, C]
    var batch, queries: Int
}

public enum MultiHeadAttention {
    /// out = attention(query, keyValue): over whole sequences (B sequences of `queries` queries; keys
    /// and values projected from `keyValue`, Tk = keyValue.rows / B), or with a `cache` one query per
    /// row over cached keys and values (self-attention projects `keyValue` — the same rows as the
    /// query — into the cache first; cross-attention passes no `keyValue`). Returns the activations
    /// for `backward` (whole sequences only).
    public static func forward(_ out: Tensor, query: Matrix, keyValue: Matrix?, cache: AttentionCache? = nil, weights w: AttentionWeights,
                               batch: Int, queries: Int, heads: Int, mask: AttentionMask,
                               dropout: DropoutSampler?, compute: Compute, arena: Arena) -> AttentionActivations {
        let c = query.columns
        let q = compute.matrix(rows: batch * queries, columns: c, arena: arena)
        var keys: AttendedKeys
        if let cache {
            keys = .cached(cache.keyValues)
        } else {
            guard let keyValue else { fatalError("MultiHeadAttention.forward: neither keyValue inputs nor a cache") }
            keys = .sequences(keys: compute.matrix(rows: keyValue.rows, columns: c, arena: arena),
                              values: compute.matrix(rows: keyValue.rows, columns: c, arena: arena), length: keyValue.rows / batch)
        }
        let probs = arena.tensor(Shape(batch, heads, queries, keys.count))
        let kept = dropout.map { $0.attention > 0 ? arena.bytes(probs.count) : nil } ?? nil
        let context = compute.matrix(rows: batch * queries, columns: c, arena: arena)
        linearForward(q, query, weight: w.q.weight, bias: w.q.bias, compute: compute)
        switch keys {
        case .sequences(let k, let v, _):
            projectKeyValues(keyValue!, weights: w, keys: k, values: v, compute: compute)
        case .cached(let keyValues):
            if let keyValue, let position = cache!.writePosition {
                // Append this position's keys and values to each row's block.
                let k = arena.tensor(keyValue.shape), v = arena.tensor(keyValue.shape)
                projectKeyValues(keyValue, weights: w, keys: .float32(k), values: .float32(v), compute: compute)
                for r in 0..<k.rows {
                    let offset = keyValues.offset(row: r, position: position)
                    (keyValues.keys + offset).update(from: k.pointer + r * c, count: c)
                    (keyValues.values + offset).update(from: v.pointer + r * c, count: c)
                }
            }
        }
        scores(probs, q: q, keys, batch: batch, queries: queries, heads: heads, mask: mask, compute: compute)
        attentionSoftmaxForward(probs, batch: batch, heads: heads, queries: queries, keys: keys.count, mask: mask,
                                visibleKeysOnly: compute.independentRows)
        var dropMask: DropoutMask? = nil
        var dropped = probs
        // The dropped probabilities are a temporary: backward rebuilds them from probs and the mask.
        let temporaries = arena.mark()
        if let dropout, let kept {
            dropped = arena.tensor(probs.shape)
            dropMask = dropoutForward(dropped, probs, kept: kept, probability: dropout.attention, rng: &dropout.rng)
        }
        weightedValues(context, probs: dropped, keys, batch: batch, queries: queries, heads: heads, mask: mask, compute: compute)
        arena.release(to: temporaries)
        linearForward(.float32(out), context, weight: w.out.weight, bias: w.out.bias, compute: compute)
        return AttentionActivations(query: query, keyValue: cache == nil ? keyValue : nil, q: q, keys: keys, probs: probs, dropMask: dropMask,
                                    context: context, batch: batch, queries: queries)
    }

    /// k = x·Wkᵀ + bk and v = x·Wvᵀ + bv for inputs x [N, C] (a decoder projects the encoder
    /// output once per sentence this way).
    static func projectKeyValues(_ x: Matrix, weights w: AttentionWeights, keys: Matrix, values: Matrix, compute: Compute) {
        linearForward(keys, x, weight: w.k.weight, bias: w.k.bias, compute: compute)
        linearForward(values, x, weight: w.v.weight, bias: w.v.bias, compute: compute)
    }

    /// Probabilities [B, H, Tq, Tk] seen per head.
    static func perHead(_ t: Tensor, queries: Int, keys: Int) -> HeadMatrices {
        let heads = t.count / (t.shape[0] * queries * keys)
        return .float32(MatrixBatch(t.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys))
    }

    /// Accumulates dQuery and dKeyValue (the same tensor for self-attention) and the weight
    /// gradients; with `accumulate` false, dQuery is written instead (q's product first: for
    /// self-attention, k's and v's then add to it). With `dOutDropout`, the output gradient is
    /// dropout′(dOut) (a sub-layer's dropout, applied by Wo's backward). `probsGradient`: a
    /// gradient at P (before dropout) from a loss on the probabilities themselves (guided
    /// alignment), added to the one from the context.
    public static func backward(dQuery: Tensor, dKeyValue: Tensor, accumulate: Bool = true, dOut: Tensor, dOutDropout: DropoutMask? = nil,
                                _ a: AttentionActivations, weights w: AttentionWeights, gradients g: AttentionWeights, heads: Int,
                                probsGradient: SparseGradient? = nil, compute: Compute, arena: Arena) {
        guard let keyValue = a.keyValue, case .sequences(let k, let v, let tk) = a.keys else {
            fatalError("MultiHeadAttention.backward: a decoding step has no backward pass")
        }
        let c = a.query.columns, d = c / heads
        let (b, tq) = (a.batch, a.queries)
        let alpha = 1 / Float(d).squareRoot()
        let dContext = compute.matrix(rows: a.context.rows, columns: c, arena: arena)
        linearBackward(dx: dContext, accumulateDx: false, dWeight: g.out.weight.float32, dBias: g.out.bias, dy: .float32(dOut), dyDropout: dOutDropout,
                       x: a.context, weight: w.out.weight.float32, compute: compute, arena: arena)
        let dProbs = arena.tensor(a.probs.shape)
        var dropped = a.probs
        if let mask = a.dropMask {
            dropped = arena.tensor(a.probs.shape)
            mask.apply(a.probs, into: dropped)
        }
        // dq, dk and dv in the pass's product type (only their projections' products read them),
        // their bias gradients summed by the products that write them.
        let dQ = compute.matrix(rows: b * tq, columns: c, arena: arena)
        let dK = compute.matrix(rows: keyValue.rows, columns: c, arena: arena), dV = compute.matrix(rows: keyValue.rows, columns: c, arena: arena)
        let probsHeads = perHead(dropped, queries: tq, keys: tk), dProbsHeads = perHead(dProbs, queries: tq, keys: tk)
        // dP' = dctx·vᵀ  [Tq, D]·[D, Tk]
        compute.headProducts(outer: b, inner: heads, dProbsHeads, dContext.perHead(length: tq, heads: heads), v.perHead(length: tk, heads: heads),
                             m: tq, n: tk, k: d, transposeB: true)
        // dv = P'ᵀ·dctx  [Tk, Tq]·[Tq, D]
        compute.headProducts(outer: b, inner: heads, dV.perHead(length: tk, heads: heads), probsHeads, dContext.perHead(length: tq, heads: heads),
                             m: tk, n: d, k: tq, transposeA: true, columnSums: g.v.bias.pointer)
        a.dropMask?.apply(to: dProbs)
        probsGradient?.add(to: dProbs)
        attentionSoftmaxBackward(dProbs, probs: a.probs, rows: b * heads * tq, keys: tk)
        // dq = dS·k·α  [Tq, Tk]·[Tk, D];  dk = dSᵀ·q·α  [Tk, Tq]·[Tq, D]
        compute.headProducts(outer: b, inner: heads, dQ.perHead(length: tq, heads: heads), dProbsHeads, k.perHead(length: tk, heads: heads),
                             m: tq, n: d, k: tk, alpha: alpha, columnSums: g.q.bias.pointer)
        compute.headProducts(outer: b, inner: heads, dK.perHead(length: tk, heads: heads), dProbsHeads, a.q.perHead(length: tq, heads: heads),
                             m: tk, n: d, k: tq, transposeA: true, alpha: alpha, columnSums: g.k.bias.pointer)
        // x (k and v's: the same; all three's in self-attention) packed once for the three weight gradients.
        compute.sharingActivations {
            linearBackward(dx: .float32(dQuery), accumulateDx: accumulate, dWeight: g.q.weight.float32, dBias: nil, dy: dQ, x: a.query,
                           weight: w.q.weight.float32, compute: compute, arena: arena)
            linearBackward(dx: .float32(dKeyValue), dWeight: g.k.weight.float32, dBias: nil, dy: dK, x: keyValue, weight: w.k.weight.float32,
                           compute: compute, arena: arena)
            linearBackward(dx: .float32(dKeyValue), dWeight: g.v.weight.float32, dBias: nil, dy: dV, x: keyValue, weight: w.v.weight.float32,
                           compute: compute, arena: arena)
        }
    }

    /// S_bh = q_bh·k_bhᵀ/√D into [B, H, Tq, Tk]. With independent rows (and over a decoding
    /// cache) each query's scores are computed from its own keys up to the last `mask` lets it see
    /// (`AttentionMask.visibleKeys`), with a fixed summation order; the rest are left for the softmax
    /// to zero.
    static func scores(_ s: Tensor, q: Matrix, _ keys: AttendedKeys, batch: Int, queries: Int, heads: Int, mask: AttentionMask, compute: Compute) {
        let c = q.columns, d = c / heads
        let scale = 1 / Float(d).squareRoot()
        switch keys {
        case .sequences(let k, _, let length) where compute.independentRows:
            let (q, k) = (q.float32, k.float32)
            Threads.parallelChunks(batch * queries, minChunk: 8) { range in
                for row in range {
                    let (b, i) = (row / queries, row % queries)
                    nmt_gathered_scores(s.pointer + (b * heads * queries + i) * length, queries * length, q.pointer + row * c, k.pointer + b * length * c,
                                        nil, mask.visibleKeys(row: b, query: i, keys: length), c, heads, d, scale)
                }
            }
        case .sequences(let k, _, let length):
            compute.headProducts(outer: batch, inner: heads, perHead(s, queries: queries, keys: length), q.perHead(length: queries, heads: heads),
                                 k.perHead(length: length, heads: heads), m: queries, n: length, k: d, transposeB: true, alpha: scale)
        case .cached(let kv):
            let q = q.float32, count = kv.count
            // One query per row: decoding self-attention gathers keys along each row's path,
            // cross-attention reads its sentence's block; all heads at once.
            Threads.parallelChunks(batch, minChunk: 4) { range in
                for b in range {
                    let (keys, index) = kv.paths.map { (kv.keys, $0 + b * kv.pathStride) } ?? (kv.keys + Int(kv.blocks![b]) * kv.blockStride, nil)
                    nmt_gathered_scores(s.pointer + b * heads * count, count, q.pointer + b * c, keys, index, mask.visibleKeys(row: b, query: 0, keys: count),
                                        kv.rowStride, heads, d, scale)
                }
            }
        }
    }

    /// ctx_bh = P_bh·v_bh into [B·Tq, C]; with independent rows (and over a decoding cache) each
    /// query sums its visible values in order (as `scores`).
    static func weightedValues(_ context: Matrix, probs: Tensor, _ keys: AttendedKeys, batch: Int, queries: Int, heads: Int, mask: AttentionMask,
                               compute: Compute) {
        let c = context.columns, d = c / heads
        switch keys {
        case .sequences(_, let v, let length) where compute.independentRows:
            let (context, v) = (context.float32, v.float32)
            Threads.parallelChunks(batch * queries, minChunk: 8) { range in
                for row in range {
                    let (b, i) = (row / queries, row % queries)
                    nmt_gathered_weighted_values(context.pointer + row * c, probs.pointer + (b * heads * queries + i) * length, queries * length,
                                                 v.pointer + b * length * c, nil, mask.visibleKeys(row: b, query: i, keys: length), c, heads, d)
                }
            }
        case .sequences(_, let v, let length):
            compute.headProducts(outer: batch, inner: heads, context.perHead(length: queries, heads: heads), perHead(probs, queries: queries, keys: length),
                                 v.perHead(length: length, heads: heads), m: queries, n: d, k: length)
        case .cached(let kv):
            let context = context.float32, count = kv.count
            Threads.parallelChunks(batch, minChunk: 4) { range in
                for b in range {
                    let (values, index) = kv.paths.map { (kv.values, $0 + b * kv.pathStride) } ?? (kv.values + Int(kv.blocks![b]) * kv.blockStride, nil)
                    nmt_gathered_weighted_values(context.pointer + b * c, probs.pointer + b * heads * count, count, values, index,
                                                 mask.visibleKeys(row: b, query: 0, keys: count), kv.rowStride, heads, d)
                }
            }
        }
    }
}
