// SentencePieceTokenizer: SentencePiece as a model's tokenizer. Segmentation and decoding are
// sentencepiece's (SentencePiece.swift). Two layouts:
//   - one `.spm` for both sides (what Marian and sentencepiece users train on raw text): the
//     pieces are the SentencePiece model's, numbered as it numbers them;
//   - OPUS-MT's: `source.spm` segments the source, `target.spm` decodes the target, and a piece
//     list (Marian's vocab.yml, one for both sides) numbers the pieces; a source piece the list
//     lacks is <unk>. A line may start with a target-language tag such as `>>fra<<`, one token
//     when the list has it. Decoding is Hugging Face's MarianTokenizer's: target.spm's
//     DecodePieces, then any ▁ left (a piece target.spm lacks) a space, and the ends trimmed.
// The model's vocabulary is nmt's — <pad>, <unk>, <s>, </s> at ids 0–3, then the other pieces in
// their order — so a piece number maps onto an nmt id: the unknown piece to <unk>, bos and eos
// to <s> and </s>, a pad piece to <pad>. A model file carries the `.spm` bytes in base64
// (metadata `bpe`), or for OPUS-MT's layout a JSON object {source, target, pieces}.

import Foundation

public final class SentencePieceTokenizer: Tokenizer {
    /// Segments source text (and decodes, with one model).
    public let sentencePiece: SentencePiece
    /// Decodes target pieces (OPUS-MT's layout; nil: `sentencePiece` does).
    public let targetSentencePiece: SentencePiece?
    /// The piece list numbering the pieces (OPUS-MT's layout; nil: the SentencePiece model's).
    public let pieceList: [String]?
    public let vocabulary: Vocabulary
    /// nmt id of each piece number, and back (−1: none).
    private let modelIds: [Int32]
    private let pieceIds: [Int]
    /// Piece number of each piece's text (OPUS-MT's layout).
    private let pieceNumbers: [String: Int]

    public convenience init(path: String) throws {
        try self.init(try SentencePiece(path: path))
    }

    /// One SentencePiece model for both sides, its own numbering.
    public convenience init(_ sentencePiece: SentencePiece) throws {
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
        self.init(source: sentencePiece, target: nil, pieces: model.pieces.map(\.text), specials: specials, pieceList: nil)
    }

    /// OPUS-MT's layout: `source` segments, `target` decodes, `pieces` (Marian's vocab.yml in id
    /// order) numbers the pieces; its `</s>`, `<unk>`, `<s>` and `<pad>` are the specials.
    public convenience init(source: SentencePiece, target: SentencePiece, pieces: [String]) throws {
        let known: [String: Int32] = ["</s>": Vocabulary.endOfSentence, "<unk>": Vocabulary.unknown,
                                      "<s>": Vocabulary.beginOfSentence, "<pad>": Vocabulary.padding]
        guard pieces.contains("</s>") else { throw NMTError("the piece list has no '</s>'") }
        self.init(source: source, target: target, pieces: pieces, specials: pieces.map { known[$0] }, pieceList: pieces)
    }

    private init(source: SentencePiece, target: SentencePiece?, pieces: [String], specials: [Int32?], pieceList: [String]?) {
        (sentencePiece, targetSentencePiece, self.pieceList) = (source, target, pieceList)
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

    /// The tokenizer of a model file's data: the `.spm` file's bytes in base64, or OPUS-MT's
    /// layout as JSON {"source": base64, "target": base64, "pieces": [...]}.
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
        try self.init(source: try model(layout.source, "source "), target: try model(layout.target, "target "), pieces: layout.pieces)
    }

    private struct PairLayout: Codable { var source: String; var target: String; var pieces: [String] }

    public var kind: TokenizerKind { .sentencePiece }
    public var data: String {
        func base64(_ sp: SentencePiece) -> String { Data(sp.model.serialized).base64EncodedString() }
        guard let targetSentencePiece, let pieceList else { return base64(sentencePiece) }
        let layout = PairLayout(source: base64(sentencePiece), target: base64(targetSentencePiece), pieces: pieceList)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(layout), as: UTF8.self)
    }

    public func makeEncoder(for side: TextSide) -> any TokenEncoder { SentencePieceEncoder(tokenizer: self, side: side) }

    /// How many pieces are numbered (the SentencePiece model's, or the piece list's).
    var pieceCount: Int { modelIds.count }

    /// The piece number an nmt id stands for (nil: <pad> or <s> when the pieces have none).
    func pieceId(ofModelId id: Int) -> Int? { pieceIds[id] >= 0 ? pieceIds[id] : nil }

    /// The pieces of a line of `side`: on the source side a leading target-language tag the piece
    /// list has, then the segmentation (piece text, piece number) of the rest — by source.spm, or
    /// on the target side by target.spm.
    func pieces(_ line: String, side: TextSide = .source) -> [(piece: String, number: Int)] {
        guard pieceList != nil else { return sentencePiece.encode(line).map { ($0.piece, $0.id) } }
        var rest = Substring(line), out: [(piece: String, number: Int)] = []
        let segmenter = side == .target ? targetSentencePiece ?? sentencePiece : sentencePiece
        if side == .source, line.hasPrefix(">>"), let close = line.range(of: "<<"), let tag = pieceNumbers[String(line[..<close.upperBound])] {
            out.append((String(line[..<close.upperBound]), tag))
            rest = line[close.upperBound...]
        }
        let unknown = pieceNumbers["<unk>"] ?? -1
        for segment in segmenter.encode(String(rest)) { out.append((segment.piece, pieceNumbers[segment.piece] ?? unknown)) }
        return out
    }

    /// nmt ids of the pieces of a line of `side`.
    func modelIds(_ line: String, side: TextSide = .source) -> [Int32] {
        pieces(line, side: side).map { $0.number >= 0 ? modelIds[$0.number] : Vocabulary.unknown }
    }

    public func decode(_ ids: [Int32]) -> String {
        let numbers = ids.compactMap { id in id > Vocabulary.endOfSentence && Int(id) < pieceIds.count ? pieceIds[Int(id)] : nil }
        guard let targetSentencePiece, let pieceList else { return sentencePiece.decode(ids: numbers) }
        return Self.cleanUp(targetSentencePiece.decode(pieces: numbers.map { pieceList[$0] }))
    }

    /// Hugging Face MarianTokenizer's last step: ▁ → space, whitespace trimmed at both ends.
    private static func cleanUp(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{2581}", with: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `spm_decode --input_format=piece`: the pieces of a line, separated by spaces.
    public func decode(segmented line: String) -> Result<String, NMTError> {
        let pieces = line.split(separator: " ").map(String.init)
        guard let targetSentencePiece else { return .success(sentencePiece.decode(pieces: pieces)) }
        return .success(Self.cleanUp(targetSentencePiece.decode(pieces: pieces)))
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
