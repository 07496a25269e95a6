// Beam search with length penalty over a batch of sentences, each with its own beam
// (fairseq's SequenceGenerator semantics):
//   - each step scores every open hypothesis's continuations and keeps the best 2·beam candidates
//     per sentence, so hypotheses that end do not starve the beam;
//   - an </s> candidate among the best `beam` is finished; the best `beam` other candidates
//     continue; a sentence stops once `beam` hypotheses have finished (no open hypothesis ranked
//     above them when they did), or at its maximum length (a·|x| + b), where </s> is forced;
//   - the final score is Σ log p / lp(|Y|) with </s> counted in |Y|:
//     average: lp = |Y|^α (fairseq, CTranslate2);  gnmt: lp = ((5 + |Y|)/6)^α (Wu et al. 2016).
// Beam 1 takes the greedy path. Ties break by candidate order, so results are deterministic.

import CKernels
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

/// Searches translations for `sources` (token ids without </s>); returns `nbest` hypotheses each,
/// best first.
public func beamSearch(model: Transformer, sources: [[Int32]], options: SearchOptions, alwaysUseBeamPath: Bool = false,
                       workspace: DecodingWorkspace = DecodingWorkspace()) -> [[Hypothesis]] {
    if sources.isEmpty { return [] }
    let batch = Batch(pairs: sources.map { (source: $0, target: []) })
    let (b, s) = (batch.size, batch.sourceLength)
    let maxLengths = sources.map { options.maxLength(sourceLength: $0.count + 1, modelLimit: model.config.maxPositions) }
    let longest = maxLengths.max()!
    let (encoderOutput, padding) = model.encode(source: batch.source, batch: b, length: s, arena: workspace.batch)
    let k = max(1, options.beam)
    if k == 1 && !alwaysUseBeamPath { return greedy(model, encoderOutput, padding, sources: sources, maxLengths: maxLengths, options: options,
                                                               workspace: workspace) }

    // Row slot·width + j of the decoder is hypothesis j of sentence live[slot]; finished sentences
    // leave the decoder, so each step only computes hypotheses that are still searching. The
    // first step decodes one row per sentence (every beam starts from the same <s>), width 1.
    var live = Array(0..<b)
    var width = 1
    let decoder = IncrementalDecoder(model: model, encoderOutput: encoderOutput, sourcePadding: padding, sourceLength: s,
                                     sentenceOf: Array(0..<b), maxLength: longest, capacity: b * k, workspace: workspace)
    let v = model.config.vocabularySize
    let eos = Vocabulary.endOfSentence
    var tokens = [[Int32]](repeating: [], count: b)
    var scores = [Double](repeating: 0, count: b)
    var finished = [[Hypothesis]](repeating: [], count: b)
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b)
    var candidates: [(score: Double, row: Int, token: Int32)] = []

    func finalize(_ sentence: Int, _ prefix: [Int32], _ logProbability: Double) {
        let lp = options.lengthPenaltyStyle.penalty(length: prefix.count + 1, alpha: options.lengthPenalty)
        finished[sentence].append(Hypothesis(tokens: prefix, logProbability: logProbability, score: logProbability / lp))
    }

    for t in 0..<longest {
        let (logits, logZ) = decoder.stepLogits(last)
        var parents: [Int] = [], nextLive: [Int] = []
        var nextTokens: [[Int32]] = [], nextScores: [Double] = [], nextLast: [Int32] = []
        for (slot, sentence) in live.enumerated() {
            let base = slot * width
            if t == maxLengths[sentence] - 1 {
                // Maximum length: every open hypothesis ends here with </s>.
                for r in base..<(base + width) where scores[r] > -.infinity {
                    finalize(sentence, tokens[r], scores[r] + Double(logits[r * v + Int(eos)] - logZ[r]))
                }
                continue
            }
            // The best 2k continuations of each live row, then the best 2k of those.
            candidates.removeAll(keepingCapacity: true)
            for r in base..<(base + width) where scores[r] > -.infinity {
                for (token, logit) in topK(logits.pointer + r * v, v, 2 * k) {
                    candidates.append((scores[r] + Double(logit - logZ[r]), r, token))
                }
            }
            candidates.sort { $0.score != $1.score ? $0.score > $1.score : ($0.row != $1.row ? $0.row < $1.row : $0.token < $1.token) }
            var kept = 0
            for (rank, candidate) in candidates.prefix(2 * k).enumerated() {
                if candidate.token == eos {
                    if rank < k { finalize(sentence, tokens[candidate.row], candidate.score) }
                    continue
                }
                if kept < k && finished[sentence].count < k {
                    parents.append(candidate.row)
                    nextTokens.append(tokens[candidate.row] + [candidate.token])
                    nextScores.append(candidate.score)
                    nextLast.append(candidate.token)
                    kept += 1
                }
            }
            if finished[sentence].count >= k || kept == 0 {
                // Done: its rows leave the decoder.
                parents.removeLast(kept); nextTokens.removeLast(kept); nextScores.removeLast(kept); nextLast.removeLast(kept)
                continue
            }
            for _ in kept..<k {
                parents.append(base)
                nextTokens.append([])
                nextScores.append(-.infinity)
                nextLast.append(Vocabulary.padding)
            }
            nextLive.append(sentence)
        }
        if nextLive.isEmpty { break }
        live = nextLive
        width = k
        tokens = nextTokens
        scores = nextScores
        last = nextLast
        decoder.select(parents: parents)
    }
    return finished.map { list in
        Array(list.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
            .map(\.element).prefix(max(1, options.nbest)))
    }
}

