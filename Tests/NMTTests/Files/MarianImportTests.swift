// `nmt import marian`: tiny Transformers trained by Marian itself (Fixtures/marian, made by
// scripts/check/make-marian-fixtures with pymarian 1.12.42) compute in nmt what Marian's training
// graph computes (post- and pre-norm; tied-all, decoder-only tied and untied embeddings; joint and
// separate vocabularies; an embedding LayerNorm), the post-norm ones translate exactly as Marian's
// decoder did — 1-best and n-best lists with their scores — and hostile archives are one-line errors.

import Foundation
import Testing
@testable import NMT

@Suite struct MarianImportTests {
    let fixture = fixturePath("marian/post-norm")
    let testPairs = fixturePath("marian/test")

    func importedTranslator(_ model: String? = nil, nbest: Int = 1) throws -> Translator {
        let imported = try MarianImport.load(model ?? fixture)
        var options = TranslationOptions()
        options.search.style = imported.model.config.search
        options.search.beam = imported.defaults.beam!
        options.search.lengthPenalty = imported.defaults.lengthPenalty!
        options.search.maxLengthA = imported.defaults.maxLengthA!
        options.search.maxLengthB = imported.defaults.maxLengthB!
        options.search.nbest = nbest
        options.batchSize = 7
        return Translator(model: imported.model, tokenizer: imported.tokenizer, options: options)
    }

    @Test(arguments: ["post-norm", "pre-norm", "separate-spm"])
    func anImportedModelsCrossEntropyIsMariansTrainingGraphs(architecture: String) throws {
        let model = fixturePath("marian/" + architecture)
        let expected = Double(try readLines(path: model + "/expected-cross-entropy")[0])!
        let scores = try importedTranslator(model).rescore(sources: try readLines(path: testPairs + ".en"), targets: try readLines(path: testPairs + ".es"))
        let crossEntropy = -scores.map(\.logProbability).reduce(0, +) / Double(scores.map(\.tokens).reduce(0, +))
        #expect(abs(crossEntropy - expected) < 2e-5, "\(architecture): nmt \(crossEntropy), Marian \(expected)")
    }

