// SentencePieceModel: a SentencePiece `.spm` / `.model` file — a serialized ModelProto
// (sentencepiece_model.proto): the pieces with their scores and types, the trainer spec (the
// algorithm, byte fallback, the special pieces) and the normalizer spec (the precompiled
// character map that implements nmt_nfkc and the other normalizations, and the whitespace rules).
// Read with the checks sentencepiece 0.2.3 makes when it loads a model, each a one-line error.

import Foundation

public struct SentencePieceModel: Sendable {
    public enum PieceType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public struct Piece: Sendable {
        public var text: String
        public var score: Float
        public var type: PieceType
    }

    /// The segmentation algorithm (TrainerSpec.model_type).
    public enum Algorithm: Int, Sendable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    /// NormalizerSpec: what the normalizer does before segmentation (and the denormalizer after).
    public struct Normalization: Sendable {
        public var precompiledCharsmap: [UInt8] = []
        public var addDummyPrefix = true
        public var removeExtraWhitespaces = true
        public var escapeWhitespaces = true
    }

    public var pieces: [Piece]
    public var algorithm = Algorithm.unigram
    public var byteFallback = false
    public var treatWhitespaceAsSuffix = false
    /// What decoding writes for <unk> (TrainerSpec.unk_surface; sentencepiece's default " ⁇ ").
    public var unknownSurface = " \u{2047} "
    public var bosPiece = "<s>", eosPiece = "</s>", padPiece = "<pad>"
    public var normalizer = Normalization()
    public var denormalizer: Normalization?
    /// The file's bytes, as read.
    public let serialized: [UInt8]

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NMTError("cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "No such file or directory")")
        }
        try self.init(bytes: [UInt8](data), source: path)
    }

    public init(bytes: [UInt8], source: String) throws {
        serialized = bytes
        pieces = []
        var reader = ProtobufReader(bytes, source: source)
        while let (number, type) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, type, field: "pieces")
                pieces.append(try Self.piece(reader.message()))
            case 2:
                try reader.expect(.lengthDelimited, type, field: "trainer_spec")
                try readTrainerSpec(reader.message())
            case 3:
                try reader.expect(.lengthDelimited, type, field: "normalizer_spec")
                normalizer = try Self.normalization(reader.message())
            case 5:
                try reader.expect(.lengthDelimited, type, field: "denormalizer_spec")
                denormalizer = try Self.normalization(reader.message())
            default:
                try reader.skip(type)
            }
        }
        try validate(source: source)
    }

    private static func piece(_ reader: ProtobufReader) throws -> Piece {
        var reader = reader
        var piece = Piece(text: "", score: 0, type: .normal)
        while let (number, type) = try reader.nextField() {
            switch number {
            case 1: try reader.expect(.lengthDelimited, type, field: "piece"); piece.text = try reader.string("a piece")
            case 2: try reader.expect(.fixed32, type, field: "score"); piece.score = try reader.float()
            case 3:
                try reader.expect(.varint, type, field: "type")
                let raw = try reader.int32()
                guard let t = PieceType(rawValue: Int(raw)) else {
                    throw NMTError("\(reader.source): not a valid SentencePiece model: piece '\(piece.text)' has unknown type \(raw)")
                }
                piece.type = t
            default: try reader.skip(type)
            }
        }
        return piece
    }

    private mutating func readTrainerSpec(_ reader: ProtobufReader) throws {
        var reader = reader
        while let (number, type) = try reader.nextField() {
            switch number {
            case 3:
                try reader.expect(.varint, type, field: "model_type")
                let raw = try reader.int32()
                guard let a = Algorithm(rawValue: Int(raw)) else {
                    throw NMTError("\(reader.source): not a valid SentencePiece model: unknown model_type \(raw)")
                }
                algorithm = a
            case 24: try reader.expect(.varint, type, field: "treat_whitespace_as_suffix"); treatWhitespaceAsSuffix = try reader.bool()
            case 35: try reader.expect(.varint, type, field: "byte_fallback"); byteFallback = try reader.bool()
            case 44: try reader.expect(.lengthDelimited, type, field: "unk_surface"); unknownSurface = try reader.string("unk_surface")
            case 46: try reader.expect(.lengthDelimited, type, field: "bos_piece"); bosPiece = try reader.string("bos_piece")
            case 47: try reader.expect(.lengthDelimited, type, field: "eos_piece"); eosPiece = try reader.string("eos_piece")
            case 48: try reader.expect(.lengthDelimited, type, field: "pad_piece"); padPiece = try reader.string("pad_piece")
            default: try reader.skip(type)
            }
        }
    }

    private static func normalization(_ reader: ProtobufReader) throws -> Normalization {
        var reader = reader
        var spec = Normalization()
        while let (number, type) = try reader.nextField() {
            switch number {
            case 2: try reader.expect(.lengthDelimited, type, field: "precompiled_charsmap"); spec.precompiledCharsmap = Array(try reader.bytesField())
            case 3: try reader.expect(.varint, type, field: "add_dummy_prefix"); spec.addDummyPrefix = try reader.bool()
            case 4: try reader.expect(.varint, type, field: "remove_extra_whitespaces"); spec.removeExtraWhitespaces = try reader.bool()
            case 5: try reader.expect(.varint, type, field: "escape_whitespaces"); spec.escapeWhitespaces = try reader.bool()
            default: try reader.skip(type)
            }
        }
        return spec
    }

    /// sentencepiece's checks at load time (ModelInterface::InitializePieces).
    private func validate(source: String) throws {
        func fail(_ what: String) -> NMTError { NMTError("\(source): not a valid SentencePiece model: \(what)") }
        guard !pieces.isEmpty else { throw fail("no pieces") }
        guard algorithm == .unigram || algorithm == .bpe else {
            throw fail("model_type \(algorithm == .word ? "WORD" : "CHAR") is not supported (unigram and BPE models are)")
        }
        var normal = Set<String>(), reserved = Set<String>()
        var unknown = 0
        var bytes = Set<UInt8>()
        for piece in pieces {
            guard !piece.text.isEmpty else { throw fail("piece must not be empty") }
            let isNormal = piece.type == .normal || piece.type == .userDefined || piece.type == .unused
            guard (isNormal ? normal.insert(piece.text) : reserved.insert(piece.text)).inserted else {
                throw fail("\(piece.text) is already defined")
            }
            if piece.type == .unknown { unknown += 1 }
            if piece.type == .byte {
                guard byteFallback else { throw fail("byte piece \(piece.text) is found although byte_fallback is false") }
                guard let byte = Self.byte(ofPiece: piece.text) else { throw fail("byte piece \(piece.text) is invalid") }
                bytes.insert(byte)
            }
        }
        guard unknown == 1 else { throw fail(unknown == 0 ? "unk is not defined" : "unk is already defined") }
        if byteFallback && bytes.count != 256 { throw fail("there are not 256 byte pieces although byte_fallback is true") }
    }

    /// "<0x41>" → 0x41 (upper-case hexadecimal, as sentencepiece writes byte pieces).
    static func byte(ofPiece text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? { (0x30...0x39).contains(c) ? c - 0x30 : (0x41...0x46).contains(c) ? c - 0x37 : nil }
        guard let high = hex(u[3]), let low = hex(u[4]) else { return nil }
        return high << 4 | low
    }
}
