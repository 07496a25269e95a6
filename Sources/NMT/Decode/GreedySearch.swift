// Greedy search (beam 1), and the path search it shares with sampling: each hypothesis is one
// path, extended at every step by one chosen token — the argmax (greedy) or a draw
// (SamplingSearch.swift). A path ends at </s> or at its maximum length (where </s> is forced)
// and leaves the decoder then. Its score is beam search's: Σ log p / lp(|Y|). A target prefix is
// forced first; repetition guards apply after it.

/// Beam 1: the argmax at every step (ties: the lower id).
func greedySearch<Model: SearchModel>(model: Model, _ sources: [[Int32]], contexts: [SentenceContext], maxLengths: [Int], options: SearchOptions,
                                      workspace: DecodingWorkspace) -> [[Hypothesis]] {
    pathSearch(model: model, sources, contexts: contexts, maxLengths: maxLengths, options: options, paths: 1, workspace: workspace) { row, v, _ in
        var best = Vocabulary.endOfSentence  // the first id after <pad>, <unk>, <s>, which are never generated
        for j in (Int(best) + 1)..<v where row[j] > row[Int(best)] { best = Int32(j) }
        return best
    }
}

/// `paths` paths per sentence (path p of sentence s is row s·paths + p at the start), each
/// extended by `choose(logits, v, path)`; a sentence's finished paths, best score first (equal
/// scores in path order).
func pathSearch<Model: SearchModel>(model: Model, _ sources: [[Int32]], contexts: [SentenceContext], maxLengths: [Int], options: SearchOptions,
                                    paths n: Int, workspace: DecodingWorkspace,
                                    choose: (_ logits: UnsafeMutablePointer<Float>, _ v: Int, _ path: Int) -> Int32) -> [[Hypothesis]] {
    let b = sources.count, v = model.config.vocabularySize
    let sentenceOf = (0..<(b * n)).map { $0 / n }
    let state = model.start(sources: sources, sentenceOf: n == 1 ? nil : sentenceOf, maxLength: maxLengths.max()!, capacity: nil, workspace: workspace)
    var tokens = [[Int32]](repeating: [], count: b * n)
    var attention = [[Float]](repeating: [], count: b * n)
    var logProbabilities = [Double](repeating: 0, count: b * n)
    var live = Array(0..<(b * n))  // decoder row r is path live[r]
    var last = [Int32](repeating: Vocabulary.beginOfSentence, count: b * n)
    var results = [[(path: Int, hypothesis: Hypothesis)]](repeating: [], count: b)
    for t in 0..<maxLengths.max()! {
        let next = model.step(last, state: state, attention: options.recordAttention)
        var parents: [Int] = [], nextLive: [Int] = [], nextLast: [Int32] = []
        for (r, path) in live.enumerated() {
            let sentence = sentenceOf[path], prefix = contexts[sentence].prefix
            let row = next.logits.pointer + r * v
            if t >= prefix.count && options.repetition.isActive { options.repetition.apply(to: next, row: r, previous: tokens[path]) }
            let token: Int32
            if t < prefix.count {
                token = prefix[t]
            } else if t < maxLengths[sentence] - 1 {
                token = choose(row, v, path)
            } else {
                token = Vocabulary.endOfSentence
            }
            logProbabilities[path] += Double(row[Int(token)] - next.logZ[r])
            if options.recordAttention {
                attention[path] += next.attentionRow(r, sourceLength: state.sourceLength, count: state.sourcePositions(of: sentence))
            }
            if token == Vocabulary.endOfSentence {
                let lp = options.lengthPenaltyStyle.penalty(length: tokens[path].count + 1, alpha: options.lengthPenalty)
                results[sentence].append((path, Hypothesis(tokens: tokens[path], logProbability: logProbabilities[path],
                                                           score: logProbabilities[path] / lp, attention: options.recordAttention ? attention[path] : nil)))
            } else {
                tokens[path].append(token)
                parents.append(r)
                nextLive.append(path)
                nextLast.append(token)
            }
        }
        if nextLive.isEmpty { break }
        live = nextLive
        last = nextLast
        state.select(parents: parents)
    }
    return results.map { list in
        list.sorted { $0.hypothesis.score != $1.hypothesis.score ? $0.hypothesis.score > $1.hypothesis.score : $0.path < $1.path }.map(\.hypothesis)
    }
}
