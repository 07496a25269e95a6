// BatchPlan: the batches of one epoch, fairseq-style. Sentences are shuffled, then stably sorted
// by length (so equal lengths come in a new random order each epoch), cut into batches whose
// padded size — count × (longest side + 1 for </s> or <s>) — stays within maxTokens, and the batch
// order is shuffled. Everything derives from (seed, epoch), so a resumed run rebuilds the same plan.

public struct BatchPlan: Sendable {
    /// Sentence indices of each batch.
    public let batches: [[Int]]

    public init(corpus: ParallelCorpus, maxTokens: Int, seed: UInt64, epoch: Int) {
        var rng = RandomGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
        var order = Array(0..<corpus.count)
        order.shuffle(using: &rng)
        let lengths = (0..<corpus.count).map { (corpus.sourceLength($0), corpus.targetLength($0)) }
        order = order.enumerated().sorted {
            let a = lengths[$0.element], b = lengths[$1.element]
            if a.1 != b.1 { return a.1 < b.1 }
            if a.0 != b.0 { return a.0 < b.0 }
            return $0.offset < $1.offset
        }.map(\.element)
        var batches: [[Int]] = []
        var current: [Int] = []
        var longest = 0
        for i in order {
            let length = max(lengths[i].0, lengths[i].1) + 1
            if !current.isEmpty && (current.count + 1) * max(longest, length) > maxTokens {
                batches.append(current)
                current = []
                longest = 0
            }
            current.append(i)
            longest = max(longest, length)
        }
        if !current.isEmpty { batches.append(current) }
        batches.shuffle(using: &rng)
        self.batches = batches
    }
}
