// One decoder layer (Vaswani et al. 2017, §3.1), the one implementation for training, rescoring
// and decoding: causal self-attention, attention over the encoder output, feed-forward, each
// inside a Sublayer (residual + LayerNorm).
//   y ← Sublayer(y, SelfAttention(·, causal));  y ← Sublayer(y, CrossAttention(·, memory));
//   y ← Sublayer(y, FeedForward)
// It runs over whole target sequences (y [B·T, C], keys and values projected from y and from the
// encoder output; activations kept for `backward`), or — given a `DecoderLayerCache`, as
// CTranslate2's layers take optional caches — one position per hypothesis (y [R, C]): this
// position's self-attention keys and values are appended to the cache, and the cross-attention
// keys and values, projected once per source sentence, are read from it.

struct DecoderLayerActivations {
    var selfAttentionBlock: Sublayer
    var selfAttention: AttentionActivations
    var crossAttentionBlock: Sublayer
    var crossAttention: AttentionActivations
    var feedForwardBlock: Sublayer
    var feedForward: FeedForwardActivations
}

/// A decoder layer's state while decoding one position per hypothesis.
struct DecoderLayerCache {
    var selfAttention: AttentionCache
    var crossAttention: AttentionCache
}

struct DecoderLayer {
    let weights: DecoderLayerWeights
    let config: TransformerConfig

    /// y [B·queries, C] → the layer's output. Whole sequences: `memory` is the encoder output
    /// [B·S, C] and `cache` nil. Decoding: `queries` is 1, `memory` nil and `cache` given.
    func forward(_ y: inout Tensor, memory: Matrix?, cache: DecoderLayerCache? = nil, batch: Int, queries: Int,
                 selfMask: AttentionMask, crossMask: AttentionMask, dropout: DropoutSampler?, compute: Compute, arena: Arena) -> DecoderLayerActivations {
        let w = weights
        let (selfBlock, selfAttention) = Sublayer.forward(&y, norm: w.selfAttentionNorm, preNorm: config.preNorm, dropout: dropout,
                                                          compute: compute, arena: arena) { input, out in
            MultiHeadAttention.forward(out, query: input, keyValue: input, cache: cache?.selfAttention, weights: w.selfAttention, batch: batch,
                                       queries: queries, heads: config.heads, mask: selfMask, dropout: dropout, compute: compute, arena: arena)
        }
        let (crossBlock, crossAttention) = Sublayer.forward(&y, norm: w.crossAttentionNorm, preNorm: config.preNorm, dropout: dropout,
                                                            compute: compute, arena: arena) { input, out in
            MultiHeadAttention.forward(out, query: input, keyValue: memory, cache: cache?.crossAttention, weights: w.crossAttention, batch: batch,
                                       queries: queries, heads: config.heads, mask: crossMask, dropout: dropout, compute: compute, arena: arena)
        }
        let (feedForwardBlock, feedForward) = Sublayer.forward(&y, norm: w.finalNorm, preNorm: config.preNorm, dropout: dropout,
                                                               compute: compute, arena: arena) { input, out in
            FeedForward.forward(out, input, weights: w.feedForward, activation: config.activation, dropout: dropout, compute: compute, arena: arena)
        }
        return DecoderLayerActivations(selfAttentionBlock: selfBlock, selfAttention: selfAttention, crossAttentionBlock: crossBlock,
                                       crossAttention: crossAttention, feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    /// Given the gradient at the layer's output in `d`, leaves the gradient at its input there
    /// (sub-layer by sub-layer, as EncoderLayer.backward does) and adds the encoder output's share
    /// to `dMemory`. `crossAttentionProbsGradient`: a loss's gradient at the cross-attention
    /// probabilities (guided alignment).
    func backward(_ d: Tensor, _ a: DecoderLayerActivations, gradients g: DecoderLayerWeights, dMemory: Tensor,
                  crossAttentionProbsGradient: SparseGradient? = nil, compute: Compute, arena: Arena) {
        let w = weights
        a.feedForwardBlock.backward(d, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena) { dOut, dropout, dIn, accumulate in
            FeedForward.backward(dx: dIn, accumulate: accumulate, dy: dOut, dyDropout: dropout, a.feedForward, weights: w.feedForward,
                                 gradients: g.feedForward, activation: config.activation, compute: compute, arena: arena)
        }
        a.crossAttentionBlock.backward(d, norm: w.crossAttentionNorm, normGradients: g.crossAttentionNorm, arena: arena) { dOut, dropout, dIn, accumulate in
            MultiHeadAttention.backward(dQuery: dIn, dKeyValue: dMemory, accumulate: accumulate, dOut: dOut, dOutDropout: dropout, a.crossAttention,
                                        weights: w.crossAttention, gradients: g.crossAttention, heads: config.heads,
                                        probsGradient: crossAttentionProbsGradient, compute: compute, arena: arena)
        }
        a.selfAttentionBlock.backward(d, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm, arena: arena) { dOut, dropout, dIn, accumulate in
            MultiHeadAttention.backward(dQuery: dIn, dKeyValue: dIn, accumulate: accumulate, dOut: dOut, dOutDropout: dropout, a.selfAttention,
                                        weights: w.selfAttention, gradients: g.selfAttention, heads: config.heads, compute: compute, arena: arena)
        }
    }
}
