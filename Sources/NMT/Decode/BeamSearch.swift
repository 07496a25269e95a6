// Beam search with length penalty over a batch of sentences, each with its own beam
// (fairseq's SequenceGenerator semantics):
//   - each step scores every open hypothesis's continuations and keeps the best 2·beam candidates
//     per sentence, so hypotheses that end do not starve the beam;
//   - an </s> candidate among the best `beam` is finished; the best `beam` other candidates
//     continue; a sentence stops once `beam` hypotheses have finished (no open hypothesis ranked
//     above them when they did), or at its maximum length (a·|x| + b), where </s> is forced;
//   - the final score is Σ log p / lp(|Y|) with </s> counted in |Y|:
//     average: lp = |Y|^α (fairseq, CTranslate2);  gnmt: lp = ((5 + |Y|)/6)^α (Wu et al. 2016);
//   - a target prefix is forced token by token (its log-probabilities count, as CTranslate2's
//     target_prefix), the beam opening after it; repetition guards (RepetitionGuards.swift)
//     adjust the logits of the steps after it.
// Beam 1 takes the greedy path (GreedySearch.swift), sampling its own (SamplingSearch.swift).
// Ties break by candidate order, so results are deterministic. The model is run through its step API (TransformerStep.swift); this file holds
// only search logic.

import CKernels
import Foundation

