// Batcher: the one way sentences are grouped into batches — for training, validation, translation
// and rescoring alike (as CTranslate2's rebatch_input). Sentences are taken in an order (input
// order, or by length so that a batch's sentences pad little) and cut into consecutive batches
// within a limit: a number of sentences, or of padded tokens — sentences × (longest + 1, for </s>
// or <s>), fairseq's --max-tokens. A sentence longer than the limit is a batch of its own.

/// How large a batch may be.
public enum BatchLimit: Sendable, Equatable {
    case sentences(Int)
    case tokens(Int)
}

public enum Batcher {
    /// The sentences `order` names, cut into batches within `limit`; `length(i)` is sentence i's
    /// token count (the longer side of a pair), without </s>.
    public static func batches(_ order: [Int], length: (Int) -> Int, limit: BatchLimit) -> [[Int]] {
        var batches: [[Int]] = []
        var current: [Int] = []
        var longest = 0
        for i in order {
            let padded = length(i) + 1
            let full: Bool
            switch limit {
            case .sentences(let n): full = current.count + 1 > n
            case .tokens(let n): full = (current.count + 1) * max(longest, padded) > n
            }
            if !current.isEmpty && full {
                batches.append(current)
                current = []
                longest = 0
            }
            current.append(i)
            longest = max(longest, padded)
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// Indices of `lengths` from shortest to longest, ties in input order.
    public static func byLength(_ lengths: [Int]) -> [Int] {
        lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] < lengths[$1] : $0 < $1 }
    }

    /// The training batches of one epoch, fairseq-style: sentences shuffled, then stably sorted by
    /// (target, source) length — so equal lengths come in a new random order each epoch — cut by
    /// padded tokens, and the batch order shuffled. A corpus part of weight w contributes its pairs
    /// ⌊w⌋ times and a random (w − ⌊w⌋) of them once more. Everything derives from (seed, epoch),
    /// so a resumed run rebuilds the same plan.
    public static func epoch(_ corpus: ParallelCorpus, maxTokens: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var rng = RandomGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
        var order = Array(0..<corpus.count)
        if corpus.parts.contains(where: { $0.weight != 1 }) {
            order = []
            for part in corpus.parts {
                for _ in 0..<Int(part.weight) { order += part.range }
                let extra = Int(((part.weight - part.weight.rounded(.down)) * Double(part.range.count)).rounded())
                if extra > 0 {
                    var picks = Array(part.range)
                    picks.shuffle(using: &rng)
                    order += picks.prefix(extra)
                }
            }
        }
        order.shuffle(using: &rng)
        let lengths = (0..<corpus.count).map { (corpus.sourceLength($0), corpus.targetLength($0)) }  // by pair, not by place in `order`
        order = order.enumerated().sorted {
            let a = lengths[$0.element], b = lengths[$1.element]
            if a.1 != b.1 { return a.1 < b.1 }
            if a.0 != b.0 { return a.0 < b.0 }
            return $0.offset < $1.offset
        }.map(\.element)
        var batches = Batcher.batches(order, length: { max(lengths[$0].0, lengths[$0].1) }, limit: .tokens(maxTokens))
        batches.shuffle(using: &rng)
        return batches
    }
}
