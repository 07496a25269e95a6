// Beam search with length penalty over a batch of sentences, each with its own beam
// (fairseq's SequenceGenerator semantics):
//   - each step scores every open hypothesis's continuations and keeps the best 2·beam candidates
//     per sentence, so hypotheses that end do not starve the beam;
//   - an </s> candidate among the best `beam` is finished; the best `beam` other candidates
//     continue; a sentence stops once `beam` hypotheses have finished (no open hypothesis ranked
//     above them when they did), or at its maximum length (a·|x| + b), where </s> is forced;
//   - the final score is Σ log p / lp(|Y|) with </s> counted in |Y|:
//     average: lp = |Y|^α (fairseq, CTranslate2);  gnmt: lp = ((5 + |Y|)/6)^α (Wu et al. 2016).
// Beam 1 takes the greedy path (GreedySearch.swift). Ties break by candidate order, so results
// are deterministic. The model is run through its step API (TransformerStep.swift); this file holds
// only search logic.

import CKernels
import Foundation

/// Searches translations for `sources` (token ids without </s>); returns `nbest` hypotheses each,
/// best first.
public func beamSearch(model: Transformer, sources: [[Int32]], options: SearchOptions, alwaysUseBeamPath: Bool = false,
                       workspace: DecodingWorkspace = DecodingWorkspace()) -> [[Hypothesis]] {
    if sources.isEmpty { return [] }
    let b = sources.count
    let maxLengths = sources.map { options.maxLength(sourceLength: $0.count + 1, modelLimit: model.config.maxPositions) }
    let longest = maxLengths.max()!
    let encoded = model.encode(sources: sources, arena: workspace.batch)
    let k = max(1, options.beam)
    if options.style == .marian { return marianBeamSearch(model: model, encoded, maxLengths: maxLengths, options: options, workspace: workspace) }
    if k == 1 && !alwaysUseBeamPath { return greedySearch(model: model, encoded, maxLengths: maxLengths, options: options, workspace: workspace) }

    // Row slot·width + j of the decoder is hypothesis j of sentence live[slot]; finished sentences
    // leave the decoder, so each step only computes hypotheses that are still searching. The
    // first step decodes one row per sentence (every beam starts from the same <s>), width 1.
    var live = Array(0..<b)
    var width = 1
    let state = model.decoderState(for: encoded, maxLength: longest, capacity: b * k, workspace: workspace)
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
        let next = model.step(last, state: state)
        let (logits, logZ) = (next.logits, next.logZ)
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
        state.select(parents: parents)
    }
    return finished.map { list in
        Array(list.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
            .map(\.element).prefix(max(1, options.nbest)))
    }
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