/// Searches translations for `sources` (token ids without </s>); returns `nbest` hypotheses each,
/// best first. `contexts` (one per source; default: no prefix, line = position in `sources`) give
/// each sentence's target prefix, which every hypothesis starts with, and its line index, which
/// picks its sampling streams.
public func beamSearch<Model: SearchModel>(model: Model, sources: [[Int32]], contexts: [SentenceContext]? = nil, options: SearchOptions,
                       alwaysUseBeamPath: Bool = false, workspace: DecodingWorkspace = DecodingWorkspace()) -> [[Hypothesis]] {
    if sources.isEmpty { return [] }
    let b = sources.count
    let contexts = contexts ?? sources.indices.map { SentenceContext(line: $0) }
    let prefixes = contexts.map(\.prefix)
    let maxLengths = zip(sources, prefixes).map {
        options.maxLength(sourceLength: $0.count + 1, prefixLength: $1.count, modelLimit: model.config.maxPositions)
    }
    let longest = maxLengths.max()!
    let k = max(1, options.beam)
    if options.sampling != nil {
        return samplingSearch(model: model, sources, contexts: contexts, maxLengths: maxLengths, options: options, workspace: workspace)
    }
    if options.style == .marian {
        return marianBeamSearch(model: model, sources, prefixes: prefixes, maxLengths: maxLengths, options: options, workspace: workspace)
    }
    if k == 1 && !alwaysUseBeamPath {
        return greedySearch(model: model, sources, contexts: contexts, maxLengths: maxLengths, options: options, workspace: workspace)
    }

    // Row slot·width + j of the decoder is hypothesis j of sentence live[slot]; finished sentences
    // leave the decoder, so each step only computes hypotheses that are still searching. The
    // first step decodes one row per sentence (every beam starts from the same <s>), width 1.
    var live = Array(0..<b)
    var width = 1
    let state = model.start(sources: sources, maxLength: longest, capacity: b * k, workspace: workspace)
    let v = model.config.vocabularySize
    let eos = Vocabulary.endOfSentence
    var tokens = [[Int32]](repeating: [], count: b)
    var scores = [Double](repeating: 0, count: b)
    var finished = [[Hypothesis]](repeating: [], count: b)
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b)
    var candidates: [(score: Double, row: Int, token: Int32)] = []
    // With options.recordAttention: each row's attention rows so far.
    var attention = [[Float]](repeating: [], count: b)

    func finalize(_ sentence: Int, _ prefix: [Int32], _ logProbability: Double, _ attention: [Float]?) {
        let lp = options.lengthPenaltyStyle.penalty(length: prefix.count + 1, alpha: options.lengthPenalty)
        finished[sentence].append(Hypothesis(tokens: prefix, logProbability: logProbability, score: logProbability / lp, attention: attention))
    }

    for t in 0..<longest {
        let next = model.step(last, state: state, attention: options.recordAttention)
        let (logits, logZ) = (next.logits, next.logZ)
        var parents: [Int] = [], nextLive: [Int] = []
        var nextTokens: [[Int32]] = [], nextScores: [Double] = [], nextLast: [Int32] = [], nextAttention: [[Float]] = []
        func rowAttention(_ r: Int) -> [Float] {
            guard options.recordAttention else { return [] }
            return attention[r] + next.attentionRow(r, sourceLength: state.sourceLength, count: state.sourcePositions(of: live[r / width]))
        }
        for (slot, sentence) in live.enumerated() {
            let base = slot * width
            let forced: Int32? = t < prefixes[sentence].count ? prefixes[sentence][t] : nil
            if forced == nil && options.repetition.isActive {
                for r in base..<(base + width) where scores[r] > -.infinity { options.repetition.apply(to: next, row: r, previous: tokens[r]) }
            }
            if t == maxLengths[sentence] - 1 {
                // Maximum length: every open hypothesis ends here with </s>.
                for r in base..<(base + width) where scores[r] > -.infinity {
                    finalize(sentence, tokens[r], scores[r] + Double(logits[r * v + Int(eos)] - logZ[r]),
                             options.recordAttention ? rowAttention(r) : nil)
                }
                continue
            }
            // The best 2k continuations of each live row, then the best 2k of those (only the
            // prefix's token while the prefix lasts).
            candidates.removeAll(keepingCapacity: true)
            for r in base..<(base + width) where scores[r] > -.infinity {
                if let forced {
                    candidates.append((scores[r] + Double(logits[r * v + Int(forced)] - logZ[r]), r, forced))
                    continue
                }
                for (token, logit) in topK(logits.pointer + r * v, v, 2 * k) {
                    candidates.append((scores[r] + Double(logit - logZ[r]), r, token))
                }
            }
            candidates.sort { $0.score != $1.score ? $0.score > $1.score : ($0.row != $1.row ? $0.row < $1.row : $0.token < $1.token) }
            var kept = 0
            for (rank, candidate) in candidates.prefix(2 * k).enumerated() {
                if candidate.token == eos {
                    if rank < k { finalize(sentence, tokens[candidate.row], candidate.score, options.recordAttention ? rowAttention(candidate.row) : nil) }
                    continue
                }
                if kept < k && finished[sentence].count < k {
                    parents.append(candidate.row)
                    nextTokens.append(tokens[candidate.row] + [candidate.token])
                    nextScores.append(candidate.score)
                    nextLast.append(candidate.token)
                    nextAttention.append(rowAttention(candidate.row))
                    kept += 1
                }
            }
            if finished[sentence].count >= k || kept == 0 {
                // Done: its rows leave the decoder.
                parents.removeLast(kept); nextTokens.removeLast(kept); nextScores.removeLast(kept); nextLast.removeLast(kept)
                nextAttention.removeLast(kept)
                continue
            }
            for _ in kept..<k {
                parents.append(base)
                nextTokens.append([])
                nextScores.append(-.infinity)
                nextLast.append(Vocabulary.padding)
                nextAttention.append([])
            }
            nextLive.append(sentence)
        }
        if nextLive.isEmpty { break }
        live = nextLive
        width = k
        tokens = nextTokens
        scores = nextScores
        last = nextLast
        attention = nextAttention
        state.select(parents: parents)
    }
    return finished.map { list in
        Array(list.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
            .map(\.element).prefix(max(1, options.nbest)))
    }
}

extension StepLogits {
    /// Row r's alignment attention over its sentence's first `count` source positions (of `sourceLength`).
    func attentionRow(_ r: Int, sourceLength: Int, count: Int) -> [Float] {
        guard let attention else { return [] }
        return Array(UnsafeBufferPointer(start: attention + r * sourceLength, count: count))
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
