// Word alignments of a translation from its alignment attention (Hypothesis.attention: a row per
// output token over the source tokens and </s>), as Marian's --alignment prints them:
//   hard: each output token is aligned to the source token it attends to most (Marian's
//     ConvertSoftAlignToHardAlign with threshold 1); the pairs are carried to words — the
//     whitespace-separated words of the source line and of the output, subword pieces merged
//     (Tokenizer.wordIndices) — tokens attending most to the source's </s> are left unaligned;
//     Moses format "s-t …", sorted by source word, then target word, each pair once;
//   soft: the attention matrix itself, token by token and </s> included, as Marian prints it —
//     a row per output position separated by spaces, its source weights by commas.

import Foundation

public enum AlignmentFormat: String, CaseIterable, Sendable {
    case hard, soft
}

public enum WordAlignment {
    /// The alignment of `target` (output tokens, no </s>) to `source` (source tokens, no </s>) from
    /// `attention` [rows, source.count + 1]; `sourceWords`/`targetWords` give each token's word.
    public static func format(_ format: AlignmentFormat, attention: [Float], source: [Int32], target: [Int32],
                              sourceWords: ([Int32]) -> [Int], targetWords: ([Int32]) -> [Int]) -> String {
        let s = source.count + 1
        let rows = attention.count / s
        switch format {
        case .soft:
            return (0..<rows).map { t in
                (0..<s).map { String(format: "%g", attention[t * s + $0]) }.joined(separator: ",")
            }.joined(separator: " ")
        case .hard:
            let sourceWords = sourceWords(source), targetWords = targetWords(target)
            var pairs = Set<Pair>()
            for t in 0..<min(rows, target.count) {
                var best = 0
                for j in 1..<s where attention[t * s + j] > attention[t * s + best] { best = j }
                if best < source.count { pairs.insert(Pair(source: sourceWords[best], target: targetWords[t])) }
            }
            return pairs.sorted().map { "\($0.source)-\($0.target)" }.joined(separator: " ")
        }
    }

    struct Pair: Hashable, Comparable {
        var source: Int, target: Int
        static func < (a: Pair, b: Pair) -> Bool { a.source != b.source ? a.source < b.source : a.target < b.target }
    }
}
