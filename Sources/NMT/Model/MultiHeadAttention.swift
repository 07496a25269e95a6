// Multi-head scaled dot-product attention (Vaswani et al. 2017, §3.2), forward and backward.
//
// Layouts: queries [B·Tq, C] and keys/values [B·Tk, C], seen per head as [B, T, H, D] (C = H·D);
// scores and probabilities [B, H, Tq, Tk].
//   q = x_q·Wqᵀ + bq,  k = x_kv·Wkᵀ + bk,  v = x_kv·Wvᵀ + bv
//   S_bh = q_bh·k_bhᵀ / √D,  P = softmax(S, masked),  P' = dropout(P)
//   ctx_bh = P'_bh·v_bh,  out = ctx·Woᵀ + bo
// Backward (per head):  dP' = dctx·vᵀ,  dv = P'ᵀ·dctx,  dP = dP'·mask,  dS = softmax′(dP),
//   dq = dS·k/√D,  dk = dSᵀ·q/√D; then the four projections.
// The same `attend` core serves training and incremental decoding (keys from a cache).

/// What attention's forward pass keeps for its backward pass.
public struct AttentionActivations {
    var query: Tensor      // [B·Tq, C] input
    var keyValue: Tensor   // [B·Tk, C] input
    var q, k, v: Tensor    // projections
    var probs: Tensor      // [B, H, Tq, Tk] before dropout
    var dropMask: DropoutMask?  // [B, H, Tq, Tk]; the dropped probabilities are recomputed from it
    var context: Tensor    // [B·Tq, C]
    var batch, queries, keys: Int
}

public enum MultiHeadAttention {
    /// out = attention(query, keyValue); returns the activations for `backward`.
    public static func forward(_ out: Tensor, query: Tensor, keyValue: Tensor, weights w: AttentionWeights,
                               batch: Int, queries: Int, keys: Int, heads: Int, mask: AttentionMask,
                               dropout: Float, rng: inout RandomGenerator, arena: Arena) -> AttentionActivations {
        let c = query.columns
        let q = arena.tensor(Shape(batch * queries, c))
        let k = arena.tensor(Shape(batch * keys, c)), v = arena.tensor(Shape(batch * keys, c))
        linearForward(q, query, weight: w.q.weight, bias: w.q.bias)
        linearForward(k, keyValue, weight: w.k.weight, bias: w.k.bias)
        linearForward(v, keyValue, weight: w.v.weight, bias: w.v.bias)
        let probs = arena.tensor(Shape(batch, heads, queries, keys))
        let context = arena.tensor(Shape(batch * queries, c))
        scores(probs, q: q, k: k, keyStride: keys * c, batch: batch, queries: queries, keys: keys, heads: heads)
        attentionSoftmaxForward(probs, batch: batch, heads: heads, queries: queries, keys: keys, mask: mask)
        var dropMask: DropoutMask? = nil
        if dropout > 0 {
            // The dropped probabilities are a temporary: backward rebuilds them from probs and the mask.
            let kept = arena.bytes(probs.count)
            let temporaries = arena.mark()
            let dropped = arena.tensor(probs.shape)
            dropMask = dropoutForward(dropped, probs, kept: kept, probability: dropout, rng: &rng)
            weightedValues(context, probs: dropped, v: v, valueStride: keys * c, batch: batch, queries: queries, keys: keys, heads: heads)
            arena.release(to: temporaries)
        } else {
            weightedValues(context, probs: probs, v: v, valueStride: keys * c, batch: batch, queries: queries, keys: keys, heads: heads)
        }
        linearForward(out, context, weight: w.out.weight, bias: w.out.bias)
        return AttentionActivations(query: query, keyValue: keyValue, q: q, k: k, v: v, probs: probs, dropMask: dropMask,
                                    context: context, batch: batch, queries: queries, keys: keys)
    }

