// Batch: B sentence pairs as padded id matrices, with fairseq's conventions —
//   source        [B, S]: x_1 … x_m </s> <pad> …
//   targetInput   [B, T]: <s> y_1 … y_n <pad> …     (what the decoder reads)
//   targetOutput  [B, T]: y_1 … y_n </s> <pad> …    (what it must predict)

public struct Batch: Sendable {
    public let size: Int
    public let sourceLength: Int
    public let targetLength: Int
    public var source: [Int32]
    public var targetInput: [Int32]
    public var targetOutput: [Int32]
    /// Guided-alignment links (AlignmentLinks): decoder position t of pair b attends to source
    /// position s; empty without guided alignment.
    public var alignment: [AlignmentLink] = []

    /// `pairs` hold BPE token ids without specials.
    public init(pairs: [(source: [Int32], target: [Int32])]) {
        size = pairs.count
        sourceLength = (pairs.map(\.source.count).max() ?? 0) + 1
        targetLength = (pairs.map(\.target.count).max() ?? 0) + 1
        let pad = Vocabulary.padding
        source = [Int32](repeating: pad, count: size * sourceLength)
        targetInput = [Int32](repeating: pad, count: size * targetLength)
        targetOutput = [Int32](repeating: pad, count: size * targetLength)
        for (b, pair) in pairs.enumerated() {
            for (i, id) in pair.source.enumerated() { source[b * sourceLength + i] = id }
            source[b * sourceLength + pair.source.count] = Vocabulary.endOfSentence
            targetInput[b * targetLength] = Vocabulary.beginOfSentence
            for (i, id) in pair.target.enumerated() {
                targetInput[b * targetLength + i + 1] = id
                targetOutput[b * targetLength + i] = id
            }
            targetOutput[b * targetLength + pair.target.count] = Vocabulary.endOfSentence
        }
    }

    /// Non-pad target tokens (the loss is normalised by this).
    public var targetTokens: Int { targetOutput.reduce(0) { $0 + ($1 == Vocabulary.padding ? 0 : 1) } }
    public var sourceTokens: Int { source.reduce(0) { $0 + ($1 == Vocabulary.padding ? 0 : 1) } }
}
