// SentencePiece: pieces, ids and decoded text byte-identical to sentencepiece 0.2.3, on models it
// trained (Fixtures/sentencepiece, made by scripts/check/make-spm-fixtures: unigram and BPE, with
// and without byte fallback, user-defined symbols, identity normalization without the dummy prefix
// or whitespace removal, whitespace as suffix) over the bundled corpus's lines and an adversarial set.

import Foundation
import Testing
@testable import NMT

@Suite struct SentencePieceTests {
    struct Expected: Decodable {
        var text: String
        var pieces: [String]
        var ids: [Int]
        var decoded: String
        var decoded_pieces: String
    }

    static let models = ["unigram", "unigram-bytes", "bpe", "bpe-bytes-identity", "unigram-suffix"]

    func expectations(_ model: String) throws -> [Expected] {
        try readLines(path: fixturePath("sentencepiece/\(model).expected.jsonl")).map { try JSONDecoder().decode(Expected.self, from: Data($0.utf8)) }
    }

    @Test(arguments: models)
    func piecesAndIdsAreSentencepiecesOwn(model: String) throws {
        let sp = try SentencePiece(path: fixturePath("sentencepiece/\(model).model"))
        var wrong: [String] = []
        for e in try expectations(model) {
            let encoded = sp.encode(e.text)
            if encoded.map(\.piece) != e.pieces || encoded.map(\.id) != e.ids {
                wrong.append("\(e.text.debugDescription): \(encoded.map(\.piece)) \(encoded.map(\.id)) vs \(e.pieces) \(e.ids)")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) lines differ; first: \(wrong.first ?? "")")
    }

    @Test(arguments: models)
    func decodingIdsAndPiecesGivesSentencepiecesText(model: String) throws {
        let sp = try SentencePiece(path: fixturePath("sentencepiece/\(model).model"))
        var wrong: [String] = []
        for e in try expectations(model) {
            let fromIds = sp.decode(ids: e.ids), fromPieces = sp.decode(pieces: e.pieces)
            if fromIds != e.decoded || fromPieces != e.decoded_pieces {
                wrong.append("\(e.text.debugDescription): \(fromIds.debugDescription) / \(fromPieces.debugDescription) vs \(e.decoded.debugDescription) / \(e.decoded_pieces.debugDescription)")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) lines differ; first: \(wrong.first ?? "")")
    }

    @Test func userDefinedSymbolsStayOnePiece() throws {
        let sp = try SentencePiece(path: fixturePath("sentencepiece/unigram-bytes.model"))
        let pieces = sp.encode(">>fra<< Hello").map(\.piece)
        #expect(pieces.first == "▁>>fra<<" || pieces.contains(">>fra<<"), "\(pieces)")
    }

    @Test func aTokenizerMapsSentencepiecesSpecialsOntoTheModelsAndRoundTrips() throws {
        let tokenizer = try SentencePieceTokenizer(path: fixturePath("sentencepiece/unigram.model"))
        #expect(Array(tokenizer.vocabulary.tokens.prefix(4)) == Vocabulary.specials)
        var encoder = tokenizer.makeEncoder(for: .source)
        let line = "In the beginning God created the heaven and the earth."
        let ids = encoder.encode(line)
        #expect(ids.allSatisfy { $0 > Vocabulary.endOfSentence })
        #expect(tokenizer.decode(ids) == line)
        // A model file carries it (its bytes in base64) and reads it back.
        let copy = try TokenizerKind.sentencePiece.tokenizer(data: tokenizer.data, source: "copy")
        #expect(copy.vocabulary == tokenizer.vocabulary)
    }

    @Test func corruptModelsAreOneLineErrors() throws {
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixturePath("sentencepiece/bpe-bytes-identity.model"))))
        let cases: [(String, [UInt8])] = [
            ("truncated", Array(good.prefix(good.count / 2))),
            ("garbage", Array("not a model at all\n".utf8)),
            ("empty", []),
            ("a varint running past the end", [0x0A, 0x80]),
        ]
        for (name, bytes) in cases {
            do {
                _ = try SentencePiece(try SentencePieceModel(bytes: bytes, source: "m.spm"), source: "m.spm")
                Issue.record("\(name): loaded")
            } catch let error as NMTError {
                #expect(error.message.hasPrefix("m.spm: not a valid SentencePiece model: ") && !error.message.contains("\n"), "\(name): \(error.message)")
            }
        }
    }
}

@Suite struct SPMCommandTests {
    @Test func encodePrintsPiecesOrIdsAndDecodeUndoesThem() throws {
        let model = fixturePath("sentencepiece/unigram-bytes.model")
        let text = "In the beginning 東京 >>fra<<\nñandú\n"
        let pieces = try runNMT(["spm", "encode", "--model", model], stdin: Data(text.utf8))
        let ids = try runNMT(["spm", "encode", "--model", model, "--ids"], stdin: Data(text.utf8))
        #expect(pieces.status == 0 && ids.status == 0, "\(pieces.stderr)\(ids.stderr)")
        let sp = try SentencePiece(path: model)
        #expect(pieces.stdout == text.split(separator: "\n").map { sp.encode(String($0)).map(\.piece).joined(separator: " ") + "\n" }.joined())
        #expect(try runNMT(["spm", "decode", "--model", model], stdin: Data(pieces.stdout.utf8)).stdout == text)
        #expect(try runNMT(["spm", "decode", "--model", model, "--ids"], stdin: Data(ids.stdout.utf8)).stdout == text)
    }

    @Test func aBadModelOrIdIsAOneLineError() throws {
        let dir = try TemporaryDirectory()
        let bad = try dir.write("bad.spm", "not a model\n")
        let r = try runNMT(["spm", "encode", "--model", bad], stdin: Data("x\n".utf8))
        #expect(r.status == 1 && r.stderr.hasPrefix("nmt: error: \(bad): not a valid SentencePiece model") && r.stderr.filter { $0 == "\n" }.count == 1,
                "\(r.stderr)")
        let id = try runNMT(["spm", "decode", "--model", fixturePath("sentencepiece/bpe.model"), "--ids"], stdin: Data("5 99999\n".utf8))
        #expect(id.status == 1 && id.stderr.contains("<stdin>:1: '99999' is not an id"), "\(id.stderr)")
    }
}
