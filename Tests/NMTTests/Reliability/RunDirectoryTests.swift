import Foundation
import Testing
@testable import NMT

/// Small, fast `nmt train` arguments writing to `out`.
func tinyTrainArguments(_ corpus: (String, String), out: String, steps: Int) -> [String] {
    ["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--out", out, "--max-steps", String(steps), "--log-every", "1",
     "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--bpe-merges", "100",
     "--max-positions", "128", "--max-len", "120", "--max-tokens", "600", "--valid-every", "1000000", "--save-every", "5"]
}

/// Starts nmt in the background (stderr into `stderrPath`), without a shell.
func startNMT(_ arguments: [String], stderrPath: String) throws -> Process {
    let process = Process()
    process.executableURL = try nmtExecutable()
    process.arguments = arguments
    _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return process
}

/// Starts a long tiny training run in `run`, waits for `updates` logged updates, sends `signal`,
/// and waits for the exit; returns the exit status and stderr.
func interruptTraining(_ dir: TemporaryDirectory, _ corpus: (String, String), run: String, after updates: Int, signal: Int32) throws -> (Int32, String) {
    let process = try startNMT(tinyTrainArguments(corpus, out: run, steps: 1_000_000), stderrPath: dir.path("stderr"))
    waitForUpdates(run, updates, of: process)
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    return (process.terminationStatus, try String(contentsOfFile: dir.path("stderr"), encoding: .utf8))
}

