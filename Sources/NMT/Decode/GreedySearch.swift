// Greedy search (beam 1): the argmax at every step; a sentence ends at </s> or at its maximum
// length (where </s> is forced), and leaves the decoder then. Its score is beam search's:
// Σ log p / lp(|Y|). A target prefix is forced first; repetition guards apply after it.

/// Beam 1: the argmax at every step; finished sentences leave the decoder.
func greedySearch<Model: SearchModel>(model: Model, _ sources: [[Int32]], prefixes: [[Int32]], maxLengths: [Int], options: SearchOptions,
                  workspace: DecodingWorkspace) -> [[Hypothesis]] {
    let b = sources.count
    let state = model.start(sources: sources, maxLength: maxLengths.max()!, workspace: workspace)
    let v = model.config.vocabularySize
    var tokens = [[Int32]](repeating: [], count: b)
    var attention = [[Float]](repeating: [], count: b)
    var logProbabilities = [Double](repeating: 0, count: b)
    var live = Array(0..<b)  // decoder row r is sentence live[r]
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b)
    var results = [Hypothesis?](repeating: nil, count: b)
    for t in 0..<maxLengths.max()! {
        let next = model.step(last, state: state, attention: options.recordAttention)
        let (logits, logZ) = (next.logits, next.logZ)
        var parents: [Int] = [], nextLive: [Int] = [], nextLast: [Int32] = []
        for (r, sentence) in live.enumerated() {
            let row = logits.pointer + r * v
            var best = Vocabulary.endOfSentence  // the first id after <pad>, <unk>, <s>, which are never generated
            if t >= prefixes[sentence].count && options.repetition.isActive {
                options.repetition.apply(to: next, row: r, previous: tokens[sentence])
            }
            if t < prefixes[sentence].count {
                best = prefixes[sentence][t]
            } else if t < maxLengths[sentence] - 1 {
                for j in (Int(best) + 1)..<v where row[j] > row[Int(best)] { best = Int32(j) }
            }
            logProbabilities[sentence] += Double(row[Int(best)] - logZ[r])
            if options.recordAttention {
                attention[sentence] += next.attentionRow(r, sourceLength: state.sourceLength, count: state.sourcePositions(of: sentence))
            }
            if best == Vocabulary.endOfSentence {
                let lp = options.lengthPenaltyStyle.penalty(length: tokens[sentence].count + 1, alpha: options.lengthPenalty)
                results[sentence] = Hypothesis(tokens: tokens[sentence], logProbability: logProbabilities[sentence],
                                               score: logProbabilities[sentence] / lp, attention: options.recordAttention ? attention[sentence] : nil)
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
        state.select(parents: parents)
    }
    return results.map { [$0!] }
}
