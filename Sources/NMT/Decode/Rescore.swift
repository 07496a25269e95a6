// Forced decoding: log p(y | x) of given pairs with the training forward pass (dropout off, no
// label smoothing) — Marian's scorer and fairseq's --score-reference.

public struct ForcedScore: Sendable {
    /// Σ log p over the target tokens and </s> (natural log).
    public var logProbability: Double
    /// Target tokens counting </s>.
    public var tokens: Int
}

public func rescore(model: Transformer, tokenizer: BPETokenizer, sources: [String], targets: [String], batchSize: Int) -> [ForcedScore] {
    var encoder = tokenizer.encoder()
    let limit = model.config.maxPositions - 2
    let pairs = zip(sources, targets).map { (source: Array(encoder.encode($0).prefix(limit)), target: Array(encoder.encode($1).prefix(limit))) }
    var results = [ForcedScore](repeating: ForcedScore(logProbability: 0, tokens: 0), count: pairs.count)
    let arena = Arena()
    var start = 0
    while start < pairs.count {
        let end = min(start + max(batchSize, 1), pairs.count)
        let batch = Batch(pairs: Array(pairs[start..<end]))
        let nll = model.score(batch, labelSmoothing: 0, arena: arena).tokenNLL
        for b in 0..<batch.size {
            var total = 0.0
            for t in 0..<batch.targetLength { total += Double(nll[b * batch.targetLength + t]) }
            results[start + b] = ForcedScore(logProbability: -total, tokens: pairs[start + b].target.count + 1)
        }
        start = end
    }
    return results
}
