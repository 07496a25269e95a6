// Attention softmax over keys, with key-padding and causal masks, in place.
//
// Scores are [B, H, Tq, Tk] (already scaled by 1/√d through the matmul's alpha).
//   forward:  P[i, j] = e^(S[i, j] − max) / Σ_k e^(S[i, k] − max) over unmasked keys;
//             a masked key (padding, or j > i in causal attention) gets exactly 0.
//   backward: dS[i, j] = P[i, j] · (dP[i, j] − Σ_k P[i, k]·dP[i, k])
// A masked key has P = 0 and so gets zero gradient as well.

import CKernels

/// Which keys a query may attend to.
public struct AttentionMask {
    /// [B, Tk], non-zero where the key is padding; nil when no key is padding.
    public var keyPadding: UnsafePointer<UInt8>?
    /// Decoder self-attention: query i (at absolute position `queryOffset + i`) sees keys 0…that position.
    public var causal: Bool
    public var queryOffset: Int

    public init(keyPadding: UnsafePointer<UInt8>? = nil, causal: Bool = false, queryOffset: Int = 0) {
        self.keyPadding = keyPadding
        self.causal = causal
        self.queryOffset = queryOffset
    }

    /// How many keys query i of sequence b sees from the start before the first it may not (a
    /// padding key, or one after its position): the keys a sentence's result may depend on, the same
    /// whatever padding its batch adds after them.
    func visibleKeys(row b: Int, query i: Int, keys: Int) -> Int {
        let bound = causal ? min(keys, queryOffset + i + 1) : keys
        guard let keyPadding else { return bound }
        let pad = keyPadding + b * keys
        var j = 0
        while j < bound && pad[j] == 0 { j += 1 }
        return j
    }
}

/// With `visibleKeysOnly` (a pass with independent rows), a query's softmax runs over its visible
/// keys (`AttentionMask.visibleKeys`) alone and the rest are set to 0 without being read: its sums
/// do not change with the padding after them.
public func attentionSoftmaxForward(_ scores: Tensor, batch: Int, heads: Int, queries: Int, keys: Int, mask: AttentionMask,
                                    visibleKeysOnly: Bool = false) {
    checkShape(scores.count == batch * heads * queries * keys, "attentionSoftmaxForward: scores vs [B, H, Tq, Tk]",
               scores.shape, Shape(batch, heads, queries, keys))
    let s = scores.pointer
    let padding = mask.keyPadding
    Threads.parallelChunks(batch * heads * queries, minChunk: 32) { rows in
        for row in rows {
            let b = row / (heads * queries), i = row % queries
            let p = s + row * keys
            if visibleKeysOnly {
                let visible = mask.visibleKeys(row: b, query: i, keys: keys)
                for j in visible..<keys { p[j] = 0 }
                if visible == 0 { continue }  // attend to nothing
                let total = expShifted(p, p, visible, shift: maximum(p, visible))
                nmt_scale(p, visible, 1 / total)
                continue
            }
            let visible = mask.causal ? min(keys, mask.queryOffset + i + 1) : keys
            if let padding {
                let pad = padding + b * keys
                for j in 0..<visible where pad[j] != 0 { p[j] = -.infinity }
            }
            for j in visible..<keys { p[j] = -.infinity }
            let m = maximum(p, keys)
            if m == -.infinity {  // every key masked: attend to nothing
                for j in 0..<keys { p[j] = 0 }
                continue
            }
            let total = expShifted(p, p, keys, shift: m)
            nmt_scale(p, keys, 1 / total)
        }
    }
}

/// Turns dP into dS in place, given the forward pass's probabilities P.
public func attentionSoftmaxBackward(_ dProbs: Tensor, probs: Tensor, rows: Int, keys: Int) {
    checkShape(dProbs.count == probs.count && probs.count == rows * keys, "attentionSoftmaxBackward: dP vs P", dProbs.shape, probs.shape)
    let d = dProbs.pointer, p = probs.pointer
    Threads.parallelChunks(rows, minChunk: 32) { range in
        for r in range {
            nmt_softmax_backward_row(d + r * keys, p + r * keys, keys)
        }
    }
}
