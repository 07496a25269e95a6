// subword-nmt compatibility (Sennrich et al.'s learn-bpe / apply-bpe, codes format 0.2).
//
// Input is pre-tokenized text split on single spaces. A word is its characters with `</w>`
// fused to the last one ("low" → l o w</w>). Codes files start with "#version: 0.2" and list
// one merge "left right" per line. Applied output joins a word's pieces with "@@ ".
// Behaviour follows subword_nmt/learn_bpe.py and apply_bpe.py exactly, including whitespace:
// words come from `line.strip('\r\n ').split(' ')`, empty words (runs of spaces) are dropped,
// leading and trailing "\r\n " of a line are copied through, one-character words are left whole.

import Foundation

public enum SubwordNMT {
    public static let endOfWord = "</w>"
    public static let separator = "@@"

    /// Words of a line as subword-nmt sees them.
    static func words(_ line: Substring.UnicodeScalarView) -> [Substring.UnicodeScalarView] {
        let stripped = strip(line)
        return stripped.split(separator: " ", omittingEmptySubsequences: true)
    }

    @inline(__always)
    static func isStripped(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" || c == " " }

    static func strip(_ line: Substring.UnicodeScalarView) -> Substring.UnicodeScalarView {
        var start = line.startIndex, end = line.endIndex
        while start < end && isStripped(line[start]) { start = line.index(after: start) }
        while end > start && isStripped(line[line.index(before: end)]) { end = line.index(before: end) }
        return line[start..<end]
    }

    /// Learns merges from word frequencies of `files` (subword-nmt learn-bpe -s `merges`).
    public static func learn(files: [String], merges: Int, minFrequency: Int) throws -> [BPELearner.Merge] {
        var counts: [[UInt32]: Int] = [:]
        var order: [[UInt32]] = []
        for path in files {
            let reader = try LineReader(path: path)
            while let line = try reader.nextString() {
                for word in words(Substring(line).unicodeScalars) {
                    let key = word.map(\.value)
                    if let c = counts[key] { counts[key] = c + 1 } else { counts[key] = 1; order.append(key) }
                }
            }
        }
        if order.isEmpty { throw NMTError("\(files.joined(separator: ", ")): no words to learn from (empty corpus)") }
        var symbols: [String] = []
        var symbolIds: [[UInt32]: Int32] = [:]
        func id(_ scalars: [UInt32]) -> Int32 {
            if let id = symbolIds[scalars] { return id }
            let id = Int32(symbols.count)
            symbols.append(String(String.UnicodeScalarView(scalars.map { Unicode.Scalar($0)! })))
            symbolIds[scalars] = id
            return id
        }
        let endScalars = endOfWord.unicodeScalars.map(\.value)
        let words: [([Int32], Int)] = order.map { word in
            var ids = word.dropLast().map { id([$0]) }
            ids.append(id([word.last!] + endScalars))
            return (ids, counts[word]!)
        }
        var learner = BPELearner(symbols: symbols, words: words)
        return learner.learn(merges: merges, minFrequency: minFrequency)
    }

    /// The codes file text: "#version: 0.2" then one "left right" line per merge.
    public static func codesText(_ merges: [BPELearner.Merge]) -> String {
        "#version: 0.2\n" + merges.map { "\($0.left) \($0.right)\n" }.joined()
    }

    /// Applies subword-nmt codes to pre-tokenized text. A value: each copy (one per thread) keeps its
    /// own cache of words, and they share the merges.
    public struct Codes: Sendable {
        public let version: (Int, Int)
        /// Merge rank by pair (first occurrence wins, as in apply_bpe.py).
        private(set) var ranks: [Pair: Int] = [:]
        /// The merges in rank order (first occurrences), as `left right`.
        private(set) var merges: [Pair] = []
        private var cache: [[UInt32]: [String]] = [:]

        struct Pair: Hashable, Sendable {
            var left: [UInt32]
            var right: [UInt32]
        }

        public init(path: String) throws {
            try self.init(codesText: try readTextFile(path: path), source: path)
        }

        /// Parses a codes file's text (lines end at "\n"; each line's "\r\n " is stripped, as apply_bpe.py does).
        public init(codesText: String, source: String) throws {
            var lines = codesText.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if lines.last == "" { lines.removeLast() }
            try self.init(lines: lines, source: source)
        }

        /// Parses the lines of a codes file; errors name `source` and the line.
        public init(lines: [String], source path: String) throws {
            var version = (0, 1)
            var rank = 0
            for (index, line) in lines.enumerated() {
                let lineNumber = index + 1
                if lineNumber == 1 && line.hasPrefix("#version:") {
                    let number = line.dropFirst("#version:".count).trimmingCharacters(in: .whitespacesAndNewlines)
                    let parts = number.split(separator: ".").compactMap { Int($0) }
                    guard parts.count == 2, (parts[0], parts[1]) == (0, 1) || (parts[0], parts[1]) == (0, 2) else {
                        throw NMTError("\(path):1: unsupported codes version '\(number)' (expected 0.1 or 0.2)")
                    }
                    version = (parts[0], parts[1])
                    continue
                }
                let fields = strip(Substring(line).unicodeScalars).split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                    throw NMTError("\(path):\(lineNumber): malformed merge line (expected two symbols separated by one space)")
                }
                let pair = Pair(left: fields[0].map(\.value), right: fields[1].map(\.value))
                if ranks[pair] == nil { ranks[pair] = rank; merges.append(pair) }
                rank += 1
            }
            self.version = version
        }

        /// apply_bpe.py's process_line for one line without its "\n".
        public mutating func apply(line: String, dropout: Double = 0, rng: inout RandomGenerator) -> String {
            let scalars = Substring(line).unicodeScalars
            var out = ""
            var leadingEnd = scalars.startIndex
            while leadingEnd < scalars.endIndex && isStripped(scalars[leadingEnd]) { leadingEnd = scalars.index(after: leadingEnd) }
            out.unicodeScalars.append(contentsOf: scalars[scalars.startIndex..<leadingEnd])
            var pieces: [String] = []
            for word in SubwordNMT.words(scalars) {
                let segments = encode(word.map(\.value), dropout: dropout, rng: &rng)
                for piece in segments.dropLast() { pieces.append(piece + SubwordNMT.separator) }
                pieces.append(segments.last!)
            }
            out += pieces.joined(separator: " ")
            var trailingStart = scalars.endIndex
            while trailingStart > scalars.startIndex && isStripped(scalars[scalars.index(before: trailingStart)]) {
                trailingStart = scalars.index(before: trailingStart)
            }
            if trailingStart > scalars.startIndex {  // not when the whole line is whitespace
                out.unicodeScalars.append(contentsOf: scalars[trailingStart..<scalars.endIndex])
            }
            return out
        }

        /// apply_bpe.py's encode(): repeatedly merge the lowest-ranked pair present.
        mutating func encode(_ word: [UInt32], dropout: Double, rng: inout RandomGenerator) -> [String] {
            if dropout == 0, let cached = cache[word] { return cached }
            func text(_ s: [UInt32]) -> String { String(String.UnicodeScalarView(s.map { Unicode.Scalar($0)! })) }
            if word.count == 1 { return [text(word)] }
            let end = SubwordNMT.endOfWord.unicodeScalars.map(\.value)
            var symbols: [[UInt32]] = version == (0, 1) ? word.map { [$0] } + [end] : word.dropLast().map { [$0] } + [[word.last!] + end]
            while symbols.count > 1 {
                // Pairs that survive dropout this round (Provilkov et al. 2020); the lowest rank wins,
                // and every surviving occurrence of it is merged, left to right without overlap.
                var candidates: [(rank: Int, position: Int)] = []
                for k in 0..<(symbols.count - 1) {
                    if dropout > 0 && Double(rng.nextUnitFloat()) <= dropout { continue }
                    if let rank = ranks[Pair(left: symbols[k], right: symbols[k + 1])] { candidates.append((rank, k)) }
                }
                guard let bestRank = candidates.map(\.rank).min() else { break }
                let positions = candidates.filter { $0.rank == bestRank }.map(\.position)
                var merged: [[UInt32]] = []
                var k = 0
                for position in positions where position >= k {
                    merged.append(contentsOf: symbols[k..<position])
                    merged.append(symbols[position] + symbols[position + 1])
                    k = position + 2
                }
                merged.append(contentsOf: symbols[k...])
                symbols = merged
            }
            if symbols.last! == end {
                symbols.removeLast()
            } else if symbols.last!.count > end.count && Array(symbols.last!.suffix(end.count)) == end {
                symbols[symbols.count - 1].removeLast(end.count)
            }
            let result = symbols.map(text)
            if dropout == 0 { cache[word] = result }
            return result
        }
    }
}

extension SubwordNMT {
    /// Undoes subword-nmt segmentation: `sed -r 's/(@@ )|(@@ ?$)//g'`.
    /// subword-nmt's `sed -r 's/(@@ )|(@@ ?$)//g'`, on bytes (a space followed by a combining
    /// mark is one Character, but "@@ " before it is still a join).
    public static func decode(_ line: String) -> String {
        let bytes = Array(line.utf8), marker = Array((separator + " ").utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == marker[0], i + marker.count <= bytes.count, Array(bytes[i..<i + marker.count]) == marker {
                i += marker.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        if out.count >= 2 && out.suffix(2).elementsEqual(separator.utf8) { out.removeLast(2) }
        return String(decoding: out, as: UTF8.self)
    }
}