    @Test(arguments: ["post-norm", "separate-spm"])
    func anImportedModelTranslatesAsMariansDecoder(variant: String) throws {
        let model = fixturePath("marian/" + variant)
        let lines = try readLines(path: testPairs + ".en"), expected = try readLines(path: model + "/expected.es")
        let ours = try importedTranslator(model).translate(lines).map(\.text)
        let differing = zip(ours, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(differing.isEmpty, "\(differing.count) of \(lines.count) differ; first: \(differing.first.map { "\($0.element.0) vs \($0.element.1)" } ?? "")")
    }

    @Test(arguments: ["post-norm", "separate-spm"])
    func nBestListsAndScoresAreMariansWithin1e4(variant: String) throws {
        let model = fixturePath("marian/" + variant)
        let lines = try readLines(path: testPairs + ".en")
        // Marian: "INDEX ||| text ||| F0= logp ||| normalized score", beam-size entries per line.
        var expected = [[(text: String, score: Double)]](repeating: [], count: lines.count)
        for line in try readLines(path: model + "/expected.nbest") {
            let fields = line.components(separatedBy: " ||| ")
            expected[Int(fields[0])!].append((fields[1], Double(fields[3])!))
        }
        let ours = try importedTranslator(model, nbest: 4).translate(lines)
        var problems: [String] = []
        for (i, translation) in ours.enumerated() {
            let got = translation.candidates.map { ($0.text, $0.score) }
            guard got.count == expected[i].count else { problems.append("line \(i): \(got.count) vs \(expected[i].count) hypotheses"); continue }
            for (a, b) in zip(got, expected[i]) where a.0 != b.text || abs(a.1 - b.score) > 1e-4 {
                problems.append("line \(i): \(a.0) \(a.1) vs \(b.text) \(b.score)")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) differ; first: \(problems.first ?? "")")
    }

    @Test func theCommandWritesAModelThatTranslatesWithTheDecoderYMLsSettings() throws {
        let dir = try TemporaryDirectory()
        let model = dir.path("imported.safetensors")
        let r = try runNMT(["import", "marian", fixture, "-o", model])
        #expect(r.status == 0, "\(r.stderr)")
        let loaded = try ModelFile.load(model)
        #expect(loaded.model.config.search == .marian && loaded.translationDefaults?.beam == 4 && loaded.tokenizer.kind == .sentencePiece)
        let lines = try readLines(path: testPairs + ".en").prefix(5)
        let t = try runNMT(["translate", "-m", model, "--threads", "1"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(t.stdout == (try readLines(path: fixture + "/expected.es")).prefix(5).joined(separator: "\n") + "\n", "\(t.stderr)")
    }

    /// Imports fixture `variant` with `nmt import marian`, translates the test lines with `nmt
    /// translate` and expects the fixture's expected.es (Marian's output); returns the model file.
    @discardableResult
    func expectCommandLineTranslatesAsMarian(_ variant: String, in dir: TemporaryDirectory) throws -> String {
        let model = dir.path(variant + ".safetensors")
        let r = try runNMT(["import", "marian", fixturePath("marian/" + variant), "-o", model])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try readLines(path: testPairs + ".en"), expected = try readLines(path: fixturePath("marian/\(variant)/expected.es"))
        let t = try runNMT(["translate", "-m", model, "--threads", "2"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        let ours = t.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        let differing = zip(ours, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(ours.count == expected.count && differing.isEmpty,
                "\(variant): \(differing.count) of \(lines.count) differ; first: \(differing.first.map { "\($0.element.0) vs \($0.element.1)" } ?? t.stderr)")
        return model
    }

    @Test func anOPUSMTLayoutModelTranslatesAsMariansDecoderDecodedAsHuggingFacesTokenizer() throws {
        try expectCommandLineTranslatesAsMarian("opus-mt", in: try TemporaryDirectory())
    }

    @Test func aModelWithAVocabularyPerSideAndNoTiedEmbeddingsTranslatesAsMariansDecoder() throws {
        let dir = try TemporaryDirectory()
        let loaded = try ModelFile.load(try expectCommandLineTranslatesAsMarian("untied-yml", in: dir))
        let c = loaded.model.config
        #expect(!c.sharedEmbeddings && !c.tiedOutput && c.sourceVocabulary != c.vocabularySize && loaded.tokenizer.hasSeparateVocabularies)
    }

    @Test func aDirectoryWithDecoderYMLAndMarianTrainingsDecoderYMLImportsDecoderYML() throws {
        let dir = try TemporaryDirectory()
        for name in ["model.npz", "vocab.spm", "decoder.yml"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + name, toPath: dir.path(name))
        }
        _ = try dir.write("model.npz.decoder.yml", "models:\n  - missing.npz\nvocabs:\n  - vocab.spm\n  - vocab.spm\n")
        #expect(try MarianImport.load(dir.url.path).defaults.beam == 4)
        try FileManager.default.removeItem(atPath: dir.path("decoder.yml"))
        _ = try dir.write("other.decoder.yml", "models: []\n")
        do { _ = try MarianImport.load(dir.url.path); Issue.record("imported") } catch let e as NMTError {
            #expect(e.message.contains("2 *decoder.yml files; give the one to import"), "\(e.message)")
        }
    }

    @Test func tyingTheEmbeddingsOfTwoDifferentVocabulariesIsRefused() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: fixture + "/model.npz", toPath: dir.path("model.npz"))  // tied-embeddings-all
        for name in ["source.spm", "target.spm"] {
            try FileManager.default.copyItem(atPath: fixturePath("marian/separate-spm/" + name), toPath: dir.path(name))
        }
        _ = try dir.write("decoder.yml", "relative-paths: true\nmodels:\n  - model.npz\nvocabs:\n  - source.spm\n  - target.spm\n")
        do { _ = try MarianImport.load(dir.path("decoder.yml")); Issue.record("imported") } catch let e as NMTError {
            #expect(e.message.contains("tied-embeddings-all ties the embeddings of two different vocabularies"), "\(e.message)")
        }
    }

    @Test func sourceAndTargetSPMOptionsNameTheSegmentationOfAYMLVocabulary() throws {
        let dir = try TemporaryDirectory(), opus = fixturePath("marian/opus-mt")
        for (from, to) in [("decoder.yml", "decoder.yml"), ("model.npz", "model.npz"), ("vocab.yml", "vocab.yml"),
                           ("source.spm", "en.spm"), ("target.spm", "es.spm")] {
            try FileManager.default.copyItem(atPath: opus + "/" + from, toPath: dir.path(to))
        }
        let missing = try runNMT(["import", "marian", dir.url.path, "-o", dir.path("m.safetensors")])
        #expect(missing.status == 1 && missing.stderr.contains("source.spm, is missing") && !FileManager.default.fileExists(atPath: dir.path("m.safetensors")),
                "\(missing.stderr)")
        let given = try runNMT(["import", "marian", dir.url.path, "--source-spm", dir.path("en.spm"), "--target-spm", dir.path("es.spm"),
                                "-o", dir.path("m.safetensors")])
        #expect(given.status == 0, "\(given.stderr)")
        let line = try readLines(path: testPairs + ".en")[0]
        let t = try runNMT(["translate", "-m", dir.path("m.safetensors")], stdin: Data((line + "\n").utf8))
        #expect(t.stdout == (try readLines(path: opus + "/expected.es"))[0] + "\n", "\(t.stderr)")
    }

    @Test func aLeadingTargetLanguageTagInThePieceListIsOneToken() throws {
        let directory = fixturePath("marian/opus-mt")
        let pieces = try MarianImport.pieceList(directory + "/vocab.yml") + [">>fra<<"]
        let tokenizer = try SentencePieceTokenizer(source: try SentencePiece(path: directory + "/source.spm"),
                                                   target: try SentencePiece(path: directory + "/target.spm"), pieces: pieces)
        var encoder = tokenizer.makeEncoder(for: .source)
        let tagged = encoder.encode(">>fra<< In the beginning"), plain = encoder.encode("In the beginning")
        #expect(tagged.first.map { tokenizer.vocabulary.tokens[Int($0)] } == ">>fra<<" && Array(tagged.dropFirst()) == plain)
        #expect(encoder.encode(">>deu<< In")[0] != tagged[0], "a tag the list lacks is text")
    }

    @Test func targetTextIsSegmentedByTargetSPMAndSourceTextBySourceSPM() throws {
        let directory = fixturePath("marian/opus-mt")
        let source = try SentencePiece(path: directory + "/source.spm"), target = try SentencePiece(path: directory + "/target.spm")
        let tokenizer = try SentencePieceTokenizer(source: source, target: target, pieces: try MarianImport.pieceList(directory + "/vocab.yml"))
        let line = try readLines(path: testPairs + ".es")[3]
        func tokens(_ side: TextSide) -> [String] {
            var encoder = tokenizer.makeEncoder(for: side)
            return encoder.encode(line).map { tokenizer.vocabulary.tokens[Int($0)] }
        }
        let known = Set(tokenizer.vocabulary.tokens)
        #expect(tokens(.target) == target.encode(line).map { known.contains($0.piece) ? $0.piece : "<unk>" })
        #expect(tokens(.source) == source.encode(line).map { known.contains($0.piece) ? $0.piece : "<unk>" })
        #expect(tokens(.source) != tokens(.target))
    }

    @Test func aPieceListWithAMissingOrRepeatedIdIsAnErrorNamingTheLine() throws {
        let dir = try TemporaryDirectory()
        for (text, message) in [("</s>: 0\n<unk>: 1\na: 1\n", "vocab.yml:3: id 1 is given twice"),
                                ("</s>: 0\n<unk>: 5\n", "vocab.yml:2: '<unk>' needs an id in [0, 2)"),
                                ("- a\n- b\n", "not a Marian vocabulary")] {
            _ = try dir.write("vocab.yml", text)
            do { _ = try MarianImport.pieceList(dir.path("vocab.yml")); Issue.record("\(text) loaded") } catch let e as NMTError {
                #expect(e.message.contains(message), "\(e.message)")
            }
        }
    }

    /// The fixture's archive with `change` applied to its entries (name → .npy bytes), written stored.
    func archive(_ dir: TemporaryDirectory, _ change: (inout [(String, [UInt8])]) -> Void) throws -> String {
        var entries = try storedEntries(try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture + "/model.npz"))))
        change(&entries)
        try dir.write("model.npz", bytes: zipStored(entries))
        for name in ["vocab.spm", "decoder.yml"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + name, toPath: dir.path(name))
        }
        return dir.path("decoder.yml")
    }

    @Test func hostileArchivesAreOneLineErrorsNamingWhatIsWrong() throws {
        let cases: [(String, (inout [(String, [UInt8])]) -> Void, String)] = [
            ("missing tensor", { $0.removeAll { $0.0 == "decoder_l1_ffn_W1.npy" } }, "tensor 'decoder_l1_ffn_W1' is missing"),
            ("float64", { e in
                let i = e.firstIndex { $0.0 == "Wemb.npy" }!
                e[i].1 = npy(descr: "<f8", shape: [1, 2], payload: [UInt8](repeating: 0, count: 16))
            }, "has dtype <f8"),
            ("wrong shape", { e in
                let i = e.firstIndex { $0.0 == "encoder_l1_self_Wq.npy" }!
                e[i].1 = npy(descr: "<f4", shape: [3, 3], payload: [UInt8](repeating: 0, count: 36))
            }, "tensor 'encoder_l1_self_Wq' has shape [3, 3]"),
            ("unsupported option", { e in
                let i = e.firstIndex { $0.0 == "special:model.yml.npy" }!
                let text = "type: transformer\ndim-emb: 32\nenc-depth: 1\ndec-depth: 1\ntransformer-heads: 2\ntransformer-dim-ffn: 64\n"
                    + "tied-embeddings-all: true\ntransformer-decoder-autoreg: average-attention\n"
                e[i].1 = npy(descr: "|i1", shape: [text.utf8.count], payload: Array(text.utf8))
            }, "transformer-decoder-autoreg: average-attention is not supported by nmt"),
            ("unknown tensor", { $0.append(("extra_W.npy", npy(descr: "<f4", shape: [1], payload: [0, 0, 0, 0]))) }, "tensor 'extra_W' is not part of"),
        ]
        for (name, change, message) in cases {
            let dir = try TemporaryDirectory()
            let yml = try archive(dir, change)
            #expect(throws: NMTError.self, "\(name)") { try MarianImport.load(yml) }
            do { _ = try MarianImport.load(yml) } catch let e as NMTError {
                #expect(e.message.contains(message) && !e.message.contains("\n"), "\(name): \(e.message)")
            }
        }
        // Truncated and deflated archives.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture + "/model.npz")))
        #expect(throws: NMTError.self) { try NPZFile(bytes: Array(bytes.prefix(bytes.count / 2)), path: "cut.npz") }
        var deflated = bytes
        let central = (0..<(bytes.count - 4)).first { bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 1 && bytes[$0 + 3] == 2 }!
        deflated[central + 10] = 8  // the first entry's method: deflate
        do { _ = try NPZFile(bytes: deflated, path: "deflated.npz"); Issue.record("a deflated archive loaded") } catch let e as NMTError {
            #expect(e.message.contains("is compressed"), "\(e.message)")
        }
    }
}

