// Multi-head scaled dot-product attention (Vaswani et al. 2017, §3.2), forward and backward.
//
// Layouts: queries [B·Tq, C] and keys/values [B·Tk, C], seen per head as [B, T, H, D] (C = H·D);
// scores and probabilities [B, H, Tq, Tk].
//   q = x_q·Wqᵀ + bq,  k = x_kv·Wkᵀ + bk,  v = x_kv·Wvᵀ + bv
//   S_bh = q_bh·k_bhᵀ / √D,  P = softmax(S, masked),  P' = dropout(P)
//   ctx_bh = P'_bh·v_bh,  out = ctx·Woᵀ + bo
// Backward (per head):  dP' = dctx·vᵀ,  dv = P'ᵀ·dctx,  dP = dP'·mask,  dS = softmax′(dP),
//   dq = dS·k/√D,  dk = dSᵀ·q/√D; then the four projections.
// One forward serves training, rescoring and incremental decoding (keys and values from a cache).

import CKernels

/// Keys and values as attention reads them, in each layout it meets. Training: key t of sequence b
/// is the row at `keys + b·blockStride + t·rowStride` (values alike), one block per sequence of
/// [B·Tk, C]. Decoding cross-attention: query row r reads block `blocks[r]` — a beam's hypotheses
/// share their sentence's block. Decoding self-attention: key t of query row r is the row
/// `paths[r·pathStride + t]` (a hypothesis's prefix is a path of positions shared with the
/// hypotheses it shares a prefix with; see IncrementalDecoder).
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

    /// Projected keys and values [B·Tk, C] of B sequences.
    init(keys: Tensor, values: Tensor, count: Int) {
        self.init(keys: keys.pointer, values: values.pointer, count: count, blockStride: count * keys.columns, rowStride: keys.columns, blocks: nil)
    }

    /// Blocks: key t of query row r at `blocks[r]·blockStride + t·rowStride` (row r's own block without `blocks`).
    init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, count: Int, blockStride: Int, rowStride: Int,
         blocks: UnsafePointer<Int32>?) {
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
        return Int(blocks.map { $0[r] } ?? Int32(r)) * blockStride + t * rowStride
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

/// What attention's forward pass keeps for its backward pass.
public struct AttentionActivations {
    var query: LinearInput      // [B·Tq, C] input (rounded in a bf16 pass: only products read it)
    var keyValue: LinearInput?  // [B·Tk, C] input (nil when keys came from a cache)
    var projected: ProjectedHeads
    var probs: Tensor      // [B, H, Tq, Tk] before dropout
    var dropMask: DropoutMask?  // [B, H, Tq, Tk]; the dropped probabilities are recomputed from it
    var context: LinearInput  // [B·Tq, C]; kept rounded in a bf16 pass (only Wo's products read it)
    var batch, queries: Int
}

/// The projected queries, keys and values the backward pass reads: float32, or in a bf16 pass
/// rounded once (only attention's bfloat16 products read them).
enum ProjectedHeads {
    case float32(q: Tensor, keyValues: KeyValues)
    case bfloat16(q: BF16Matrix, keys: BF16Matrix, values: BF16Matrix)

    var isRounded: Bool { if case .bfloat16 = self { return true } else { return false } }
}

public enum MultiHeadAttention {
    /// out = attention(query, keyValue): over whole sequences (B sequences of `queries` queries; keys
    /// and values projected from `keyValue`, Tk = keyValue.rows / B), or with a `cache` one query per
    /// row over cached keys and values (self-attention projects `keyValue` — the same rows as the
    /// query — into the cache first; cross-attention passes no `keyValue`). Returns the activations
    /// for `backward` (whole sequences only).
    public static func forward(_ out: Tensor, query: LinearInput, keyValue: LinearInput?, cache: AttentionCache? = nil, weights w: AttentionWeights,
                               batch: Int, queries: Int, heads: Int, mask: AttentionMask,
                               dropout: DropoutSampler?, arena: Arena) -> AttentionActivations {
        if BF16Matmul.inPass, cache == nil, let keyValue {
            return forwardRounded(out, query: query, keyValue: keyValue, weights: w, batch: batch, queries: queries, heads: heads,
                                  mask: mask, dropout: dropout, arena: arena)
        }
        let c = query.columns
        let q = arena.tensor(Shape(batch * queries, c))
        linearForward(q, query, weight: w.q.weight, bias: w.q.bias)
        var keyValues: KeyValues
        if let keyValue {
            let k = arena.tensor(keyValue.shape), v = arena.tensor(keyValue.shape)
            projectKeyValues(keyValue, weights: w, keys: k, values: v)
            keyValues = KeyValues(keys: k, values: v, count: keyValue.rows / batch)
            if let cache {
                // Append this position's keys and values to each row's block.
                keyValues = cache.keyValues
                let position = cache.writePosition!
                for r in 0..<k.rows {
                    let offset = keyValues.offset(row: r, position: position)
                    (keyValues.keys + offset).update(from: k.pointer + r * c, count: c)
                    (keyValues.values + offset).update(from: v.pointer + r * c, count: c)
                }
            }
        } else {
            guard let cache else { fatalError("MultiHeadAttention.forward: neither keyValue inputs nor a cache") }
            keyValues = cache.keyValues
        }
        let keys = keyValues.count
        let probs = arena.tensor(Shape(batch, heads, queries, keys))
        let kept = dropout.map { $0.attention > 0 ? arena.bytes(probs.count) : nil } ?? nil
        let context = arena.tensor(Shape(batch * queries, c))
        scores(probs, q: q, keyValues, batch: batch, queries: queries, heads: heads)
        attentionSoftmaxForward(probs, batch: batch, heads: heads, queries: queries, keys: keys, mask: mask)
        var dropMask: DropoutMask? = nil
        if let dropout, let kept {
            // The dropped probabilities are a temporary: backward rebuilds them from probs and the mask.
            let beforeDropped = arena.mark()
            let dropped = arena.tensor(probs.shape)
            dropMask = dropoutForward(dropped, probs, kept: kept, probability: dropout.attention, rng: &dropout.rng)
            weightedValues(context, probs: dropped, keyValues, batch: batch, queries: queries, heads: heads)
            arena.release(to: beforeDropped)
        } else {
            weightedValues(context, probs: probs, keyValues, batch: batch, queries: queries, heads: heads)
        }
        linearForward(out, context, weight: w.out.weight, bias: w.out.bias)
        return AttentionActivations(query: query, keyValue: cache == nil ? keyValue : nil, projected: .float32(q: q, keyValues: keyValues), probs: probs,
                                    dropMask: dropMask, context: .float32(context), batch: batch, queries: queries)
    }

    /// k = x·Wkᵀ + bk and v = x·Wvᵀ + bv for inputs x [N, C] (a decoder projects the encoder
    /// output once per sentence this way).
    static func projectKeyValues(_ x: LinearInput, weights w: AttentionWeights, keys: Tensor, values: Tensor) {
        linearForward(keys, x, weight: w.k.weight, bias: w.k.bias)
        linearForward(values, x, weight: w.v.weight, bias: w.v.bias)
    }

    /// The forward pass of a bf16 training pass: q, k and v written rounded by their projections,
    /// the per-head products in bfloat16 (BF16HeadProducts), the context written rounded for Wo's
    /// products; backward reads q, k, v rounded and P in float32 (softmax′ computes on it). As
    /// PyTorch's autocast runs attention's bmm. Returns the same activations.
    static func forwardRounded(_ out: Tensor, query: LinearInput, keyValue: LinearInput, weights w: AttentionWeights,
                               batch: Int, queries: Int, heads: Int, mask: AttentionMask,
                               dropout: DropoutSampler?, arena: Arena) -> AttentionActivations {
        let c = query.columns, d = c / heads, keys = keyValue.rows / batch
        let q16 = arena.bfloat16(rows: batch * queries, columns: c)
        let k16 = arena.bfloat16(rows: keyValue.rows, columns: c), v16 = arena.bfloat16(rows: keyValue.rows, columns: c)
        let probs = arena.tensor(Shape(batch, heads, queries, keys))
        let kept = dropout.map { $0.attention > 0 ? arena.bytes(probs.count) : nil } ?? nil
        let context16 = arena.bfloat16(rows: batch * queries, columns: c)
        let temporaries = arena.mark()
        linearForward(q16, query, weight: w.q.weight.float32, bias: w.q.bias)
        linearForward(k16, keyValue, weight: w.k.weight.float32, bias: w.k.bias)
        linearForward(v16, keyValue, weight: w.v.weight.float32, bias: w.v.bias)
        // S = q·kᵀ/√D
        let scoresPerHead = BF16HeadProducts.Operand.float32(perHead(probs, queries: queries, keys: keys))
        BF16HeadProducts.multiply(outer: batch, inner: heads, scoresPerHead, .bfloat16(perHead(q16, length: queries, heads: heads)),
                              perHead(k16, length: keys, heads: heads), m: queries, n: keys, k: d, transposeB: true, alpha: 1 / Float(d).squareRoot())
        attentionSoftmaxForward(probs, batch: batch, heads: heads, queries: queries, keys: keys, mask: mask)
        var dropMask: DropoutMask? = nil
        var dropped = probs
        if let dropout, let kept {
            dropped = arena.tensor(probs.shape)
            dropMask = dropoutForward(dropped, probs, kept: kept, probability: dropout.attention, rng: &dropout.rng)
        }
        // ctx = P'·v, written rounded (only Wo's products read it)
        BF16HeadProducts.multiply(outer: batch, inner: heads, .bfloat16(perHead(context16, length: queries, heads: heads)),
                              .float32(perHead(dropped, queries: queries, keys: keys)), perHead(v16, length: keys, heads: heads),
                              m: queries, n: d, k: keys)
        arena.release(to: temporaries)
        linearForward(out, .bfloat16(context16), weight: w.out.weight, bias: w.out.bias)
        return AttentionActivations(query: query, keyValue: keyValue, projected: .bfloat16(q: q16, keys: k16, values: v16), probs: probs,
                                    dropMask: dropMask, context: .bfloat16(context16), batch: batch, queries: queries)
    }

    /// bfloat16 rows [B·T, C] seen per head: matrix (b, h) is [T, D] at b·T·C + h·D, rows C apart.
    static func perHead(_ m: BF16Matrix, length: Int, heads: Int) -> BF16HeadProducts.Rows {
        BF16HeadProducts.Rows(base: m.pointer, outerStride: length * m.columns, innerStride: m.columns / heads, ld: m.columns)
    }

    /// Scores or probabilities [B, H, Tq, Tk] seen per head.
    static func perHead(_ t: Tensor, queries: Int, keys: Int) -> MatrixBatch {
        let heads = t.count / (t.shape[0] * queries * keys)
        return MatrixBatch(t.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys)
    }

    /// Accumulates dQuery and dKeyValue (the same tensor for self-attention) and the weight
    /// gradients; with `accumulate` false, dQuery is written instead (q's product first: for
    /// self-attention, k's and v's then add to it). With `dOutDropout`, the output gradient is
    /// dropout′(dOut) (a sub-layer's dropout, applied by Wo's backward).
    public static func backward(dQuery: Tensor, dKeyValue: Tensor, accumulate: Bool = true, dOut: Tensor, dOutDropout: DropoutMask? = nil,
                                _ a: AttentionActivations, weights w: AttentionWeights, gradients g: AttentionWeights, heads: Int, arena: Arena) {
        guard let keyValue = a.keyValue else { fatalError("MultiHeadAttention.backward: a decoding step has no backward pass") }
        let c = a.query.columns, d = c / heads
        let (b, tq, tk) = (a.batch, a.queries, keyValue.rows / a.batch)
        let alpha = 1 / Float(d).squareRoot()
        // dContext: float32, or in a bf16 pass written rounded (only the per-head products read it).
        let rounded = a.projected.isRounded
        let dContext = rounded ? nil : arena.tensor(Shape(a.context.rows, a.context.columns))
        let dContext16 = rounded ? arena.bfloat16(rows: a.context.rows, columns: a.context.columns) : nil
        linearBackward(dx: dContext, roundedDx: dContext16, dWeight: g.out.weight.float32, dBias: g.out.bias, dy: dOut, dyDropout: dOutDropout,
                       x: a.context, weight: .float32(w.out.weight.float32), accumulateDx: false, arena: arena)

        let dProbs = arena.tensor(a.probs.shape)
        var dropped = a.probs
        if let mask = a.dropMask {
            dropped = arena.tensor(a.probs.shape)
            mask.apply(a.probs, into: dropped)
        }
        switch a.projected {
        case .float32(let q, let keyValues):
            let dContext = dContext!
            let dQ = arena.tensor(Shape(b * tq, c)), dK = arena.tensor(keyValue.shape), dV = arena.tensor(keyValue.shape)
            let k = Tensor(keyValues.keys, keyValue.shape), v = Tensor(keyValues.values, keyValue.shape)
            let probsBatch = MatrixBatch(dropped.pointer, outerStride: heads * tq * tk, innerStride: tq * tk, ld: tk)
            let dProbsBatch = MatrixBatch(dProbs.pointer, outerStride: heads * tq * tk, innerStride: tq * tk, ld: tk)
            func perHead(_ t: Tensor, _ length: Int) -> MatrixBatch { MatrixBatch(t.pointer, outerStride: length * c, innerStride: d, ld: c) }
            // dP' = dctx·vᵀ  [Tq, D]·[D, Tk]
            batchedMatmul(outer: b, inner: heads, dProbsBatch, perHead(dContext, tq), perHead(v, tk), m: tq, n: tk, k: d, transposeB: true)
            // dv = P'ᵀ·dctx  [Tk, Tq]·[Tq, D]
            batchedMatmul(outer: b, inner: heads, perHead(dV, tk), probsBatch, perHead(dContext, tq), m: tk, n: d, k: tq, transposeA: true)
            a.dropMask?.apply(to: dProbs)
            attentionSoftmaxBackward(dProbs, probs: a.probs, rows: b * heads * tq, keys: tk)
            // dq = dS·k·α  [Tq, Tk]·[Tk, D];  dk = dSᵀ·q·α  [Tk, Tq]·[Tq, D]
            batchedMatmul(outer: b, inner: heads, perHead(dQ, tq), dProbsBatch, perHead(k, tk), m: tq, n: d, k: tk, alpha: alpha)
            batchedMatmul(outer: b, inner: heads, perHead(dK, tk), dProbsBatch, perHead(q, tq), m: tk, n: d, k: tq, transposeA: true, alpha: alpha)
            linearBackward(dx: dQuery, dWeight: g.q.weight.float32, dBias: g.q.bias, dy: dQ, x: a.query, weight: .float32(w.q.weight.float32),
                           accumulateDx: accumulate, arena: arena)
            linearBackward(dx: dKeyValue, dWeight: g.k.weight.float32, dBias: g.k.bias, dy: dK, x: keyValue, weight: .float32(w.k.weight.float32), arena: arena)
            linearBackward(dx: dKeyValue, dWeight: g.v.weight.float32, dBias: g.v.bias, dy: dV, x: keyValue, weight: .float32(w.v.weight.float32), arena: arena)
        case .bfloat16(let q16, let k16, let v16):
            // The same products in bfloat16: q, k, v and dContext as rows, P' and dS per head. dq, dk
            // and dv are written rounded (only their projections' products read them), their bias
            // gradients summed by the same products.
            let dContext16 = dContext16!
            let dQ = arena.bfloat16(rows: b * tq, columns: c)
            let dK = arena.bfloat16(rows: keyValue.rows, columns: c), dV = arena.bfloat16(rows: keyValue.rows, columns: c)
            let probsHeads = BF16HeadProducts.Operand.float32(perHead(dropped, queries: tq, keys: tk))
            let dProbsHeads = BF16HeadProducts.Operand.float32(perHead(dProbs, queries: tq, keys: tk))
            BF16HeadProducts.multiply(outer: b, inner: heads, dProbsHeads, .bfloat16(perHead(dContext16, length: tq, heads: heads)), perHead(v16, length: tk, heads: heads),
                                  m: tq, n: tk, k: d, transposeB: true)
            BF16HeadProducts.multiply(outer: b, inner: heads, .bfloat16(perHead(dV, length: tk, heads: heads)), probsHeads,
                                  perHead(dContext16, length: tq, heads: heads), m: tk, n: d, k: tq, transposeA: true, columnSums: g.v.bias.pointer)
            a.dropMask?.apply(to: dProbs)
            attentionSoftmaxBackward(dProbs, probs: a.probs, rows: b * heads * tq, keys: tk)
            BF16HeadProducts.multiply(outer: b, inner: heads, .bfloat16(perHead(dQ, length: tq, heads: heads)), dProbsHeads,
                                  perHead(k16, length: tk, heads: heads), m: tq, n: d, k: tk, alpha: alpha, columnSums: g.q.bias.pointer)
            BF16HeadProducts.multiply(outer: b, inner: heads, .bfloat16(perHead(dK, length: tk, heads: heads)), dProbsHeads,
                                  perHead(q16, length: tq, heads: heads), m: tk, n: d, k: tq, transposeA: true, alpha: alpha, columnSums: g.k.bias.pointer)
            // x (k and v's: the same; all three's in self-attention) packed once for the three weight gradients.
            BF16Matmul.sharingActivations {
                linearBackward(dx: dQuery, dWeight: g.q.weight.float32, dy16: dQ, x: a.query, weight: .float32(w.q.weight.float32), accumulateDx: accumulate)
                linearBackward(dx: dKeyValue, dWeight: g.k.weight.float32, dy16: dK, x: keyValue, weight: .float32(w.k.weight.float32))
                linearBackward(dx: dKeyValue, dWeight: g.v.weight.float32, dy16: dV, x: keyValue, weight: .float32(w.v.weight.float32))
            }
        }
    }

    /// S_bh = q_bh·k_bhᵀ/√D into [B, H, Tq, Tk].
    static func scores(_ s: Tensor, q: Tensor, _ kv: KeyValues, batch: Int, queries: Int, heads: Int) {
        let c = q.columns, d = c / heads, keys = kv.count
        if queries == 1, let paths = kv.paths {
            // Keys gathered along each row's path (decoding self-attention), all heads at once.
            Threads.parallelChunks(batch, minChunk: 4) { range in
                for b in range {
                    nmt_gathered_scores(s.pointer + b * heads * keys, q.pointer + b * c, kv.keys, paths + b * kv.pathStride, keys, kv.rowStride,
                                        heads, d, 1 / Float(d).squareRoot())
                }
            }
            return
        }
        if queries == 1 {
            // One query per row (decoding cross-attention): B·H matrix–vector products, one sgemv each
            // (OpenBLAS's AVX-512 kernels beat SIMD Swift built for baseline x86-64 here, ~1.6×).
            let scale = 1 / Float(d).squareRoot()
            Threads.parallelChunks(batch * heads, minChunk: 16) { range in
                for i in range {
                    let (b, h) = (i / heads, i % heads)
                    let block = kv.blocks.map { Int($0[b]) } ?? b
                    sgemv(s.pointer + i * keys, kv.keys + block * kv.blockStride + h * d, lda: kv.rowStride, transposeA: false,
                          q.pointer + b * c + h * d, rows: keys, columns: d, alpha: scale)
                }
            }
            return
        }
        require(kv.blocks == nil && kv.paths == nil, "MultiHeadAttention.scores: shared keys need one query per row")
        batchedMatmul(outer: batch, inner: heads,
                      MatrixBatch(s.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys),
                      MatrixBatch(q.pointer, outerStride: queries * c, innerStride: d, ld: c),
                      MatrixBatch(kv.keys, outerStride: kv.blockStride, innerStride: d, ld: kv.rowStride),
                      m: queries, n: keys, k: d, transposeB: true, alpha: 1 / Float(d).squareRoot())
    }

    /// ctx_bh = P_bh·v_bh into [B·Tq, C].
    static func weightedValues(_ context: Tensor, probs: Tensor, _ kv: KeyValues, batch: Int, queries: Int, heads: Int) {
        let c = context.columns, d = c / heads, keys = kv.count
        if queries == 1, let paths = kv.paths {
            Threads.parallelChunks(batch, minChunk: 4) { range in
                for b in range {
                    nmt_gathered_weighted_values(context.pointer + b * c, probs.pointer + b * heads * keys, kv.values, paths + b * kv.pathStride,
                                                 keys, kv.rowStride, heads, d)
                }
            }
            return
        }
        if queries == 1 {
            // As in `scores`: one query per row, a weighted sum of value rows per head (sgemv, Vᵀ·p).
            Threads.parallelChunks(batch * heads, minChunk: 16) { range in
                for i in range {
                    let (b, h) = (i / heads, i % heads)
                    let block = kv.blocks.map { Int($0[b]) } ?? b
                    sgemv(context.pointer + b * c + h * d, kv.values + block * kv.blockStride + h * d, lda: kv.rowStride, transposeA: true,
                          probs.pointer + i * keys, rows: keys, columns: d)
                }
            }
            return
        }
        require(kv.blocks == nil && kv.paths == nil, "MultiHeadAttention.weightedValues: shared values need one query per row")
        batchedMatmul(outer: batch, inner: heads,
                      MatrixBatch(context.pointer, outerStride: queries * c, innerStride: d, ld: c),
                      MatrixBatch(probs.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys),
                      MatrixBatch(kv.values, outerStride: kv.blockStride, innerStride: d, ld: kv.rowStride),
                      m: queries, n: d, k: keys)
    }
}
