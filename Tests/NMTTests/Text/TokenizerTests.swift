// The Tokenizer interface: both implementations (nmt's BPE, subword-nmt's codes) serve as a
// model's tokenizer, the model file names which one it carries, and text goes through the same
// encoder and decoder in training, translation and `nmt bpe`.

import Foundation
import Testing
@testable import NMT

@Suite struct TokenizerTests {
    @Test func subwordNMTIdsAreTheAppliedPiecesAndDecodeUndoesTheJoins() throws {
        let tokenizer = try SubwordNMTTokenizer(codesText: try readTextFile(path: fixturePath("subword-nmt/bpe.ref")), source: "bpe.ref")
        var encoder = tokenizer.makeEncoder(for: .source)
        var codes = tokenizer.codes
        var rng = RandomGenerator(seed: 1)
        for line in try readLines(path: fixturePath("subword-nmt/corpus.en")).prefix(200) {
            let ids = encoder.encode(line)
            let pieces = codes.apply(line: line, rng: &rng).split(separator: " ").map(String.init)
            #expect(ids.count == pieces.count)
            // Every piece the codes make is in the vocabulary, except characters they never name.
            for (id, piece) in zip(ids, pieces) where id != Vocabulary.unknown { #expect(tokenizer.vocabulary[id] == piece) }
            if !ids.contains(Vocabulary.unknown) {
                #expect(tokenizer.decode(ids) == line.split(separator: " ").joined(separator: " "))
            }
        }
    }

    @Test func aSubwordNMTVocabularyHoldsEveryPieceItsCodesCanProduce() throws {
        let tokenizer = try SubwordNMTTokenizer(codesText: "#version: 0.2\nl o\nlo w</w>\ne r</w>\n", source: "codes")
        #expect(Array(tokenizer.vocabulary.tokens.prefix(4)) == Vocabulary.specials)
        for piece in ["l@@", "l", "o@@", "o", "lo@@", "low", "w", "e@@", "er", "r"] {
            #expect(tokenizer.vocabulary.id(piece) != nil, "\(piece)")
        }
        var encoder = tokenizer.makeEncoder(for: .source)
        #expect(encoder.encode("low lower x").map { tokenizer.vocabulary[$0] } == ["low", "lo@@", "w@@", "er", "<unk>"])
    }

    @Test func aModelFileNamesItsTokenizerAndLoadsItBack() throws {
        let dir = try TemporaryDirectory()
        let codes = try readTextFile(path: fixturePath("subword-nmt/bpe.ref"))
        let tokenizers: [any Tokenizer] = [try BPETokenizer.learn(files: [fixturePath("subword-nmt/corpus.en")], merges: 50),
                                           try SubwordNMTTokenizer(codesText: codes, source: "bpe.ref"),
                                           try SentencePieceTokenizer(path: fixturePath("sentencepiece/bpe.model"))]
        for tokenizer in tokenizers {
            let model = try Transformer(config: TransformerConfig(vocabularySize: tokenizer.vocabulary.count, dModel: 8, ffnDim: 8, heads: 2,
                                                                  encoderLayers: 1, decoderLayers: 1, maxPositions: 16))
            let path = dir.path("\(tokenizer.kind.rawValue).safetensors")
            try ModelFile.save(model, tokenizer: tokenizer, step: 1, to: path)
            let header = try SafeTensorsFile(path: path).header
            // nmt's own BPE is the format's default: its files say nothing (as every nmt version wrote them).
            #expect(header.metadata["tokenizer"] == (tokenizer.kind == .nmtBPE ? nil : tokenizer.kind.rawValue))
            let loaded = try ModelFile.load(path)
            #expect(loaded.tokenizer.kind == tokenizer.kind && loaded.tokenizer.vocabulary == tokenizer.vocabulary)
        }
    }

    @Test func aModelFileWithAnUnknownTokenizerIsRefusedNamingIt() throws {
        let dir = try TemporaryDirectory()
        let tokenizer = try BPETokenizer.learn(files: [fixturePath("subword-nmt/corpus.en")], merges: 50)
        let model = try Transformer(config: TransformerConfig(vocabularySize: tokenizer.vocabulary.count, dModel: 8, ffnDim: 8, heads: 2,
                                                              encoderLayers: 1, decoderLayers: 1, maxPositions: 16))
        let path = dir.path("model.safetensors")
        try ModelFile.save(model, tokenizer: tokenizer, step: 1, to: path, extraMetadata: ["tokenizer": "wordpiece"])
        #expect(throws: NMTError("\(path): not a valid model file: metadata 'tokenizer' is 'wordpiece', expected one of nmt-bpe, subword-nmt, sentencepiece")) {
            try ModelFile.load(path)
        }
    }

    @Test func aModelTrainedWithASentencePieceModelTranslatesRawText() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 100)
        let train = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--bpe", fixturePath("sentencepiece/unigram.model"), "--out",
                                dir.path("run"), "--max-steps", "2", "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1",
                                "--decoder-layers", "1", "--max-tokens", "600", "--max-len", "120", "--max-positions", "128"])
        #expect(train.status == 0, "\(train.stderr)")
        let model = dir.path("run/checkpoint-last.safetensors")
        #expect(try ModelFile.load(model).tokenizer.kind == .sentencePiece)
        let translated = try runNMT(["translate", "-m", model, "--beam", "2", "--max-len-b", "4"], stdin: Data("In the beginning.\n".utf8))
        #expect(translated.status == 0 && translated.stdout.hasSuffix("\n"), "\(translated.stderr)")
        let dropout = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--bpe", fixturePath("sentencepiece/unigram.model"), "--out",
                                  dir.path("run2"), "--bpe-dropout", "0.1", "--max-steps", "1"])
        #expect(dropout.status == 1 && dropout.stderr.hasPrefix("nmt: error: --bpe-dropout"), "\(dropout.stderr)")
    }

    @Test func aModelTrainedWithSubwordNMTCodesTranslatesTokenizedText() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 100)
        let codes = try dir.write("codes", SubwordNMT.codesText(try SubwordNMT.learn(files: [en, es], merges: 200, minFrequency: 2)))
        let train = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--bpe", codes, "--out", dir.path("run"), "--max-steps", "2",
                                "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1",
                                "--max-tokens", "600", "--max-len", "120", "--max-positions", "128"])
        #expect(train.status == 0, "\(train.stderr)")
        let model = dir.path("run/checkpoint-last.safetensors")
        #expect(try ModelFile.load(model).tokenizer.kind == .subwordNMT)
        let translated = try runNMT(["translate", "-m", model, "--beam", "2", "--max-len-b", "4"], stdin: Data("in the beginning\n".utf8))
        #expect(translated.status == 0 && translated.stdout.hasSuffix("\n"), "\(translated.stderr)")
    }
}
