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
    func forward(_ y: inout Tensor, memory: LinearInput?, cache: DecoderLayerCache? = nil, batch: Int, queries: Int,
                 selfMask: AttentionMask, crossMask: AttentionMask, dropout: DropoutSampler?, arena: Arena) -> DecoderLayerActivations {
        let w = weights
        var selfBlock = Sublayer.begin(y, norm: w.selfAttentionNorm, preNorm: config.preNorm, rounded: BF16Matmul.inPass, arena: arena)
        let selfOut = arena.tensor(y.shape)
        let selfAttention = MultiHeadAttention.forward(selfOut, query: selfBlock.functionInput, keyValue: selfBlock.functionInput,
                                                       cache: cache?.selfAttention, weights: w.selfAttention, batch: batch, queries: queries,
                                                       heads: config.heads, mask: selfMask, dropout: dropout, arena: arena)
        y = selfBlock.end(selfOut, norm: w.selfAttentionNorm, dropout: dropout, arena: arena)
        var crossBlock = Sublayer.begin(y, norm: w.crossAttentionNorm, preNorm: config.preNorm, rounded: BF16Matmul.inPass, arena: arena)
        let crossOut = arena.tensor(y.shape)
        let crossAttention = MultiHeadAttention.forward(crossOut, query: crossBlock.functionInput, keyValue: memory,
                                                        cache: cache?.crossAttention, weights: w.crossAttention, batch: batch, queries: queries,
                                                        heads: config.heads, mask: crossMask, dropout: dropout, arena: arena)
        y = crossBlock.end(crossOut, norm: w.crossAttentionNorm, dropout: dropout, arena: arena)
        var feedForwardBlock = Sublayer.begin(y, norm: w.finalNorm, preNorm: config.preNorm, rounded: BF16Matmul.inPass, arena: arena)
        let feedForwardOut = arena.tensor(y.shape)
        let feedForward = FeedForward.forward(feedForwardOut, feedForwardBlock.functionInput, weights: w.feedForward,
                                              activation: config.activation, dropout: dropout, arena: arena)
        y = feedForwardBlock.end(feedForwardOut, norm: w.finalNorm, dropout: dropout, arena: arena)
        return DecoderLayerActivations(selfAttentionBlock: selfBlock, selfAttention: selfAttention, crossAttentionBlock: crossBlock,
                                       crossAttention: crossAttention, feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    /// Given the gradient at the layer's output in `d`, leaves the gradient at its input there
    /// (sub-layer by sub-layer, as EncoderLayer.backward does) and adds the encoder output's share
    /// to `dMemory`.
    func backward(_ d: Tensor, _ a: DecoderLayerActivations, gradients g: DecoderLayerWeights, dMemory: Tensor, arena: Arena) {
        let w = weights
        let dFeedForward = a.feedForwardBlock.backwardEnd(d, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena)
        let dFeedForwardIn = a.feedForwardBlock.inputGradient(d, arena: arena)
        FeedForward.backward(dx: dFeedForwardIn.gradient, accumulate: dFeedForwardIn.accumulate, dy: dFeedForward.gradient,
                             dyDropout: dFeedForward.dropout, a.feedForward, weights: w.feedForward, gradients: g.feedForward,
                             activation: config.activation, arena: arena)
        a.feedForwardBlock.backwardBegin(dFunctionInput: dFeedForwardIn.gradient, d, norm: w.finalNorm, normGradients: g.finalNorm)

        let dCross = a.crossAttentionBlock.backwardEnd(d, norm: w.crossAttentionNorm, normGradients: g.crossAttentionNorm, arena: arena)
        let dCrossIn = a.crossAttentionBlock.inputGradient(d, arena: arena)
        MultiHeadAttention.backward(dQuery: dCrossIn.gradient, dKeyValue: dMemory, accumulate: dCrossIn.accumulate, dOut: dCross.gradient,
                                    dOutDropout: dCross.dropout, a.crossAttention, weights: w.crossAttention, gradients: g.crossAttention,
                                    heads: config.heads, arena: arena)
        a.crossAttentionBlock.backwardBegin(dFunctionInput: dCrossIn.gradient, d, norm: w.crossAttentionNorm,
                                            normGradients: g.crossAttentionNorm)

        let dSelf = a.selfAttentionBlock.backwardEnd(d, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm, arena: arena)
        let dSelfIn = a.selfAttentionBlock.inputGradient(d, arena: arena)
        MultiHeadAttention.backward(dQuery: dSelfIn.gradient, dKeyValue: dSelfIn.gradient, accumulate: dSelfIn.accumulate,
                                    dOut: dSelf.gradient, dOutDropout: dSelf.dropout, a.selfAttention, weights: w.selfAttention,
                                    gradients: g.selfAttention, heads: config.heads, arena: arena)
        a.selfAttentionBlock.backwardBegin(dFunctionInput: dSelfIn.gradient, d, norm: w.selfAttentionNorm,
                                           normGradients: g.selfAttentionNorm)
    }
}