/// Waits until the run's log.jsonl records `updates` "train" events (or the process ends).
func waitForUpdates(_ run: String, _ updates: Int, of process: Process) {
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline && process.isRunning {
        let log = (try? String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)) ?? ""
        if log.components(separatedBy: "\"train\"").count - 1 >= updates { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
}

@Suite struct RunDirectoryTests {
    @Test func aSecondTrainerOnTheSameRunDirectoryFailsAtOnceNamingTheFirst() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 200)
        let run = dir.path("run")
        let first = try startNMT(tinyTrainArguments(corpus, out: run, steps: 1_000_000), stderrPath: dir.path("first.stderr"))
        waitForUpdates(run, 2, of: first)
        let second = try runNMT(tinyTrainArguments(corpus, out: run, steps: 3))
        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        #expect(second.status == 1)
        #expect(second.stderr == "nmt: error: --out \(run) is in use by another nmt train (PID \(first.processIdentifier)); wait for it to finish or choose another --out\n")
        #expect(first.terminationStatus == 0)
        // The first run's log was not interleaved with anything.
        for line in try readLines(path: run + "/log.jsonl") { #expect(line.hasPrefix("{\"") && line.hasSuffix("}")) }
    }

    @Test func sighupFinishesTheStepAndSavesLikeSigterm() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 200)
        let run = dir.path("run")
        let (status, stderr) = try interruptTraining(dir, corpus, run: run, after: 3, signal: SIGHUP)
        #expect(status == 0 && stderr.contains("stopped by signal"), "\(stderr)")
        #expect(try ModelFile.load(run + "/checkpoint-last.safetensors").step >= 3)
    }

    @Test func temporaryFilesOfDeadWritersAreRemovedWhenTheNextRunStarts() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        let run = dir.path("run")
        #expect(try runNMT(tinyTrainArguments(corpus, out: run, steps: 2)).status == 0)
        // A writer that died (PID 4194304 cannot exist: above Linux's pid_max), one still alive (us), and a user's file.
        let stale = ".checkpoint-5.safetensors.tmp-4194304-77", live = ".x.safetensors.tmp-\(getpid())-1", mine = "notes.tmp-1-2"
        for name in [stale, live, mine] { _ = FileManager.default.createFile(atPath: run + "/" + name, contents: Data("x".utf8)) }
        let r = try runNMT(tinyTrainArguments(corpus, out: run, steps: 3))
        #expect(r.status == 0 && r.stderr.contains("removed 1 temporary file(s) left by an interrupted run: \(stale)"), "\(r.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: run)
        #expect(!names.contains(stale) && names.contains(live) && names.contains(mine))
    }

    @Test func aSecondSignalRemovesTheTemporaryFileBeingWritten() throws {
        TemporaryFiles.setInFlight(nil)
        let dir = try TemporaryDirectory()
        let path = dir.path("in-flight")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        TemporaryFiles.setInFlight(path)
        TemporaryFiles.removeInFlight()
        TemporaryFiles.setInFlight(nil)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aCheckpointReplacedWhileItLoadsIsReadWholeFromTheFileThatWasOpened() throws {
        let dir = try TemporaryDirectory()
        let a = try savedRandomModel(dir, name: "a.safetensors", seed: 1)
        let b = try savedRandomModel(dir, name: "b.safetensors", seed: 2)
        let file = try SafeTensorsFile(path: a)
        try replaceAtomically(link: b, as: a)  // what a trainer does to checkpoint-last
        let loaded = try ModelFile.load(file)
        let expected = try ModelFile.load(dir.path("b.safetensors"))
        #expect(loaded.step == 1 && expected.step == 2)
        let first = Array(UnsafeBufferPointer(start: loaded.model.parameters.values, count: loaded.model.parameters.count))
        let reference = try savedRandomModel(dir, name: "a-again.safetensors", seed: 1)
        let again = try ModelFile.load(reference)
        #expect(first == Array(UnsafeBufferPointer(start: again.model.parameters.values, count: again.model.parameters.count)))
    }

    @Test func averagingARunDirectoryWhileItsTrainerRotatesCheckpointsAlwaysSucceeds() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 200)
        let run = dir.path("run")
        var arguments = tinyTrainArguments(corpus, out: run, steps: 1_000_000)
        arguments[arguments.firstIndex(of: "--save-every")! + 1] = "1"
        arguments += ["--keep-last", "2"]
        let trainer = try startNMT(arguments, stderrPath: dir.path("stderr"))
        waitForUpdates(run, 3, of: trainer)
        var failures: [String] = []
        for i in 0..<15 {
            let r = try runNMT(["average-checkpoints", "--dir", run, "--last", "2", "-o", dir.path("avg\(i).safetensors")])
            if r.status != 0 { failures.append(r.stderr) }
        }
        kill(trainer.processIdentifier, SIGTERM)
        trainer.waitUntilExit()
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func aResumeAcceptsTheSameFilesSpelledAnotherWay() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        let run = dir.path("run")
        #expect(try runNMT(tinyTrainArguments(corpus, out: run, steps: 2)).status == 0)
        let relative = ("./small.en", "./small.es")
        let r = try runNMT(tinyTrainArguments(relative, out: run, steps: 4), in: dir.url)
        #expect(r.status == 0 && r.stderr.contains("resuming from"), "\(r.stderr)")
        #expect(try ModelFile.load(run + "/checkpoint-last.safetensors").step == 4)
    }

    @Test func aResumeFromAnotherWorkingDirectoryComparesTheFilesNotTheirSpelling() throws {
        let dir = try TemporaryDirectory()
        _ = try smallCorpus(dir, lines: 100)
        let run = dir.path("run")
        #expect(try runNMT(tinyTrainArguments(("small.en", "small.es"), out: run, steps: 2), in: dir.url).status == 0)
        let name = dir.url.lastPathComponent
        let r = try runNMT(tinyTrainArguments(("\(name)/small.en", "\(name)/small.es"), out: run, steps: 4), in: dir.url.deletingLastPathComponent())
        #expect(r.status == 0 && r.stderr.contains("resuming from"), "\(r.stderr)")
    }

    @Test func aModelAndAStateFileFromDifferentCheckpointsAreRefusedNamingBoth() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        let run = dir.path("run")
        #expect(try runNMT(tinyTrainArguments(corpus, out: run, steps: 10)).status == 0)  // checkpoints 5 and 10
        let (model5, model10) = (run + "/checkpoint-5.safetensors", run + "/checkpoint-10.safetensors")
        let state10 = TrainingStateFile.path(forCheckpoint: model10)
        try FileManager.default.removeItem(atPath: state10)
        try FileManager.default.copyItem(atPath: TrainingStateFile.path(forCheckpoint: model5), toPath: state10)
        let r = try runNMT(tinyTrainArguments(corpus, out: run, steps: 12) + ["--resume", model10])
        #expect(r.status == 1 && r.stderr.contains("\(model10) (step 10) and \(state10) (step 5) are not from the same checkpoint"), "\(r.stderr)")
    }

    @Test func weightsReplacedUnderAStateFileAreRefused() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        let (a, b) = (dir.path("a"), dir.path("b"))
        #expect(try runNMT(tinyTrainArguments(corpus, out: a, steps: 5)).status == 0)
        #expect(try runNMT(tinyTrainArguments(corpus, out: b, steps: 5) + ["--seed", "9"]).status == 0)
        let model = a + "/checkpoint-5.safetensors"
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: b + "/checkpoint-5.safetensors", toPath: model)
        let r = try runNMT(tinyTrainArguments(corpus, out: a, steps: 8) + ["--resume", model])
        #expect(r.status == 1 && r.stderr.contains("the weights differ from those the state was saved with"), "\(r.stderr)")
    }
}

