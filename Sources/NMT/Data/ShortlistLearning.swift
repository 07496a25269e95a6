// Learning a lexical shortlist from a parallel corpus, tokenized as the model reads it:
//   1. counts: target token frequencies, and for each source token the target tokens it shares a
//      sentence pair with (each pair counted once);
//   2. candidates: each source token's `candidates` target tokens of highest Dice coefficient
//      2·c(s, t) / (c(s) + c(t)) (the lexical table stays sparse);
//   3. IBM Model 1 (Brown et al. 1993) over the candidates, EM from uniform, with a NULL source
//      token: p(t | s) ∝ Σ_pairs Σ_{t_j = t} p(t | s) / Σ_{s' ∈ pair ∪ NULL} p(t | s');
//   4. best(s) = the `best` targets of highest p(t | s); frequent = the `frequent` most frequent
//      target tokens.
// Marian's shortlists come from fast_align's lexical table in the same way.

extension Shortlist {
    /// `pairs`: token ids of each sentence pair (no specials).
    public static func learn(pairs: [(source: [Int32], target: [Int32])], sourceVocabularySize: Int, targetVocabularySize: Int,
                             best: Int, frequent: Int, iterations: Int = 5, candidates: Int = 300, vocabularyChecksum: String) -> Shortlist {
        let null = sourceVocabularySize  // the NULL source token's index
        // 1. Counts.
        var targetCount = [Int](repeating: 0, count: targetVocabularySize)
        var sourceCount = [Int](repeating: 0, count: sourceVocabularySize)
        var together = [[Int32: Int32]](repeating: [:], count: sourceVocabularySize + 1)
        for (source, target) in pairs {
            let targets = Set(target)
            for t in target { targetCount[Int(t)] += 1 }
            for s in Set(source).union([Int32(null)]) {
                if Int(s) < sourceVocabularySize { sourceCount[Int(s)] += 1 }
                for t in targets { together[Int(s)][t, default: 0] += 1 }
            }
        }
        // 2. Candidates by Dice (NULL: by co-occurrence, i.e. frequency).
        var candidateTargets = [[Int32]](repeating: [], count: sourceVocabularySize + 1)
        var probability = [[Float]](repeating: [], count: sourceVocabularySize + 1)
        var index = [[Int32: Int]](repeating: [:], count: sourceVocabularySize + 1)
        for s in 0...null {
            let dice = together[s].map { t, c -> (Int32, Double) in
                let cs = s == null ? 0 : sourceCount[s]
                return (t, 2 * Double(c) / Double(cs + targetCount[Int(t)]))
            }
            let kept = dice.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(candidates).map(\.0)
            candidateTargets[s] = kept
            probability[s] = [Float](repeating: 1 / Float(max(kept.count, 1)), count: kept.count)
            index[s] = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        }
        together = []
        // 3. EM.
        for _ in 0..<iterations {
            var expected = candidateTargets.map { [Double](repeating: 0, count: $0.count) }
            var found: [(Int, Int, Float)] = []
            for (source, target) in pairs {
                let sources = source.map(Int.init) + [null]
                for t in target {
                    var total = 0.0
                    found.removeAll(keepingCapacity: true)
                    for s in sources {
                        if let i = index[s][t] { found.append((s, i, probability[s][i])); total += Double(probability[s][i]) }
                    }
                    guard total > 0 else { continue }
                    for (s, i, p) in found { expected[s][i] += Double(p) / total }
                }
            }
            for s in 0...null {
                let sum = expected[s].reduce(0, +)
                guard sum > 0 else { continue }
                probability[s] = expected[s].map { Float($0 / sum) }
            }
        }
        // 4. The table.
        var bestLists: [[Int32]] = []
        for s in 0..<sourceVocabularySize {
            let p = probability[s], targets = candidateTargets[s]
            let order = targets.indices.sorted { (a: Int, b: Int) -> Bool in p[a] != p[b] ? p[a] > p[b] : targets[a] < targets[b] }
            bestLists.append(order.prefix(best).map { targets[$0] })
        }
        let counted = (0..<targetVocabularySize).filter { targetCount[$0] > 0 }
        let byCount = counted.sorted { (a: Int, b: Int) -> Bool in targetCount[a] != targetCount[b] ? targetCount[a] > targetCount[b] : a < b }
        let frequentTargets = byCount.prefix(frequent).map { Int32($0) }
        return Shortlist(frequent: frequentTargets, best: bestLists, vocabularyChecksum: vocabularyChecksum, targetVocabularySize: targetVocabularySize)
    }
}
