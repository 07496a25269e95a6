// SentencePieceTokenizer: SentencePiece as a model's tokenizer. Segmentation and decoding are
// sentencepiece's (SentencePiece.swift). Each side has a SentencePiece model that segments it and
// a numbering of its pieces; the layouts Marian uses:
//   - one `.spm` for both sides (what Marian and sentencepiece users train on raw text): the
//     pieces are the SentencePiece model's, numbered as it numbers them;
//   - a `.spm` for each side, each numbering its own pieces (separate vocabularies);
//   - OPUS-MT's: `source.spm` segments the source, `target.spm` the target, and a piece list
//     (Marian's vocab.yml: one for both sides, or one per side) numbers the pieces; a piece the
//     list lacks is <unk>. A source line may start with a target-language tag such as `>>fra<<`,
//     one token when the list has it. Decoding is Hugging Face's MarianTokenizer's: target.spm's
//     DecodePieces, then any ▁ left (a piece target.spm lacks) a space, and the ends trimmed.
// A side's vocabulary is nmt's — <pad>, <unk>, <s>, </s> at ids 0–3, then the other pieces in
// their order — so a piece number maps onto an nmt id: the unknown piece to <unk>, bos and eos
// to <s> and </s>, a pad piece to <pad>. A model file carries the `.spm` bytes in base64
// (metadata `bpe`) for one model, or JSON {source, target, and pieces — or sourcePieces and
// targetPieces — where piece lists number them}.

import Foundation

public final class SentencePieceTokenizer: Tokenizer {
    /// One side: the SentencePiece model segmenting it and the numbering of its pieces.
    public struct Side: Sendable {
        public let sentencePiece: SentencePiece
        /// The piece list numbering the pieces (OPUS-MT's layout; nil: the SentencePiece model's).
        public let pieceList: [String]?
        public let vocabulary: Vocabulary
        /// nmt id of each piece number, and back (−1: none).
        let modelIds: [Int32]
        let pieceIds: [Int]
        /// Piece number of each piece's text (with a piece list).
        let pieceNumbers: [String: Int]

        /// `sentencePiece` numbering its own pieces.
        init(_ sentencePiece: SentencePiece) {
            let model = sentencePiece.model
            let specials = model.pieces.map { piece -> Int32? in
                switch (piece.type, piece.text) {
                case (.unknown, _): return Vocabulary.unknown
                case (.control, model.bosPiece): return Vocabulary.beginOfSentence
                case (.control, model.eosPiece): return Vocabulary.endOfSentence
                case (.control, model.padPiece): return Vocabulary.padding
                default: return nil
                }
            }
            self.init(sentencePiece, pieces: model.pieces.map(\.text), specials: specials, pieceList: nil)
        }

        /// `sentencePiece` segmenting, `pieces` (Marian's vocab.yml in id order) numbering; its
        /// `</s>`, `<unk>`, `<s>` and `<pad>` are the specials.
        init(_ sentencePiece: SentencePiece, pieceList pieces: [String]) throws {
            let known: [String: Int32] = ["</s>": Vocabulary.endOfSentence, "<unk>": Vocabulary.unknown,
                                          "<s>": Vocabulary.beginOfSentence, "<pad>": Vocabulary.padding]
            guard pieces.contains("</s>") else { throw NMTError("the piece list has no '</s>'") }
            self.init(sentencePiece, pieces: pieces, specials: pieces.map { known[$0] }, pieceList: pieces)
        }

