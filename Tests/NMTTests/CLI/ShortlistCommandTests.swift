import Foundation
import Testing
@testable import NMT

/// `nmt shortlist learn` and `nmt translate --shortlist K`.
@Suite struct ShortlistCommandTests {
    @Test func aLearnedShortlistBesideTheModelIsWhatTranslateReads() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let (en, es) = try smallCorpus(dir, lines: 40)
        let learned = try runNMT(["shortlist", "learn", "-m", model, "--src", en, "--tgt", es, "--best", "20", "--frequent", "10"])
        #expect(learned.status == 0, "\(learned.stderr)")
        let table = try Shortlist.load(dir.path("model.shortlist"))
        #expect(table.frequent.count == 10 && table.largestSize == 20)
        let input = Data("In the beginning\nAnd the earth\n".utf8)
        let r = try runNMT(["translate", "-m", model, "--shortlist", "5", "--max-len-b", "5"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("nmt: shortlist \(dir.path("model.shortlist")): each line's output from the 5 likeliest targets of each source token and 10 frequent ones"),
                "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 3)
        let plain = try runNMT(["translate", "-m", model, "--max-len-b", "5"], stdin: input)
        #expect(!plain.stderr.contains("shortlist"))
    }

    @Test func aShortlistThatCannotApplyIsAOneLineError() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let (en, es) = try smallCorpus(dir, lines: 20)
        // A model of another vocabulary, and its shortlist.
        let otherTokenizer = try BPETokenizer.learn(files: [es], merges: 30)
        let other = try Transformer(config: TransformerConfig(vocabularySize: otherTokenizer.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                                              encoderLayers: 1, decoderLayers: 1, maxPositions: 40))
        try ModelFile.save(other, tokenizer: otherTokenizer, step: 1, to: dir.path("other.safetensors"))
        #expect(try runNMT(["shortlist", "learn", "-m", dir.path("other.safetensors"), "--src", en, "--tgt", es]).status == 0)
        let input = Data("In the beginning\n".utf8)
        for (arguments, message) in [
            (["--shortlist", "5"], "no shortlist at \(dir.path("model.shortlist")): make one with nmt shortlist learn -m \(model)"),
            (["--shortlist", "5", "--shortlist-file", dir.path("other.shortlist")], "\(dir.path("other.shortlist")) was learned for another vocabulary than \(model)'s"),
            (["--shortlist-file", dir.path("other.shortlist")], "--shortlist-file needs --shortlist K"),
            (["--shortlist", "5", "-m", model], "--shortlist decodes one model; give one -m"),
            (["--shortlist", "5", "--tab-prefix"], "--shortlist cannot be combined with target prefixes"),
            (["--shortlist", "0"], "--shortlist 0 must be in"),
        ] {
            let r = try runNMT(["translate", "-m", model] + arguments, stdin: input)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].contains(message), "\(arguments): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        let unaligned = try dir.write("short.es", "one line\n")
        let r = try runNMT(["shortlist", "learn", "-m", model, "--src", en, "--tgt", unaligned])
        #expect(r.status == 1 && r.stderr.contains("has 20 lines but \(unaligned) has 1"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("model.shortlist")))
    }
}
