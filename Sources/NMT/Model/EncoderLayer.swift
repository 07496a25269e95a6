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
                 compute: Compute, arena: Arena) -> EncoderLayerActivations {
        let w = weights
        let (attentionBlock, attention) = Sublayer.forward(&x, norm: w.selfAttentionNorm, preNorm: config.preNorm, dropout: dropout,
                                                           compute: compute, arena: arena) { input, out in
            MultiHeadAttention.forward(out, query: input, keyValue: input, weights: w.selfAttention, batch: batch, queries: length, heads: config.heads,
                                       mask: AttentionMask(keyPadding: padding), dropout: dropout, compute: compute, arena: arena)
        }
        let (feedForwardBlock, feedForward) = Sublayer.forward(&x, norm: w.finalNorm, preNorm: config.preNorm, dropout: dropout,
                                                               compute: compute, arena: arena) { input, out in
            FeedForward.forward(out, input, weights: w.feedForward, activation: config.activation, dropout: dropout, compute: compute, arena: arena)
        }
        return EncoderLayerActivations(attentionBlock: attentionBlock, attention: attention,
                                       feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    /// Given the gradient at the layer's output in `d`, leaves the gradient at its input there:
    /// each sub-layer turns d from its output's gradient into its input's (Sublayer), so no new
    /// buffer is written (and first read for ownership) per sub-layer.
    func backward(_ d: Tensor, _ a: EncoderLayerActivations, gradients g: EncoderLayerWeights, compute: Compute, arena: Arena) {
        let w = weights
        a.feedForwardBlock.backward(d, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena) { dOut, dropout, dIn, accumulate in
            FeedForward.backward(dx: dIn, accumulate: accumulate, dy: dOut, dyDropout: dropout, a.feedForward, weights: w.feedForward,
                                 gradients: g.feedForward, activation: config.activation, compute: compute, arena: arena)
        }
        a.attentionBlock.backward(d, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm, arena: arena) { dOut, dropout, dIn, accumulate in
            MultiHeadAttention.backward(dQuery: dIn, dKeyValue: dIn, accumulate: accumulate, dOut: dOut, dOutDropout: dropout, a.attention,
                                        weights: w.selfAttention, gradients: g.selfAttention, heads: config.heads, compute: compute, arena: arena)
        }
    }
}
