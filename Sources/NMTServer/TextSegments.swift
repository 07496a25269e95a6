// TextSegments: a request's texts as the sentences a model translates, and the translations put
// back in their place. A text is translated line by line, keeping its line breaks (and a "\r"
// before one); a line longer than the model's positions is cut at sentence ends (., !, ?, …, 。
// followed by white space, or 。！？ alone), packing as many sentences into each piece as fit —
// a sentence that alone is too long is cut between words, and a word that alone is too long is
// truncated to the model — so nothing a user sends is silently dropped. A line that fits is one
// piece, exactly as `nmt translate` would read it.

import NMT

struct TextSegments {
    /// One piece of a line to translate, and the white space that followed it in the line.
    struct Piece {
        var ids: [Int32]
        var blank: Bool
        var separator: Substring
    }

    struct Line {
        var pieces: Range<Int>
        var lineEnd: Substring
    }

    private(set) var pieces: [Piece] = []
    /// Lines of each text.
    private(set) var texts: [[Line]] = []

    /// `limit`: the most tokens a piece may have (the translator's lengthLimit).
    init(_ texts: [String], encoder: inout any TokenEncoder, limit: Int) {
        for text in texts {
            var lines: [Line] = []
            // Lines split on the scalar "\n" (as a Character, "\r\n" is one grapheme and not "\n").
            for scalars in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
                let carriage = scalars.last == "\r"
                let line = String(String.UnicodeScalarView(carriage ? scalars.dropLast() : scalars))
                let first = pieces.count
                for (part, separator) in TextSegments.cut(line[...], encoder: &encoder, limit: limit) {
                    pieces.append(Piece(ids: part.ids, blank: Translator.isBlank(String(part.text)), separator: separator))
                }
                lines.append(Line(pieces: first ..< pieces.count, lineEnd: carriage ? "\r" : ""))
            }
            self.texts.append(lines)
        }
    }

    var sources: [[Int32]] { pieces.map(\.ids) }
    /// The pieces of each text.
    var textPieces: [Range<Int>] { texts.map { ($0.first?.pieces.lowerBound ?? 0) ..< ($0.last?.pieces.upperBound ?? 0) } }
    var blank: [Bool] { pieces.map(\.blank) }

    /// Each text again, with piece i replaced by `translation(i)`.
    func assemble(_ translation: (Int) -> String) -> [String] {
        texts.map { lines in
            lines.map { line in
                line.pieces.map { translation($0) + pieces[$0].separator }.joined() + line.lineEnd
            }.joined(separator: "\n")
        }
    }

    // MARK: cutting long lines

    private typealias Part = (text: Substring, ids: [Int32])

    /// `line` as pieces of at most `limit` tokens, each with the white space after it.
    private static func cut(_ line: Substring, encoder: inout any TokenEncoder, limit: Int) -> [(Part, Substring)] {
        let whole = encoder.encode(String(line))
        if whole.count <= limit { return [((line, whole), "")] }
        var result: [(Part, Substring)] = []
        for (sentence, space) in split(line, at: sentenceEnds(in: line)) {
            let ids = encoder.encode(String(sentence))
            if ids.count <= limit {
                result.append(((sentence, ids), space))
            } else {  // its words (merged below while they fit); a word alone too long is truncated
                for (word, gap) in split(sentence, at: wordEnds(in: sentence)) {
                    result.append(((word, Array(encoder.encode(String(word)).prefix(limit))), gap))
                }
                if let last = result.indices.last { result[last].1 = space }
            }
        }
        return merge(result, in: line, encoder: &encoder, limit: limit)
    }

    /// Consecutive parts joined while the joined text still fits.
    private static func merge(_ parts: [(Part, Substring)], in line: Substring, encoder: inout any TokenEncoder, limit: Int) -> [(Part, Substring)] {
        var merged: [(Part, Substring)] = []
        for (part, space) in parts {
            if let (last, _) = merged.last, !last.text.isEmpty {
                let joined = line[last.text.startIndex ..< part.text.endIndex]
                let ids = encoder.encode(String(joined))
                if ids.count <= limit {
                    merged[merged.count - 1] = ((joined, ids), space)
                    continue
                }
            }
            merged.append((part, space))
        }
        return merged
    }

    /// `text` cut after each index in `ends` into (text, following white space) pairs.
    private static func split(_ text: Substring, at ends: [Substring.Index]) -> [(Substring, Substring)] {
        var parts: [(Substring, Substring)] = []
        var start = text.startIndex
        for end in ends + [text.endIndex] where end > start {
            var next = end
            while next < text.endIndex, text[next].isWhitespace { next = text.index(after: next) }
            parts.append((text[start ..< end], text[end ..< next]))
            start = next
        }
        if start < text.endIndex { parts.append((text[start...], "")) }
        return parts
    }

    /// Positions just after a sentence's final punctuation (and closing quotes or brackets)
    /// that white space follows, or after 。！？ anywhere.
    private static func sentenceEnds(in text: Substring) -> [Substring.Index] {
        var ends: [Substring.Index] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            var after = text.index(after: i)
            if "。！？".contains(c) {
                ends.append(after)
            } else if ".!?…".contains(c) {
                while after < text.endIndex, "\"'”’»)]".contains(text[after]) { after = text.index(after: after) }
                if after < text.endIndex, text[after].isWhitespace { ends.append(after) }
            }
            i = after
        }
        return ends
    }

    /// Positions at the end of each word (before white space).
    private static func wordEnds(in text: Substring) -> [Substring.Index] {
        var ends: [Substring.Index] = []
        var i = text.startIndex
        while i < text.endIndex {
            let next = text.index(after: i)
            if !text[i].isWhitespace, next < text.endIndex, text[next].isWhitespace { ends.append(next) }
            i = next
        }
        return ends
    }
}
