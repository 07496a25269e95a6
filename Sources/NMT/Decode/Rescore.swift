// Forced decoding: log p(y | x) of given pairs with the training forward pass (dropout off, no
// label smoothing) — Marian's scorer and fairseq's --score-reference. `Translator.rescore` runs it.

public struct ForcedScore: Sendable {
    /// Σ log p over the target tokens and </s> (natural log).
    public var logProbability: Double
    /// Target tokens counting </s>.
    public var tokens: Int
}
