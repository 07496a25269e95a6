// What a search is asked for (beam, length penalty, n-best, maximum length, sampling, repetition
// guards, alignments), what it knows of each sentence (a target prefix, the line's index) and
// what it finds.

import Foundation

public enum LengthPenaltyStyle: String, CaseIterable, Sendable {
    case average, gnmt

    public func penalty(length: Int, alpha: Double) -> Double {
        switch self {
        case .average: return pow(Double(length), alpha)
        case .gnmt: return pow((5 + Double(length)) / 6, alpha)
        }
    }
}

public struct SearchOptions: Sendable {
    /// nmt's (fairseq's) beam search or Marian's (TransformerConfig.SearchStyle).
    public var style = TransformerConfig.SearchStyle.nmt
    public var beam = 5
    public var lengthPenalty = 1.0
    public var lengthPenaltyStyle = LengthPenaltyStyle.average
    public var nbest = 1
    public var maxLengthA = 1.5
    public var maxLengthB = 10.0
    /// A further bound: at most ratio·|x| target tokens (</s> included, |x| without it), when given.
    public var maxLengthRatio: Double? = nil
    /// Draw instead of search (beam 1 per sample; `nbest` samples per line).
    public var sampling: Sampling? = nil
    /// Logits are divided by it before sampling.
    public var temperature = 1.0
    /// The sampling streams' seed: a line's samples depend on it, the line's index and the model only.
    public var seed: UInt64 = 0
    /// Guards against repetition loops (RepetitionGuards.swift).
    public var repetition = RepetitionGuards()
    /// Record the cross-attention of every output token (for `Translation.alignment`).
    public var recordAttention = false
    public init() {}

    /// Maximum target length (tokens, </s> included) for a source of `sourceLength` tokens (</s>
    /// included), with room for a target prefix of `prefixLength` tokens and its </s>:
    /// ⌊a·|x| + b⌋ (fairseq's), or in Marian's search ⌈a·|x|⌉ + b with a·|x| in float32 (Marian ends
    /// a sentence once its tokens number ≥ max-length-factor × the source's length, beam_search.cpp).
    func maxLength(sourceLength: Int, prefixLength: Int = 0, modelLimit: Int) -> Int {
        var length = style == .marian
            ? Double((Float(maxLengthA) * Float(sourceLength)).rounded(.up)) + maxLengthB
            : maxLengthA * Double(sourceLength) + maxLengthB
        if let ratio = maxLengthRatio { length = min(length, (ratio * Double(sourceLength - 1)).rounded(.up)) }
        let bounded = max(1, length.isFinite ? Int(min(length, Double(modelLimit - 1))) : modelLimit - 1)
        return min(max(bounded, prefixLength + 1), modelLimit - 1)
    }
}

/// How a sampling search draws each token (Fan et al. 2018; Holtzman et al. 2020), from the
/// softmax of logits / temperature: `full` from the whole vocabulary, `topK` from the k likeliest
/// tokens, `topP` from the smallest set of likeliest tokens whose probability reaches p.
public enum Sampling: Sendable, Equatable {
    case full
    case topK(Int)
    case topP(Double)

    /// "full", "topk:K" or "topp:P", as `nmt translate --sampling` takes it.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count) {
        case ("full", 1): self = .full
        case ("topk", 2): guard let k = Int(parts[1]), k >= 1 else { return nil }; self = .topK(k)
        case ("topp", 2): guard let p = Double(parts[1]), p > 0, p <= 1 else { return nil }; self = .topP(p)
        default: return nil
        }
    }
}

/// What a search knows of one sentence besides its source tokens.
public struct SentenceContext: Sendable {
    /// Target tokens the output must start with; the search continues after them.
    public var prefix: [Int32] = []
    /// The line's index in its input: with the seed, it picks the line's sampling streams.
    public var line = 0
    public init(prefix: [Int32] = [], line: Int = 0) {
        self.prefix = prefix
        self.line = line
    }
}

public struct Hypothesis: Sendable {
    /// Target token ids without <s> and </s>.
    public var tokens: [Int32]
    /// Σ log p over the tokens and </s> (natural log).
    public var logProbability: Double
    /// logProbability / lp(|tokens| + 1).
    public var score: Double
    /// With `SearchOptions.recordAttention`: the alignment attention [|tokens| + 1, |x| + 1] — a row
    /// for each output token and </s>, over the source tokens and </s>.
    public var attention: [Float]? = nil
}

