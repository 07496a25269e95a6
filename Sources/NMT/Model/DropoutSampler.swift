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
    /// The generator the masks are drawn from.
    public var rng: RandomGenerator
    /// With a seed, every training batch draws from its own generator (`startBatch`).
    private let seed: UInt64?

    /// One generator for every mask drawn.
    public init(config: TransformerConfig, rng: RandomGenerator) {
        residual = config.dropout
        attention = config.attentionDropout
        activation = config.activationDropout
        self.rng = rng
        seed = nil
    }

    /// A generator per training batch, made from `seed`, the update and the batch's place in it.
    public init(config: TransformerConfig, seed: UInt64) {
        residual = config.dropout
        attention = config.attentionDropout
        activation = config.activationDropout
        rng = RandomGenerator(seed: seed)
        self.seed = seed
    }

    /// Batch `batch` of update `update` draws its masks from a generator that depends on nothing
    /// else: the same masks whichever rank of a data-parallel run computes it, and after a resume.
    func startBatch(update: Int, batch: Int) {
        guard let seed else { return }
        rng = RandomGenerator(seed: seed ^ mix64(UInt64(update) &* 0x1_0000_0000 &+ UInt64(batch)))
    }

    /// y = dropout(x) with probability p (y may be x), the mask in `arena`; nil (and no draw) when p = 0.
    func apply(_ y: Tensor, _ x: Tensor, probability p: Float, arena: Arena) -> DropoutMask? {
        apply(y, x, probability: p, kept: p > 0 ? arena.bytes(x.count) : nil)
    }

    /// The same with the mask in `kept` (x.count bytes, or nil when p = 0): for callers that
    /// allocate it before temporaries they free.
    func apply(_ y: Tensor, _ x: Tensor, probability p: Float, kept: UnsafeMutablePointer<UInt8>?) -> DropoutMask? {
        guard p > 0, let kept else { return nil }
        return dropoutForward(y, x, kept: kept, probability: p, rng: &rng)
    }

    /// For a kernel that fuses the mask into another pass: the mask `apply` would draw into `kept`
    /// (the same number taken from the generator), or nil (and no draw) when p = 0.
    func fusedMask(probability p: Float, kept: UnsafeMutablePointer<UInt8>?) -> FusedDropout? {
        guard p > 0, let kept else { return nil }
        require(p < 1, "dropout: probability \(p) outside [0, 1)")
        return FusedDropout(kept: kept, stream: rng.next(), probability: p)
    }

    /// The same with the mask in `arena` (none allocated, and no draw, when p = 0).
    func fusedMask(probability p: Float, count: Int, arena: Arena) -> FusedDropout? {
        fusedMask(probability: p, kept: p > 0 ? arena.bytes(count) : nil)
    }
}

/// A dropout mask a kernel draws while it does something else (`reluDropoutToBFloat16`): the
/// draws `dropoutForward` would make.
struct FusedDropout {
    var kept: UnsafeMutablePointer<UInt8>
    var stream: UInt64
    var probability: Float
    /// 1/(1−p), as `dropoutForward` computes it.
    var scale: Float { 1 / (1 - probability) }
}

/// SplitMix64's output function (Steele et al. 2014): distinct inputs give unrelated 64-bit values.
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
