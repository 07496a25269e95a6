import Foundation
import Testing
@testable import NMT

/// The first `lines` pairs of the bundled corpus, copied into `dir` as small.en / small.es.
func smallCorpus(_ dir: TemporaryDirectory, lines: Int = 300, prefix: String = "small") throws -> (String, String) {
    let en = try readLines(path: repositoryPath("data/bible-en-es/train.en")).prefix(lines)
    let es = try readLines(path: repositoryPath("data/bible-en-es/train.es")).prefix(lines)
    return (try dir.write("\(prefix).en", en.joined(separator: "\n") + "\n"), try dir.write("\(prefix).es", es.joined(separator: "\n") + "\n"))
}

func smallOptions(_ dir: TemporaryDirectory, _ corpus: (String, String), out: String = "run") -> TrainingOptions {
    var o = TrainingOptions()
    (o.trainSource, o.trainTarget) = corpus
    (o.validSource, o.validTarget) = corpus
    o.validMaxSentences = 20
    o.outputDirectory = dir.path(out)
    o.bpeMerges = 300
    o.maxTokens = 600
    o.maxLength = 120
    o.lr = 3e-3
    o.warmupSteps = 20
    o.validEvery = 1000
    o.saveEvery = 10
    o.logEvery = 1
    o.setModel(smallConfig)
    return o
}

let smallConfig = TransformerConfig(vocabularySize: 0, dModel: 32, ffnDim: 64, heads: 2, encoderLayers: 1, decoderLayers: 1,
                                    dropout: 0.1, maxPositions: 128)

func quietLog() -> TrainingLog {
    let log = TrainingLog()
    log.quiet = true
    return log
}

