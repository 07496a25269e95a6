// Tokenizer: text ↔ token ids — what a model carries in its file, and what training, validation,
// translation and serving read text through. Implementations: nmt's lossless byte-pair encoding
// of raw text (BPETokenizer, the default), subword-nmt's BPE of pre-tokenized text
// (SubwordNMTTokenizer) and SentencePiece models (SentencePieceTokenizer); a new one is a new
// conformance and a new `TokenizerKind`, with nothing in training or decoding to change.
//
// Ids: every model vocabulary starts with the specials <pad> 0, <unk> 1, <s> 2, </s> 3
// (Vocabulary's constants), which the model and search use; a tokenizer whose own ids differ maps
// its pieces onto the model's vocabulary.

/// Segments text into a model's token ids and back.
public protocol Tokenizer: AnyObject, Sendable {
    /// Token strings by id, the specials first: the target side's (the output's), and the
    /// source side's too unless `sourceVocabulary` differs.
    var vocabulary: Vocabulary { get }
    /// The source side's tokens (a separate source vocabulary; by default `vocabulary`).
    var sourceVocabulary: Vocabulary { get }
    /// Which implementation this is (a model file names it).
    var kind: TokenizerKind { get }
    /// Everything needed to rebuild the tokenizer exactly (`TokenizerKind.tokenizer(data:source:)`):
    /// a codes file's text.
    var data: String { get }
    /// An encoder of `side`'s text for one thread (it keeps a cache of words). Most tokenizers
    /// segment both sides alike; OPUS-MT's SentencePiece layout has a model for each.
    func makeEncoder(for side: TextSide) -> any TokenEncoder
    /// The text of `ids`; specials are dropped.
    func decode(_ ids: [Int32]) -> String
    /// The whitespace-separated word (0-based) of the text each of `side`'s tokens `ids` belongs
    /// to. By default a token spelled with a leading ▁ starts a word (nmt's BPE, SentencePiece).
    func wordIndices(_ ids: [Int32], side: TextSide) -> [Int]
    /// The text of a line as `nmt bpe apply` segmented it (`nmt bpe decode`), or an error naming
    /// the piece that no segmentation produces.
    func decode(segmented line: String) -> Result<String, NMTError>
}

extension Tokenizer {
    public var sourceVocabulary: Vocabulary { vocabulary }
    public func wordIndices(_ ids: [Int32], side: TextSide) -> [Int] {
        let vocabulary = side == .source ? sourceVocabulary : vocabulary
        var word = -1
        return ids.map { id in
            if word < 0 || (Int(id) < vocabulary.count && vocabulary[id].hasPrefix("\u{2581}")) { word += 1 }
            return word
        }
    }
    /// Whether the two sides have vocabularies of their own.
    public var hasSeparateVocabularies: Bool { sourceVocabulary != vocabulary }
}

/// Which side of a translation pair a text is.
public enum TextSide: Sendable { case source, target }

/// Turns lines into token ids; one per thread.
public protocol TokenEncoder {
    /// Token ids of a line (none for the end-of-sentence token, which the model adds).
    mutating func encode(_ line: String) -> [Int32]
    /// The same with subword dropout of probability `dropout` (BPE-dropout, Provilkov et al. 2020),
    /// drawing from `rng`; 0 is plain segmentation.
    mutating func encode(_ line: String, dropout: Double, rng: inout RandomGenerator) -> [Int32]
    /// The segmented line as `nmt bpe apply` prints it (UTF-8, no newline), appended to `out`.
    mutating func appendSegmented(_ line: String, dropout: Double, rng: inout RandomGenerator, to out: inout [UInt8])
}

/// The tokenizer implementations a model file can name.
public enum TokenizerKind: String, Sendable, CaseIterable {
    /// nmt's byte-pair encoding of raw text (codes starting "#nmt-bpe: 1").
    case nmtBPE = "nmt-bpe"
    /// subword-nmt's byte-pair encoding of pre-tokenized text (codes "#version: 0.2").
    case subwordNMT = "subword-nmt"
    /// SentencePiece (a `.spm` / `.model` file; in a model file, its bytes in base64, or OPUS-MT's
    /// source.spm, target.spm and piece list as JSON).
    case sentencePiece = "sentencepiece"

    /// The tokenizer `data` describes; errors name `source` and the line.
    public func tokenizer(data: String, source: String) throws -> any Tokenizer {
        switch self {
        case .nmtBPE: return try BPETokenizer(codesText: data, source: source)
        case .subwordNMT: return try SubwordNMTTokenizer(codesText: data, source: source)
        case .sentencePiece: return try SentencePieceTokenizer(data: data, source: source)
        }
    }

    /// The kind of a codes file's text: its first line tells.
    public static func of(codesText text: String) -> TokenizerKind {
        BPETokenizer.isCodesText(text) ? .nmtBPE : .subwordNMT
    }
}

/// The tokenizer of a file: BPE codes of either format, or a SentencePiece model (a binary
/// ModelProto, whose first byte is its first piece's field key, 0x0A). Read once, so a pipe works too.
public func loadTokenizer(path: String) throws -> any Tokenizer {
    let bytes = try readFileBytes(path: path)
    guard !bytes.isEmpty else { throw NMTError("\(path):1: empty codes file") }
    if bytes[0] == 0x0A && (path.hasSuffix(".spm") || path.hasSuffix(".model") || String(validating: bytes, as: UTF8.self) == nil) {
        return try SentencePieceTokenizer(try SentencePiece(try SentencePieceModel(bytes: bytes, source: path), source: path))
    }
    var text = try decodeUTF8Text(bytes, file: path)
    if text.unicodeScalars.first == "\u{FEFF}" { text = String(text.unicodeScalars.dropFirst()) }  // a byte order mark (LineReader's rule)
    return try TokenizerKind.of(codesText: text).tokenizer(data: text, source: path)
}
