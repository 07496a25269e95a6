// DropoutSampler: the dropout of a training pass — the model's three rates (residual, attention,
// activation) and the one seeded generator every mask is drawn from, in the order the forward pass
// meets them. Inference passes none: no generator exists on inference paths, and a pass without a
// sampler is deterministic by construction.

public final class DropoutSampler {
    /// After each sub-layer (before the residual add) and on the embeddings.
    public let residual: Float
    /// On attention probabilities.
    public let attention: Float
    /// After the feed-forward activation.
    public let activation: Float
    /// The generator (its state is saved with checkpoints, so a resumed run draws the same masks).
    public var rng: RandomGenerator

    public init(config: TransformerConfig, rng: RandomGenerator) {
        residual = config.dropout
        attention = config.attentionDropout
        activation = config.activationDropout
        self.rng = rng
    }

    /// y = dropout(x) with probability p (y may be x), the mask in `arena`; nil (and no draw) when p = 0.
    func apply(_ y: Tensor, _ x: Tensor, probability p: Float, arena: Arena) -> DropoutMask? {
        guard p > 0 else { return nil }
        return dropoutForward(y, x, kept: arena.bytes(x.count), probability: p, rng: &rng)
    }
}
