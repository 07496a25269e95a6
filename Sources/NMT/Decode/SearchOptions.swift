// What a search is asked for (beam, length penalty, n-best, maximum length) and what it finds.

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
    public init() {}

    /// Maximum target length (tokens, </s> included) for a source of `sourceLength` tokens (</s> included).
    func maxLength(sourceLength: Int, modelLimit: Int) -> Int {
        let length = maxLengthA * Double(sourceLength) + maxLengthB
        return max(1, length.isFinite ? Int(min(length, Double(modelLimit - 1))) : modelLimit - 1)
    }
}

public struct Hypothesis: Sendable {
    /// Target token ids without <s> and </s>.
    public var tokens: [Int32]
    /// Σ log p over the tokens and </s> (natural log).
    public var logProbability: Double
    /// logProbability / lp(|tokens| + 1).
    public var score: Double
}

