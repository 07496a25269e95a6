// Word alignments for guided-alignment training (Marian's --guided-alignment): a Moses-format line
// per sentence pair, "i-j …" linking source word i to target word j (0-based, words = the
// whitespace-separated words of the two lines, as fast_align and eflomal print them and
// `nmt translate --alignments hard` prints them), carried onto the pairs' tokens for a batch:
//   - every token of source word i is linked to every token of target word j (subword pieces
//     carried as Mozilla's translation pipeline remaps word alignments to SentencePiece pieces);
//   - the source's </s> is linked to the target's </s> (Marian adds this link to every pair);
//   - each target token's links share weight 1: a = 1/(its links) (Marian's
//     WordAlignment::normalize), so the loss (GuidedAlignmentLoss.swift) is a cross-entropy
//     per aligned target token.

/// One link of a batch: decoder position `target` of pair `pair` should attend to source position
/// `source` with weight `weight`.
public struct AlignmentLink: Sendable, Equatable {
    public var pair: Int32
    public var target: Int32
    public var source: Int32
    public var weight: Float
}

public enum AlignmentLinks {
    /// The word links of a Moses-format line ("0-0 1-2 …"; empty: none), each within
    /// `sourceWords` × `targetWords`, as a flat [s₀, t₀, s₁, t₁, …]; or what is wrong with it.
    public static func parse(_ line: Substring, sourceWords: Int, targetWords: Int) -> Result<[Int32], NMTError> {
        var links: [Int32] = []
        for field in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
            let ends = field.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 2, let s = Int32(ends[0]), let t = Int32(ends[1]), s >= 0, t >= 0,
                  ends.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.first != "+" }) else {
                return .failure(NMTError("'\(field.prefix(40))' is not a link i-j of a source and a target word index"))
            }
            guard s < sourceWords else { return .failure(NMTError("link \(field) names source word \(s) but the source line has \(sourceWords) words")) }
            guard t < targetWords else { return .failure(NMTError("link \(field) names target word \(t) but the target line has \(targetWords) words")) }
            links += [s, t]
        }
        return .success(links)
    }

    /// Checks a whole alignment file against its pair of text files: one line per pair, every
    /// link within the pair's words; the error names file:line.
    public static func check(_ path: String, sourcePath: String, targetPath: String) throws {
        let (alignments, sources, targets) = (try LineReader(path: path), try LineReader(path: sourcePath), try LineReader(path: targetPath))
        var line = 0
        while let s = try sources.nextString(), let t = try targets.nextString() {
            line += 1
            guard let links = try alignments.nextString() else { break }
            if case .failure(let error) = parse(Substring(links), sourceWords: wordCount(s), targetWords: wordCount(t)) {
                throw NMTError("\(path):\(line): \(error.message)")
            }
        }
        let (pairs, lines) = (try ParallelCorpus.countLines(sourcePath), try ParallelCorpus.countLines(path))
        guard lines == pairs else {
            throw NMTError("\(path) has \(lines) lines but \(sourcePath) has \(pairs); the alignment needs one line per sentence pair")
        }
    }

    /// Whitespace-separated words of a line (what the links' indices count).
    public static func wordCount(_ line: String) -> Int {
        line.split(whereSeparator: \.isWhitespace).count
    }

    /// The links of pair `pair` (word links `words` as `parse` returns them) on its tokens: each
    /// token's word is given by `sourceWords` / `targetWords` (Tokenizer.wordIndices of the
    /// pair's tokens, without </s>), and </s> sits at positions sourceWords.count and
    /// targetWords.count. Links to tokens beyond the pair's (a truncated sentence) are dropped.
    public static func tokenLinks(pair: Int, words: ArraySlice<Int32>, sourceWords: [Int], targetWords: [Int]) -> [AlignmentLink] {
        func tokensOfWord(_ wordOfToken: [Int]) -> [Int: [Int32]] {
            var tokens: [Int: [Int32]] = [:]
            for (position, word) in wordOfToken.enumerated() { tokens[word, default: []].append(Int32(position)) }
            return tokens
        }
        let sourceTokens = tokensOfWord(sourceWords), targetTokens = tokensOfWord(targetWords)
        var linked = Set<[Int32]>()
        var i = words.startIndex
        while i + 1 < words.endIndex {
            for t in targetTokens[Int(words[i + 1])] ?? [] {
                for s in sourceTokens[Int(words[i])] ?? [] { linked.insert([t, s]) }
            }
            i += 2
        }
        linked.insert([Int32(targetWords.count), Int32(sourceWords.count)])
        var perTarget: [Int32: Int] = [:]
        for link in linked { perTarget[link[0], default: 0] += 1 }
        return linked.sorted { $0[0] != $1[0] ? $0[0] < $1[0] : $0[1] < $1[1] }.map {
            AlignmentLink(pair: Int32(pair), target: $0[0], source: $0[1], weight: 1 / Float(perTarget[$0[0]]!))
        }
    }
}