/// A .npy array (version 1) of `payload` bytes.
func npy(descr: String, shape: [Int], payload: [UInt8]) -> [UInt8] {
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let length = header.utf8.count
    return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + payload
}

/// The entries of a stored zip archive, by walking its local headers.
func storedEntries(_ bytes: [UInt8]) throws -> [(String, [UInt8])] {
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    var out: [(String, [UInt8])] = []
    var o = 0
    while o + 30 <= bytes.count && u32(o) == 0x0403_4B50 {
        let size = u32(o + 18), nameLength = u16(o + 26), extra = u16(o + 28)
        let name = String(decoding: bytes[(o + 30)..<(o + 30 + nameLength)], as: UTF8.self)
        let start = o + 30 + nameLength + extra
        out.append((name, Array(bytes[start..<(start + size)])))
        o = start + size
    }
    return out
}

/// A zip archive of `entries`, stored (no compression), as numpy's savez writes one.
func zipStored(_ entries: [(String, [UInt8])]) -> [UInt8] {
    func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    var out: [UInt8] = [], central: [UInt8] = []
    for (name, data) in entries {
        let offset = out.count, n = Array(name.utf8)
        let common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(data.count, 4) + le(data.count, 4) + le(n.count, 2) + le(0, 2)
        out += le(0x0403_4B50, 4) + common + n + data
        central += le(0x0201_4B50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + n
    }
    let start = out.count
    out += central
    out += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(entries.count, 2) + le(entries.count, 2) + le(central.count, 4) + le(start, 4) + le(0, 2)
    return out
}