    /// Accumulates dQuery and dKeyValue (the same tensor for self-attention) and the weight gradients.
    public static func backward(dQuery: Tensor, dKeyValue: Tensor, dOut: Tensor, _ a: AttentionActivations,
                                weights w: AttentionWeights, gradients g: AttentionWeights, heads: Int, arena: Arena) {
        let c = a.query.columns, d = c / heads
        let (b, tq, tk) = (a.batch, a.queries, a.keys)
        let alpha = 1 / Float(d).squareRoot()
        let dContext = arena.tensor(a.context.shape)
        matmul(dContext, dOut, w.out.weight)
        linearBackward(dx: nil, dWeight: g.out.weight, dBias: g.out.bias, dy: dOut, x: a.context, weight: w.out.weight)

        let dProbs = arena.tensor(a.probs.shape)
        let dV = arena.tensor(a.v.shape)
        var dropped = a.probs
        if let mask = a.dropMask {
            dropped = arena.tensor(a.probs.shape)
            mask.apply(a.probs, into: dropped)
        }
        let probsBatch = MatrixBatch(dropped.pointer, outerStride: heads * tq * tk, innerStride: tq * tk, ld: tk)
        let dProbsBatch = MatrixBatch(dProbs.pointer, outerStride: heads * tq * tk, innerStride: tq * tk, ld: tk)
        func perHead(_ t: Tensor, _ length: Int) -> MatrixBatch { MatrixBatch(t.pointer, outerStride: length * c, innerStride: d, ld: c) }
        // dP' = dctx·vᵀ  [Tq, D]·[D, Tk]
        batchedMatmul(outer: b, inner: heads, dProbsBatch, perHead(dContext, tq), perHead(a.v, tk), m: tq, n: tk, k: d, transposeB: true)
        // dv = P'ᵀ·dctx  [Tk, Tq]·[Tq, D]
        batchedMatmul(outer: b, inner: heads, perHead(dV, tk), probsBatch, perHead(dContext, tq), m: tk, n: d, k: tq, transposeA: true)
        a.dropMask?.apply(to: dProbs)
        attentionSoftmaxBackward(dProbs, probs: a.probs, rows: b * heads * tq, keys: tk)
        let dQ = arena.tensor(a.q.shape), dK = arena.tensor(a.k.shape)
        // dq = dS·k·α  [Tq, Tk]·[Tk, D];  dk = dSᵀ·q·α  [Tk, Tq]·[Tq, D]
        batchedMatmul(outer: b, inner: heads, perHead(dQ, tq), dProbsBatch, perHead(a.k, tk), m: tq, n: d, k: tk, alpha: alpha)
        batchedMatmul(outer: b, inner: heads, perHead(dK, tk), dProbsBatch, perHead(a.q, tq), m: tk, n: d, k: tq, transposeA: true, alpha: alpha)
        linearBackward(dx: dQuery, dWeight: g.q.weight, dBias: g.q.bias, dy: dQ, x: a.query, weight: w.q.weight)
        linearBackward(dx: dKeyValue, dWeight: g.k.weight, dBias: g.k.bias, dy: dK, x: a.keyValue, weight: w.k.weight)
        linearBackward(dx: dKeyValue, dWeight: g.v.weight, dBias: g.v.bias, dy: dV, x: a.keyValue, weight: w.v.weight)
    }

    /// S_bh = q_bh·k_bhᵀ/√D into [B, H, Tq, Tk]. Keys of sentence b start at `k + b·keyStride`
    /// (a decoding cache holds more rows than are in use).
    public static func scores(_ s: Tensor, q: Tensor, k: Tensor, keyStride: Int, batch: Int, queries: Int, keys: Int, heads: Int,
                              keyBlocks: UnsafePointer<Int32>? = nil) {
        let c = q.columns, d = c / heads
        if queries == 1 {
            // One query per row (incremental decoding): B·H matrix–vector products, one sgemv each
            // (OpenBLAS's AVX-512 kernels beat SIMD Swift built for baseline x86-64 here, ~1.6×).
            // `keyBlocks` lets rows read other blocks of keys (a beam's hypotheses share their
            // sentence's cross-attention keys; cached prefixes live in slots): row b reads block
            // keyBlocks[b].
            let scale = 1 / Float(d).squareRoot()
            Threads.parallelChunks(batch * heads, minChunk: 16) { range in
                for i in range {
                    let (b, h) = (i / heads, i % heads)
                    let block = keyBlocks.map { Int($0[b]) } ?? b
                    sgemv(s.pointer + i * keys, k.pointer + block * keyStride + h * d, lda: c, transposeA: false,
                          q.pointer + b * c + h * d, rows: keys, columns: d, alpha: scale)
                }
            }
            return
        }
        require(keyBlocks == nil, "MultiHeadAttention.scores: shared key blocks need one query per row")
        batchedMatmul(outer: batch, inner: heads,
                      MatrixBatch(s.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys),
                      MatrixBatch(q.pointer, outerStride: queries * c, innerStride: d, ld: c),
                      MatrixBatch(k.pointer, outerStride: keyStride, innerStride: d, ld: c),
                      m: queries, n: keys, k: d, transposeB: true, alpha: 1 / Float(d).squareRoot())
    }

    /// ctx_bh = P_bh·v_bh into [B·Tq, C].
    public static func weightedValues(_ context: Tensor, probs: Tensor, v: Tensor, valueStride: Int, batch: Int, queries: Int,
                                      keys: Int, heads: Int, valueBlocks: UnsafePointer<Int32>? = nil) {
        let c = context.columns, d = c / heads
        if queries == 1 {
            // As in `scores`: one query per row, a weighted sum of value rows per head (sgemv, Vᵀ·p).
            Threads.parallelChunks(batch * heads, minChunk: 16) { range in
                for i in range {
                    let (b, h) = (i / heads, i % heads)
                    let block = valueBlocks.map { Int($0[b]) } ?? b
                    sgemv(context.pointer + b * c + h * d, v.pointer + block * valueStride + h * d, lda: c, transposeA: true,
                          probs.pointer + i * keys, rows: keys, columns: d)
                }
            }
            return
        }
        require(valueBlocks == nil, "MultiHeadAttention.weightedValues: shared value blocks need one query per row")
        batchedMatmul(outer: batch, inner: heads,
                      MatrixBatch(context.pointer, outerStride: queries * c, innerStride: d, ld: c),
                      MatrixBatch(probs.pointer, outerStride: heads * queries * keys, innerStride: queries * keys, ld: keys),
                      MatrixBatch(v.pointer, outerStride: valueStride, innerStride: d, ld: c),
                      m: queries, n: d, k: keys)
    }
}