/// Beam 1: the argmax at every step; finished sentences leave the decoder.
private func greedy(_ model: Transformer, _ encoderOutput: Tensor, _ padding: UnsafeMutablePointer<UInt8>,
                    sources: [[Int32]], maxLengths: [Int], options: SearchOptions, workspace: DecodingWorkspace) -> [[Hypothesis]] {
    let b = sources.count
    let s = encoderOutput.rows / b
    let decoder = IncrementalDecoder(model: model, encoderOutput: encoderOutput, sourcePadding: padding, sourceLength: s,
                                     sentenceOf: Array(0..<b), maxLength: maxLengths.max()!, workspace: workspace)
    let v = model.config.vocabularySize
    var tokens = [[Int32]](repeating: [], count: b)
    var logProbabilities = [Double](repeating: 0, count: b)
    var live = Array(0..<b)  // decoder row r is sentence live[r]
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b)
    var results = [Hypothesis?](repeating: nil, count: b)
    for t in 0..<maxLengths.max()! {
        let (logits, logZ) = decoder.stepLogits(last)
        var parents: [Int] = [], nextLive: [Int] = [], nextLast: [Int32] = []
        for (r, sentence) in live.enumerated() {
            let row = logits.pointer + r * v
            var best = Vocabulary.endOfSentence  // the first id after <pad>, <unk>, <s>, which are never generated
            if t < maxLengths[sentence] - 1 {
                for j in (Int(best) + 1)..<v where row[j] > row[Int(best)] { best = Int32(j) }
            }
            logProbabilities[sentence] += Double(row[Int(best)] - logZ[r])
            if best == Vocabulary.endOfSentence {
                let lp = options.lengthPenaltyStyle.penalty(length: tokens[sentence].count + 1, alpha: options.lengthPenalty)
                results[sentence] = Hypothesis(tokens: tokens[sentence], logProbability: logProbabilities[sentence],
                                               score: logProbabilities[sentence] / lp)
            } else {
                tokens[sentence].append(best)
                parents.append(r)
                nextLive.append(sentence)
                nextLast.append(best)
            }
        }
        if nextLive.isEmpty { break }
        live = nextLive
        last = nextLast
        decoder.select(parents: parents)
    }
    return results.map { [$0!] }
}

/// The `count` largest entries of x[3..<n] as (index, value), largest first (ties: lower index
/// first). Ids 0–2 (<pad>, <unk>, <s>) are never generated. (Kernels/top_k.c.)
func topK(_ x: UnsafePointer<Float>, _ n: Int, _ count: Int) -> [(Int32, Float)] {
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(count, 1)) { ids in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(count, 1)) { values in
            let found = nmt_top_k(ids.baseAddress!, values.baseAddress!, x, Int(Vocabulary.endOfSentence), n, count)
            return (0..<found).map { (ids[$0], values[$0]) }
        }
    }
}