        private init(_ sentencePiece: SentencePiece, pieces: [String], specials: [Int32?], pieceList: [String]?) {
            (self.sentencePiece, self.pieceList) = (sentencePiece, pieceList)
            var tokens = Vocabulary.specials
            var modelIds = [Int32](repeating: -1, count: pieces.count)
            for (number, piece) in pieces.enumerated() {
                if let special = specials[number] {
                    modelIds[number] = special
                } else {
                    modelIds[number] = Int32(tokens.count)
                    tokens.append(piece)
                }
            }
            var pieceIds = [Int](repeating: -1, count: tokens.count)
            for (number, modelId) in modelIds.enumerated() where pieceIds[Int(modelId)] < 0 { pieceIds[Int(modelId)] = number }
            (self.modelIds, self.pieceIds) = (modelIds, pieceIds)
            var numbers: [String: Int] = [:]
            if pieceList != nil { for (number, piece) in pieces.enumerated() where numbers[piece] == nil { numbers[piece] = number } }
            pieceNumbers = numbers
            vocabulary = Vocabulary(tokens: tokens)
        }

        /// How many pieces are numbered (the SentencePiece model's, or the piece list's).
        public var pieceCount: Int { modelIds.count }

        /// The piece number an nmt id stands for (nil: <pad> or <s> when the pieces have none).
        public func pieceId(ofModelId id: Int) -> Int? { pieceIds[id] >= 0 ? pieceIds[id] : nil }
    }

    public let source: Side
    public let target: Side

    public convenience init(path: String) throws {
        try self.init(try SentencePiece(path: path))
    }

    /// One SentencePiece model for both sides, its own numbering.
    public convenience init(_ sentencePiece: SentencePiece) throws {
        let side = Side(sentencePiece)
        self.init(source: side, target: side)
    }

    /// A SentencePiece model for each side, each numbering its own pieces (or, given, the piece
    /// lists of OPUS-MT's layout: `pieces` for both sides, or `sourcePieces` and `targetPieces`).
    public convenience init(source: SentencePiece, target: SentencePiece, pieces: [String]? = nil, sourcePieces: [String]? = nil,
                            targetPieces: [String]? = nil) throws {
        func side(_ sp: SentencePiece, _ list: [String]?, _ name: String) throws -> Side {
            guard let list else { return Side(sp) }
            do { return try Side(sp, pieceList: list) } catch let e as NMTError { throw NMTError("\(name)\(e.message)") }
        }
        let (s, t) = (sourcePieces ?? pieces, targetPieces ?? pieces)
        self.init(source: try side(source, s, "source: "), target: try side(target, t, "target: "))
    }

    private init(source: Side, target: Side) { (self.source, self.target) = (source, target) }

    /// The tokenizer of a model file's data: the `.spm` file's bytes in base64, or JSON
    /// {"source": base64, "target": base64, and "pieces": [...] or "sourcePieces"/"targetPieces"}.
    public convenience init(data: String, source: String) throws {
        func model(_ base64: String, _ what: String) throws -> SentencePiece {
            guard let bytes = Data(base64Encoded: base64) else { throw NMTError("\(source): the \(what)SentencePiece model is not valid base64") }
            return try SentencePiece(try SentencePieceModel(bytes: [UInt8](bytes), source: source), source: source)
        }
        guard data.hasPrefix("{") else {
            try self.init(try model(data, ""))
            return
        }
        guard let layout = try? JSONDecoder().decode(PairLayout.self, from: Data(data.utf8)) else {
            throw NMTError("\(source): the SentencePiece tokenizer's JSON is not {source, target, pieces}")
        }
        do {
            try self.init(source: try model(layout.source, "source "), target: try model(layout.target, "target "), pieces: layout.pieces,
                          sourcePieces: layout.sourcePieces, targetPieces: layout.targetPieces)
        } catch let e as NMTError where !e.message.hasPrefix(source) {
            throw NMTError("\(source): \(e.message)")
        }
    }

    private struct PairLayout: Codable {
        var source: String
        var target: String
        var pieces: [String]?
        var sourcePieces: [String]?
        var targetPieces: [String]?
    }

    public var kind: TokenizerKind { .sentencePiece }
    public var vocabulary: Vocabulary { target.vocabulary }
    public var sourceVocabulary: Vocabulary { source.vocabulary }

