// SentencePieceTokenizer: a SentencePiece model as a model's tokenizer. Segmentation and decoding
// are sentencepiece's (SentencePiece.swift); the model's vocabulary is nmt's — <pad>, <unk>, <s>,
// </s> at ids 0–3, then the SentencePiece model's other pieces in its order — so a SentencePiece
// id maps onto an nmt id: its unknown piece to <unk>, its bos and eos pieces to <s> and </s>, a
// pad piece to <pad>. A model file carries the `.spm` bytes (base64 in metadata `bpe`).

import Foundation

public final class SentencePieceTokenizer: Tokenizer {
    public let sentencePiece: SentencePiece
    public let vocabulary: Vocabulary
    /// nmt id of each SentencePiece id, and back (−1: none).
    private let modelIds: [Int32]
    private let pieceIds: [Int]

    public convenience init(path: String) throws {
        try self.init(try SentencePiece(path: path))
    }

    public init(_ sentencePiece: SentencePiece) throws {
        self.sentencePiece = sentencePiece
        let model = sentencePiece.model
        var tokens = Vocabulary.specials
        var modelIds = [Int32](repeating: -1, count: model.pieces.count)
        for (id, piece) in model.pieces.enumerated() {
            switch (piece.type, piece.text) {
            case (.unknown, _): modelIds[id] = Vocabulary.unknown
            case (.control, model.bosPiece): modelIds[id] = Vocabulary.beginOfSentence
            case (.control, model.eosPiece): modelIds[id] = Vocabulary.endOfSentence
            case (.control, model.padPiece): modelIds[id] = Vocabulary.padding
            default:
                modelIds[id] = Int32(tokens.count)
                tokens.append(piece.text)
            }
        }
        var pieceIds = [Int](repeating: -1, count: tokens.count)
        for (id, modelId) in modelIds.enumerated() where pieceIds[Int(modelId)] < 0 { pieceIds[Int(modelId)] = id }
        (self.modelIds, self.pieceIds) = (modelIds, pieceIds)
        vocabulary = Vocabulary(tokens: tokens)
    }

    /// The tokenizer of a model file's data: the `.spm` file's bytes in base64.
    public convenience init(base64 data: String, source: String) throws {
        guard let bytes = Data(base64Encoded: data) else { throw NMTError("\(source): the SentencePiece model is not valid base64") }
        try self.init(try SentencePiece(try SentencePieceModel(bytes: [UInt8](bytes), source: source), source: source))
    }

    public var kind: TokenizerKind { .sentencePiece }
    public var data: String { Data(sentencePiece.model.serialized).base64EncodedString() }

    public func makeEncoder() -> any TokenEncoder { SentencePieceEncoder(tokenizer: self) }

    /// The SentencePiece id an nmt id stands for (nil: <pad> or <s> when the model has none).
    func pieceId(ofModelId id: Int) -> Int? { pieceIds[id] >= 0 ? pieceIds[id] : nil }

    /// nmt ids of a line's pieces.
    func modelIds(_ line: String) -> [Int32] { sentencePiece.encode(line).map { modelIds[$0.id] } }

    public func decode(_ ids: [Int32]) -> String {
        sentencePiece.decode(ids: ids.compactMap { id in
            id > Vocabulary.endOfSentence && Int(id) < pieceIds.count ? pieceIds[Int(id)] : nil
        })
    }

    /// `spm_decode --input_format=piece`: the pieces of a line, separated by spaces.
    public func decode(segmented line: String) -> Result<String, NMTError> {
        .success(sentencePiece.decode(pieces: line.split(separator: " ").map(String.init)))
    }
}

/// SentencePiece keeps no per-thread state: an encoder is the tokenizer.
struct SentencePieceEncoder: TokenEncoder {
    let tokenizer: SentencePieceTokenizer

    func encode(_ line: String) -> [Int32] { tokenizer.modelIds(line) }

    /// Subword regularisation is not implemented for SentencePiece: the plain segmentation.
    func encode(_ line: String, dropout: Double, rng: inout RandomGenerator) -> [Int32] { tokenizer.modelIds(line) }

    func appendSegmented(_ line: String, dropout: Double, rng: inout RandomGenerator, to out: inout [UInt8]) {
        out.append(contentsOf: tokenizer.sentencePiece.encode(line).map(\.piece).joined(separator: " ").utf8)
    }
}
