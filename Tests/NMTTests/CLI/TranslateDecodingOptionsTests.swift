import Foundation
import Testing
@testable import NMT

/// `nmt translate`'s sampling, prefix, repetition and alignment options, end to end.
@Suite struct TranslateDecodingOptionsTests {
    static let lines = ["the house", "in the beginning", "and the spirit of god moved", "a b c", "light", "the waters under the heaven"]
    static var input: Data { Data((lines.joined(separator: "\n") + "\n").utf8) }

    @Test func sampledTranslationsAreTheSameWithOneAndTwoThreadsAndAnyBatchSize() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let sampling = ["translate", "-m", model, "--sampling", "topp:0.9", "--temperature", "1.5", "--nbest", "2", "--seed", "5"]
        let a = try runNMT(sampling + ["--threads", "1", "--batch-size", "1"], stdin: Self.input)
        let b = try runNMT(sampling + ["--threads", "2", "--batch-size", "32"], stdin: Self.input)
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout)
        #expect(a.stdout.split(separator: "\n").count == 2 * Self.lines.count)
        let other = try runNMT(sampling.dropLast() + ["6"], stdin: Self.input)
        #expect(other.stdout != a.stdout)
    }

    @Test func everyTranslationStartsWithItsPrefixFromAFileOrAfterATab() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let prefixes = ["the", "", "and god", "a", "light is", "the waters"]
        try (prefixes.joined(separator: "\n") + "\n").write(toFile: dir.path("prefixes"), atomically: true, encoding: .utf8)
        let fromFile = try runNMT(["translate", "-m", model, "--prefix-file", dir.path("prefixes")], stdin: Self.input)
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let outputs = fromFile.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(outputs.count == prefixes.count)
        for (output, prefix) in zip(outputs, prefixes) { #expect(output.hasPrefix(prefix), "'\(output)' should start with '\(prefix)'") }
        let tabbed = zip(Self.lines, prefixes).map { $1.isEmpty ? $0 : $0 + "\t" + $1 }.joined(separator: "\n") + "\n"
        let afterTab = try runNMT(["translate", "-m", model, "--tab-prefix"], stdin: Data(tabbed.utf8))
        #expect(afterTab.stdout == fromFile.stdout)
    }

    @Test func aPrefixFileShorterThanTheInputIsAnErrorNamingIt() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        try "the\n".write(toFile: dir.path("prefixes"), atomically: true, encoding: .utf8)
        let r = try runNMT(["translate", "-m", model, "--prefix-file", dir.path("prefixes")], stdin: Self.input)
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").last?.hasPrefix("nmt: error: \(dir.path("prefixes")):2: no prefix for input line 2") == true, "\(r.stderr)")
    }

    @Test func hardAlignmentsFollowTheTranslationWithWordIndicesInRange() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--alignments", "hard"], stdin: Self.input)
        #expect(r.status == 0, "\(r.stderr)")
        let outputs = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(outputs.count == Self.lines.count)
        for (output, source) in zip(outputs, Self.lines) {
            let parts = output.components(separatedBy: " ||| ")
            #expect(parts.count == 2, "\(output)")
            let targetWords = parts[0].split(separator: " ").count, sourceWords = source.split(separator: " ").count
            for pair in parts[1].split(separator: " ") {
                let ends = pair.split(separator: "-").compactMap { Int($0) }
                #expect(ends.count == 2 && ends[0] < sourceWords && ends[1] < targetWords, "\(pair) in '\(output)'")
            }
        }
    }

    @Test func aRepetitionGuardKeepsEveryTranslationFreeOfRepeatedWordPairs() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--no-repeat-ngram", "1", "--max-len-b", "30"], stdin: Self.input)
        #expect(r.status == 0, "\(r.stderr)")
        // No token twice means no word twice (a word's tokens spell it).
        for output in r.stdout.split(separator: "\n") {
            let words = output.split(separator: " ").map(String.init)
            #expect(Set(words).count == words.count, "\(output)")
        }
    }

    @Test func contradictoryDecodingOptionsAreRefusedInOneLine() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        for (arguments, message) in [(["--sampling", "topk:2", "--beam", "4"], "--beam 4 with --sampling"),
                                     (["--temperature", "2"], "--temperature applies to --sampling only"),
                                     (["--sampling", "top5"], "--sampling 'top5' must be"),
                                     (["--tab-prefix", "--prefix-file", "x"], "--tab-prefix and --prefix-file")] {
            let r = try runNMT(["translate", "-m", model] + arguments, stdin: Self.input)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].hasPrefix("nmt: error: \(message)"), "\(arguments): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }
}

@Suite struct TranslateEnsembleTests {
    @Test func anEnsembleOfAModelWithItselfTranslatesAsTheModelInBothComputeTypes() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        for computeType in ["float32", "int8"] {
            let options = ["translate", "--nbest", "3", "--scores", "--compute-type", computeType]
            let alone = try runNMT(options + ["-m", model], stdin: TranslateDecodingOptionsTests.input)
            let doubled = try runNMT(options + ["-m", model, "-m", model, "--weights", "0.5,0.5"], stdin: TranslateDecodingOptionsTests.input)
            #expect(alone.status == 0 && doubled.status == 0, "\(doubled.stderr)")
            #expect(alone.stdout == doubled.stdout, "\(computeType)")
        }
    }

    @Test func anEnsembleOfModelsWithDifferentVocabulariesIsRefused() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let (en, es) = try smallCorpus(dir, lines: 20)
        let small = try BPETokenizer.learn(files: [en, es], merges: 10)
        let otherModel = try Transformer(config: TransformerConfig(vocabularySize: small.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                                                   encoderLayers: 1, decoderLayers: 1, maxPositions: 40))
        otherModel.initialize(seed: 2)
        try ModelFile.save(otherModel, tokenizer: small, step: 1, to: dir.path("other.safetensors"))
        let r = try runNMT(["translate", "-m", model, "-m", dir.path("other.safetensors")], stdin: TranslateDecodingOptionsTests.input)
        let lines = r.stderr.split(separator: "\n")
        #expect(r.status == 1 && lines.count == 1, "\(r.stderr)")
        #expect(lines.first?.hasPrefix("nmt: error: -m \(dir.path("other.safetensors")): its tokenizer or vocabulary differs") == true, "\(r.stderr)")
        let weights = try runNMT(["translate", "-m", model, "-m", model, "--weights", "1"], stdin: TranslateDecodingOptionsTests.input)
        #expect(weights.status == 1 && weights.stderr.contains("--weights '1': give 2 comma-separated numbers"), "\(weights.stderr)")
    }
}