@Suite struct DivergenceTests {
    @Test func aNonFiniteLossLeavesTheWeightsAndOptimizerUntouched() throws {
        let config = TransformerConfig(vocabularySize: englishTokenizer.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                       encoderLayers: 1, decoderLayers: 1, maxPositions: 40)
        let model = try Transformer(config: config)
        model.initialize(seed: 1)
        model.parameters.values[5] = .nan
        let before = Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count))
        let adam = Adam(count: model.parameters.count, beta1: 0.9, beta2: 0.98, epsilon: 1e-9, weightDecay: 0)
        let step = TrainingStep(model: model, adam: adam, dropout: DropoutSampler(config: config, rng: RandomGenerator(seed: 1)),
                                labelSmoothing: 0.1, clipNorm: 0)
        let result = try step.run([Batch(pairs: [(source: [300, 301, 302], target: [303, 304])])], lr: 1e-3, update: 1)
        #expect(result.diverged)
        let after = Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count))
        #expect(zip(before, after).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(adam.step == 0)
    }

    @Test func aModelWithNonFiniteWeightsIsWarnedAboutAndNotResumed() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        let run = dir.path("run")
        #expect(try runNMT(tinyTrainArguments(corpus, out: run, steps: 2)).status == 0)
        let loaded = try ModelFile.load(run + "/checkpoint-2.safetensors")
        for i in 0..<10 { loaded.model.parameters.values[i * 7] = .infinity }
        try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: 2, to: run + "/checkpoint-last.safetensors")
        let t = try runNMT(["translate", "-m", run + "/checkpoint-last.safetensors", "--beam", "1", "--max-len-b", "2"], stdin: Data("in the\n".utf8))
        #expect(t.stderr.contains("nmt: warning: \(run)/checkpoint-last.safetensors has 10 weights that are NaN or infinite"), "\(t.stderr)")
        let r = try runNMT(tinyTrainArguments(corpus, out: run, steps: 4))
        #expect(r.status == 1 && r.stderr == "nmt: error: \(run)/checkpoint-last.safetensors has 10 weights that are NaN or infinite; resume from an earlier checkpoint with --resume FILE\n")
    }
}

extension DivergenceTests {
    @Test func trainingThatDivergesStopsNamingTheStepAndSavesNothingOfIt() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 100)
        #expect(try runNMT(tinyTrainArguments(corpus, out: dir.path("run"), steps: 2)).status == 0)
        // Finite weights so large that the first forward pass overflows (fine-tuning restarts the step count).
        let loaded = try ModelFile.load(dir.path("run/checkpoint-last.safetensors"))
        for i in 0..<loaded.model.parameters.count { loaded.model.parameters.values[i] *= 1e30 }
        try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: 2, to: dir.path("huge.safetensors"))
        let r = try runNMT(tinyTrainArguments(corpus, out: dir.path("run2"), steps: 5) + ["--resume", dir.path("huge.safetensors"), "--reset-optimizer"])
        #expect(r.status == 1 && r.stderr.contains("nmt: error: training diverged at step 1: the loss is nan;") && r.stderr.contains("nothing of that step was applied or saved; no checkpoint was saved yet"), "\(r.stderr)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: dir.path("run2")).filter { $0.hasPrefix("checkpoint-") }
        #expect(saved.isEmpty, "\(saved)")
    }

    /// Found by the model-file fuzzer: an int8 conversion of a NaN weight trapped.
    @Test func nonFiniteWeightsQuantizeWithoutTrappingAndQuantizeRefusesThem() throws {
        let dir = try TemporaryDirectory()
        let path = try savedRandomModel(dir)
        let loaded = try ModelFile.load(path)
        let embedding = loaded.model.parameters.entries.first { $0.shape.count == 2 }!
        loaded.model.parameters.values[embedding.offset] = .nan
        loaded.model.parameters.values[embedding.offset + 1] = -.infinity
        try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: 3, to: path)
        let t = try runNMT(["translate", "-m", path, "--compute-type", "int8", "--beam", "2", "--max-len-b", "3"], stdin: Data("the house\n".utf8))
        #expect(t.status == 0 && t.stderr.contains("has 2 weights that are NaN or infinite"), "\(t.stderr)")
        let q = try runNMT(["quantize", "-m", path, "-o", dir.path("q.safetensors")])
        #expect(q.status == 1 && q.stderr == "nmt: error: \(path) has 2 weights that are NaN or infinite (saved by a diverged run?); quantize an earlier checkpoint\n")
    }
}

@Suite struct BlankLineTests {
    @Test func linesOfOnlyWhiteSpaceTranslateToEmptyLines() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--beam", "2", "--max-len-b", "3"], stdin: Data("  \n\t\u{A0}\u{3000}\nthe house\n".utf8))
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(r.status == 0 && lines.count == 4 && lines[0] == "" && lines[1] == "" && !lines[2].isEmpty, "\(r.stdout)")
    }
}
