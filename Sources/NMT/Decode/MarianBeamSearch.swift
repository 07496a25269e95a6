// Marian's beam search (translator/beam_search.cpp, history.h), for models imported from Marian,
// so that `nmt translate` gives what `marian-decoder` gives:
//   - every sentence starts with one hypothesis and a beam of `beam` places; each step ranks the
//     continuations of its live hypotheses (path score + log p, float32 as Marian adds them) and
//     keeps the best as many as its beam has places;
//   - a kept hypothesis ending in </s> is finished, scored path / |Y|^α (|Y| counts </s>;
//     α = Marian's --normalize, nmt's --length-penalty), and leaves the beam, which shrinks by one;
//   - at the maximum length every kept hypothesis is finished as it stands (no </s> forced), and a
//     sentence ends when its beam is empty;
//   - the n best finished hypotheses by score are the result.
// <pad>, <unk> and <s> are never generated (Marian suppresses <unk>; the others are nmt's).
// A target prefix is forced first (Marian has none; as nmt's own search); repetition guards apply
// after it.

import Foundation

/// An open hypothesis of Marian's search.
private struct MarianLive {
    var tokens: [Int32]
    var score: Float
    var logProbability: Double
    var attention: [Float] = []
}

func marianBeamSearch<Model: SearchModel>(model: Model, _ sources: [[Int32]], prefixes: [[Int32]], maxLengths: [Int], options: SearchOptions,
                      workspace: DecodingWorkspace) -> [[Hypothesis]] {
    let b = sources.count, k = max(1, options.beam), v = model.config.vocabularySize
    let eos = Vocabulary.endOfSentence
    let state = model.start(sources: sources, maxLength: maxLengths.max()!, capacity: b * k, workspace: workspace)
    // Sentence `live[i]` owns decoder rows rowsStart[i]..<rowsStart[i] + beams[i].count, and `places[i]` beam places.
    var live = Array(0..<b)
    var beams = [[MarianLive]](repeating: [MarianLive(tokens: [], score: 0, logProbability: 0)], count: b)
    var places = [Int](repeating: k, count: b)
    var finished = [[(hypothesis: Hypothesis, score: Float)]](repeating: [], count: b)
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b)
    var candidates: [(score: Float, row: Int, token: Int32, logp: Float)] = []
    for t in 0..<maxLengths.max()! {
        let next = model.step(last, state: state, attention: options.recordAttention)
        var parents: [Int] = [], nextLive: [Int] = [], nextBeams: [[MarianLive]] = [], nextPlaces: [Int] = []
        last.removeAll(keepingCapacity: true)
        var row = 0
        for (slot, sentence) in live.enumerated() {
            let beam = beams[slot], base = row
            row += beam.count
            candidates.removeAll(keepingCapacity: true)
            let forced: Int32? = t < prefixes[sentence].count ? prefixes[sentence][t] : nil
            for (i, hypothesis) in beam.enumerated() {
                let r = base + i
                if let forced {
                    candidates.append((hypothesis.score + next.logits[r * v + Int(forced)] - next.logZ[r], r, forced, next.logits[r * v + Int(forced)] - next.logZ[r]))
                    continue
                }
                if options.repetition.isActive { options.repetition.apply(to: next, row: r, previous: hypothesis.tokens) }
                for (token, logit) in topK(next.logits.pointer + r * v, v, places[slot]) {
                    let logp = logit - next.logZ[r]
                    candidates.append((hypothesis.score + logp, r, token, logp))
                }
            }
            candidates.sort { $0.score != $1.score ? $0.score > $1.score : ($0.row != $1.row ? $0.row < $1.row : $0.token < $1.token) }
            let atMaximum = t == maxLengths[sentence] - 1
            var survivors: [MarianLive] = []
            for candidate in candidates.prefix(places[slot]) {
                let parent = beam[candidate.row - base]
                let logProbability = parent.logProbability + Double(candidate.logp)
                let attention = options.recordAttention
                    ? parent.attention + next.attentionRow(candidate.row, sourceLength: state.sourceLength, count: state.sourcePositions(of: sentence)) : []
                if candidate.token == eos || atMaximum {
                    let tokens = candidate.token == eos ? parent.tokens : parent.tokens + [candidate.token]
                    let score = candidate.score / Float(pow(Double(t + 1), options.lengthPenalty))
                    finished[sentence].append((Hypothesis(tokens: tokens, logProbability: logProbability, score: Double(score),
                                                          attention: options.recordAttention ? attention : nil), score))
                } else {
                    survivors.append(MarianLive(tokens: parent.tokens + [candidate.token], score: candidate.score, logProbability: logProbability,
                                          attention: attention))
                    parents.append(candidate.row)
                    last.append(candidate.token)
                }
            }
            if survivors.isEmpty { continue }
            nextLive.append(sentence)
            nextBeams.append(survivors)
            nextPlaces.append(survivors.count)
        }
        if nextLive.isEmpty { break }
        (live, beams, places) = (nextLive, nextBeams, nextPlaces)
        state.select(parents: parents)
    }
    return finished.map { list in
        Array(list.enumerated().sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
            .map(\.element.hypothesis).prefix(max(1, options.nbest)))
    }
}