@Suite struct TrainerTests {
    @Test func lossFallsAndTheSavedModelLoads() throws {
        let dir = try TemporaryDirectory()
        var o = smallOptions(dir, try smallCorpus(dir))
        o.maxSteps = 200
        let trainer = Trainer(options: o, log: quietLog())
        let summary = try trainer.run()
        #expect(summary.steps == 200)
        let first = trainer.lossHistory.prefix(5).map(\.loss).reduce(0, +) / 5
        let last = trainer.lossHistory.suffix(5).map(\.loss).reduce(0, +) / 5
        #expect(last < 0.75 * first, "loss \(first) → \(last)")
        let loaded = try ModelFile.load(dir.path("run/checkpoint-last.safetensors"))
        #expect(loaded.step == 200)
        let log = try String(contentsOfFile: dir.path("run/log.jsonl"), encoding: .utf8)
        let events = log.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.contains { $0["event"] as? String == "train" && $0["tokens_per_s"] != nil && $0["lr"] != nil })
        #expect(events.contains { $0["event"] as? String == "valid" && $0["bleu"] != nil })
        #expect(FileManager.default.fileExists(atPath: dir.path("run/checkpoint-best.safetensors")))
    }

    @Test func aResumedRunLogsTheSameLossesAsAnUninterruptedOne() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir)
        var whole = smallOptions(dir, corpus, out: "whole")
        whole.maxSteps = 24
        let uninterrupted = Trainer(options: whole, log: quietLog())
        _ = try uninterrupted.run()

        var firstHalf = smallOptions(dir, corpus, out: "split")
        firstHalf.maxSteps = 12
        _ = try Trainer(options: firstHalf, log: quietLog()).run()
        var secondHalf = firstHalf
        secondHalf.maxSteps = 24
        let resumed = Trainer(options: secondHalf, log: quietLog())
        _ = try resumed.run()

        #expect(resumed.lossHistory.map(\.step) == Array(13...24))
        for (a, b) in zip(uninterrupted.lossHistory.suffix(12), resumed.lossHistory) {
            #expect(a.step == b.step)
            #expect(abs(a.loss - b.loss) <= 1e-4 * abs(a.loss), "step \(a.step): \(a.loss) vs \(b.loss)")
        }
    }

    @Test func resumingWithAnotherConfigIsRefused() throws {
        let dir = try TemporaryDirectory()
        var o = smallOptions(dir, try smallCorpus(dir))
        o.maxSteps = 2
        _ = try Trainer(options: o, log: quietLog()).run()
        o.dModel = 64
        o.maxSteps = 4
        #expect(throws: NMTError("\(dir.path("run/checkpoint-last.safetensors")) has a different model config than the options (dModel: 32 in the checkpoint vs 64 in the options)")) {
            try Trainer(options: o, log: quietLog()).run()
        }
    }

    @Test func maxTokensBelowTheLongestSentenceIsRefused() throws {
        let dir = try TemporaryDirectory()
        var o = smallOptions(dir, try smallCorpus(dir))
        o.maxTokens = 50
        #expect(throws: NMTError("--max-tokens 50 is smaller than the longest allowed sentence (--max-len 120 + 1 for </s>)")) {
            try Trainer(options: o, log: quietLog()).run()
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func mismatchedLineCountsNameBothFilesAndWriteNothing() throws {
        let dir = try TemporaryDirectory()
        let en = try dir.write("a.en", "one\ntwo\nthree\n"), es = try dir.write("a.es", "uno\ndos\n")
        let o = smallOptions(dir, (en, es))
        #expect(throws: NMTError("\(en) has 3 lines but \(es) has 2; the files must be aligned line by line")) {
            try Trainer(options: o, log: quietLog()).run()
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func invalidUTF8NamesFileAndLine() throws {
        let dir = try TemporaryDirectory()
        let en = try dir.write("a.en", bytes: Array("one\ntw".utf8) + [0xFE] + Array("o\n".utf8)), es = try dir.write("a.es", "uno\ndos\n")
        let o = smallOptions(dir, (en, es))
        #expect(throws: NMTError("\(en):2: invalid UTF-8 at byte 2 of the line")) {
            try Trainer(options: o, log: quietLog()).run()
        }
    }

    @Test func anEmptyTrainingSetAfterFilteringIsAnError() throws {
        let dir = try TemporaryDirectory()
        let en = try dir.write("a.en", "a b c d e f g h i j k l m n o p\nx\n"), es = try dir.write("a.es", "a\n\n")
        var o = smallOptions(dir, (en, es))
        o.validSource = nil
        o.validTarget = nil
        o.maxLengthRatio = 2
        #expect(throws: NMTError.self) { try Trainer(options: o, log: quietLog()).run() }
        do { _ = try Trainer(options: o, log: quietLog()).run() } catch let e as NMTError {
            #expect(e.message.hasPrefix("no training pairs left after filtering 2 lines (1 empty"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func anOutputPathThatIsAFileIsRefused() throws {
        let dir = try TemporaryDirectory()
        var o = smallOptions(dir, try smallCorpus(dir, lines: 20))
        o.outputDirectory = try dir.write("not-a-directory", "x")
        #expect(throws: NMTError("--out \(o.outputDirectory) exists and is not a directory")) {
            try Trainer(options: o, log: quietLog()).run()
        }
    }

    @Test func keepLastDeletesOlderNumberedCheckpoints() throws {
        let dir = try TemporaryDirectory()
        var o = smallOptions(dir, try smallCorpus(dir, lines: 60))
        o.maxSteps = 8
        o.saveEvery = 2
        o.keepLast = 2
        _ = try Trainer(options: o, log: quietLog()).run()
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path("run")).filter { $0.hasPrefix("checkpoint-") }.sorted()
        #expect(names == ["checkpoint-6.safetensors", "checkpoint-6.state.safetensors", "checkpoint-8.safetensors", "checkpoint-8.state.safetensors",
                          "checkpoint-best.safetensors", "checkpoint-last.safetensors", "checkpoint-last.state.safetensors"])
    }
}