    public var data: String {
        func base64(_ sp: SentencePiece) -> String { Data(sp.model.serialized).base64EncodedString() }
        let oneModel = source.sentencePiece === target.sentencePiece && source.pieceList == nil && target.pieceList == nil
        if oneModel { return base64(source.sentencePiece) }
        var layout = PairLayout(source: base64(source.sentencePiece), target: base64(target.sentencePiece))
        if source.pieceList == target.pieceList {
            layout.pieces = source.pieceList
        } else {
            (layout.sourcePieces, layout.targetPieces) = (source.pieceList, target.pieceList)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(layout), as: UTF8.self)
    }

    public func makeEncoder(for side: TextSide) -> any TokenEncoder { SentencePieceEncoder(tokenizer: self, side: side) }

    /// The pieces of a line of `side`: on the source side a leading target-language tag the piece
    /// list has, then the side's segmentation (piece text, piece number) of the rest.
    func pieces(_ line: String, side: TextSide = .source) -> [(piece: String, number: Int)] {
        let s = side == .source ? source : target
        guard s.pieceList != nil else { return s.sentencePiece.encode(line).map { ($0.piece, $0.id) } }
        var rest = Substring(line), out: [(piece: String, number: Int)] = []
        if side == .source, line.hasPrefix(">>"), let close = line.range(of: "<<"), let tag = s.pieceNumbers[String(line[..<close.upperBound])] {
            out.append((String(line[..<close.upperBound]), tag))
            rest = line[close.upperBound...]
        }
        let unknown = s.pieceNumbers["<unk>"] ?? -1
        for segment in s.sentencePiece.encode(String(rest)) { out.append((segment.piece, s.pieceNumbers[segment.piece] ?? unknown)) }
        return out
    }

    /// nmt ids of the pieces of a line of `side`.
    func modelIds(_ line: String, side: TextSide = .source) -> [Int32] {
        let s = side == .source ? source : target
        return pieces(line, side: side).map { $0.number >= 0 ? s.modelIds[$0.number] : Vocabulary.unknown }
    }

    /// The target text of `ids`.
    public func decode(_ ids: [Int32]) -> String { decode(ids, side: .target) }

    /// The text of `side`'s `ids`.
    public func decode(_ ids: [Int32], side: TextSide) -> String {
        let s = side == .source ? source : target
        let numbers = ids.compactMap { id in id > Vocabulary.endOfSentence && Int(id) < s.pieceIds.count ? s.pieceIds[Int(id)] : nil }
        guard let pieceList = s.pieceList else { return s.sentencePiece.decode(ids: numbers) }
        return Self.cleanUp(s.sentencePiece.decode(pieces: numbers.map { pieceList[$0] }))
    }

    /// Hugging Face MarianTokenizer's last step: ▁ → space, whitespace trimmed at both ends.
    private static func cleanUp(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{2581}", with: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `spm_decode --input_format=piece`: the target pieces of a line, separated by spaces.
    public func decode(segmented line: String) -> Result<String, NMTError> {
        let pieces = line.utf8.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }  // bytes: " ́" is one Character
        guard target.pieceList != nil else { return .success(target.sentencePiece.decode(pieces: pieces)) }
        return .success(Self.cleanUp(target.sentencePiece.decode(pieces: pieces)))
    }
}

/// SentencePiece keeps no per-thread state: an encoder is the tokenizer.
struct SentencePieceEncoder: TokenEncoder {
    let tokenizer: SentencePieceTokenizer
    let side: TextSide

    func encode(_ line: String) -> [Int32] { tokenizer.modelIds(line, side: side) }

    /// Subword regularisation is not implemented for SentencePiece: the plain segmentation.
    func encode(_ line: String, dropout: Double, rng: inout RandomGenerator) -> [Int32] { tokenizer.modelIds(line, side: side) }

    func appendSegmented(_ line: String, dropout: Double, rng: inout RandomGenerator, to out: inout [UInt8]) {
        out.append(contentsOf: tokenizer.pieces(line, side: side).map(\.piece).joined(separator: " ").utf8)
    }
}
