// SubwordNMTTokenizer: subword-nmt codes (SubwordNMT.swift) as a model's tokenizer, for
// pre-tokenized text. A word's pieces are joined by "@@ " as apply_bpe.py writes them; the
// vocabulary is what the codes can produce — every symbol of the merges, word-final (its "</w>"
// dropped) or word-inner ("@@" added) as it ends or not — after the specials, in merge order.
// Characters the codes never name become <unk>. Decoding joins the pieces and undoes "@@ "
// (subword-nmt's `sed -r 's/(@@ )|(@@ ?$)//g'`).

import Foundation

public final class SubwordNMTTokenizer: Tokenizer {
    public let codes: SubwordNMT.Codes
    public let codesText: String
    public let vocabulary: Vocabulary

    public init(codesText: String, source: String) throws {
        codes = try SubwordNMT.Codes(codesText: codesText, source: source)
        self.codesText = codesText
        let end = SubwordNMT.endOfWord.unicodeScalars.map(\.value)
        func text(_ s: [UInt32]) -> String { String(String.UnicodeScalarView(s.map { Unicode.Scalar($0)! })) }
        /// The piece a symbol is output as: word-final without "</w>", else followed by "@@".
        func piece(_ s: [UInt32]) -> String? {
            if s.count >= end.count && Array(s.suffix(end.count)) == end {
                return s.count == end.count ? nil : text(Array(s.dropLast(end.count)))
            }
            return text(s) + SubwordNMT.separator
        }
        var tokens = Vocabulary.specials
        var seen = Set(tokens)
        func add(_ token: String?) {
            if let token, !Vocabulary.specials.contains(token), seen.insert(token).inserted { tokens.append(token) }
        }
        for pair in codes.merges {
            for side in [pair.left, pair.right] {
                // Every character of a symbol is a piece of its own somewhere: inner and word-final.
                let isFinal = side.count >= end.count && Array(side.suffix(end.count)) == end
                for c in isFinal ? Array(side.dropLast(end.count)) : side {
                    add(text([c]) + SubwordNMT.separator)
                    add(text([c]))
                }
                add(piece(side))
            }
            add(piece(pair.left + pair.right))
        }
        vocabulary = Vocabulary(tokens: tokens)
    }

    public var kind: TokenizerKind { .subwordNMT }
    public var data: String { codesText }

    public func makeEncoder(for side: TextSide) -> any TokenEncoder { SubwordNMTEncoder(codes: codes, vocabulary: vocabulary) }

    /// subword-nmt's own decoding: "@@ " removed.
    public func decode(segmented line: String) -> Result<String, NMTError> { .success(SubwordNMT.decode(line)) }

    /// A word ends at a piece without "@@".
    public func wordIndices(_ ids: [Int32], side: TextSide) -> [Int] {
        var word = -1, continues = false
        return ids.map { id in
            if !continues { word += 1 }
            continues = Int(id) < vocabulary.count && vocabulary[id].hasSuffix("@@")
            return word
        }
    }

    /// The pieces' text with "@@ " joins undone; specials are dropped.
    public func decode(_ ids: [Int32]) -> String {
        SubwordNMT.decode(ids.filter { $0 > Vocabulary.endOfSentence && Int($0) < vocabulary.count }.map { vocabulary[$0] }.joined(separator: " "))
    }
}

/// A thread's subword-nmt encoder (its own copy of the codes' word cache).
struct SubwordNMTEncoder: TokenEncoder {
    var codes: SubwordNMT.Codes
    let vocabulary: Vocabulary

    mutating func encode(_ line: String) -> [Int32] {
        var unused = RandomGenerator(seed: 0)
        return encode(line, dropout: 0, rng: &unused)
    }

    mutating func encode(_ line: String, dropout: Double, rng: inout RandomGenerator) -> [Int32] {
        let pieces = codes.apply(line: line, dropout: dropout, rng: &rng)
        return SubwordNMT.words(Substring(pieces).unicodeScalars).map { vocabulary.id(String($0)) ?? Vocabulary.unknown }
    }

    mutating func appendSegmented(_ line: String, dropout: Double, rng: inout RandomGenerator, to out: inout [UInt8]) {
        out.append(contentsOf: codes.apply(line: line, dropout: dropout, rng: &rng).utf8)
    }
}
