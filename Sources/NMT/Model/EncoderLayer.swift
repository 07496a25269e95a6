// One encoder layer (Vaswani et al. 2017, §3.1): self-attention over the source, then the
// position-wise feed-forward network, each inside a Sublayer (residual + LayerNorm).
//   x ← Sublayer(x, SelfAttention(·, padding mask));  x ← Sublayer(x, FeedForward)
// Forward keeps what backward needs; backward runs the two sub-layers in reverse.

struct EncoderLayerActivations {
    var attentionBlock: Sublayer
    var attention: AttentionActivations
    var feedForwardBlock: Sublayer
    var feedForward: FeedForwardActivations
}

struct EncoderLayer {
    let weights: EncoderLayerWeights
    let config: TransformerConfig

    /// x [B·S, C] → the layer's output (in the arena); `padding` [B, S] marks source padding.
    func forward(_ x: inout Tensor, batch: Int, length: Int, padding: UnsafePointer<UInt8>, dropout: DropoutSampler?,
                 arena: Arena) -> EncoderLayerActivations {
        let w = weights
        var attentionBlock = Sublayer.begin(x, norm: w.selfAttentionNorm, preNorm: config.preNorm, rounded: BF16Matmul.inPass, arena: arena)
        let attentionOut = arena.tensor(x.shape)
        let attention = MultiHeadAttention.forward(attentionOut, query: attentionBlock.functionInput, keyValue: attentionBlock.functionInput,
                                                   weights: w.selfAttention, batch: batch, queries: length, heads: config.heads,
                                                   mask: AttentionMask(keyPadding: padding), dropout: dropout, arena: arena)
        x = attentionBlock.end(attentionOut, norm: w.selfAttentionNorm, dropout: dropout, arena: arena)
        var feedForwardBlock = Sublayer.begin(x, norm: w.finalNorm, preNorm: config.preNorm, rounded: BF16Matmul.inPass, arena: arena)
        let feedForwardOut = arena.tensor(x.shape)
        let feedForward = FeedForward.forward(feedForwardOut, feedForwardBlock.functionInput, weights: w.feedForward,
                                              activation: config.activation, dropout: dropout, arena: arena)
        x = feedForwardBlock.end(feedForwardOut, norm: w.finalNorm, dropout: dropout, arena: arena)
        return EncoderLayerActivations(attentionBlock: attentionBlock, attention: attention,
                                       feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    /// Given the gradient at the layer's output in `d`, leaves the gradient at its input there:
    /// each sub-layer turns d from its output's gradient into its input's (Sublayer), so no new
    /// buffer is written (and first read for ownership) per sub-layer.
    func backward(_ d: Tensor, _ a: EncoderLayerActivations, gradients g: EncoderLayerWeights, arena: Arena) {
        let w = weights
        let dFeedForward = a.feedForwardBlock.backwardEnd(d, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena)
        let dFeedForwardIn = a.feedForwardBlock.inputGradient(d, arena: arena)
        FeedForward.backward(dx: dFeedForwardIn.gradient, accumulate: dFeedForwardIn.accumulate, dy: dFeedForward.gradient,
                             dyDropout: dFeedForward.dropout, a.feedForward, weights: w.feedForward, gradients: g.feedForward,
                             activation: config.activation, arena: arena)
        a.feedForwardBlock.backwardBegin(dFunctionInput: dFeedForwardIn.gradient, d, norm: w.finalNorm, normGradients: g.finalNorm)

        let dAttention = a.attentionBlock.backwardEnd(d, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm, arena: arena)
        let dAttentionIn = a.attentionBlock.inputGradient(d, arena: arena)
        MultiHeadAttention.backward(dQuery: dAttentionIn.gradient, dKeyValue: dAttentionIn.gradient, accumulate: dAttentionIn.accumulate,
                                    dOut: dAttention.gradient, dOutDropout: dAttention.dropout, a.attention, weights: w.selfAttention,
                                    gradients: g.selfAttention, heads: config.heads, arena: arena)
        a.attentionBlock.backwardBegin(dFunctionInput: dAttentionIn.gradient, d, norm: w.selfAttentionNorm,
                                       normGradients: g.selfAttentionNorm)
    }
}
