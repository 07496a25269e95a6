import Foundation
import Testing
@testable import NMT

@Suite struct TrainCommandTests {
    @Test func sigtermMidRunLeavesALoadableCheckpoint() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 200)
        let run = dir.path("run")
        let arguments = ["train", "--train-src", en, "--train-tgt", es, "--out", run, "--d-model", "32", "--ffn-dim", "64",
                         "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--bpe-merges", "200", "--max-tokens", "600",
                         "--max-len", "120", "--max-positions", "128", "--max-steps", "1000000", "--log-every", "1", "--valid-every", "1000000"]
        // Start training, wait for three logged updates, send SIGTERM, wait for the exit. (No shell in
        // between: a shell spawned from a dispatch thread inherits a blocked SIGCHLD and can hang in `wait`.)
        let process = Process()
        process.executableURL = try nmtExecutable()
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: run + ".stderr", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: run + ".stderr"))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning {
            let log = (try? String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)) ?? ""
            if log.components(separatedBy: "\"train\"").count - 1 >= 3 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let printed = "exit \(process.terminationStatus)\n"
        let stderr = (try? String(contentsOfFile: run + ".stderr", encoding: .utf8)) ?? ""
        #expect(printed == "exit 0\n", "\(stderr)")
        #expect(stderr.contains("stopping after this step") && stderr.contains("stopped by signal"))
        let loaded = try ModelFile.load(run + "/checkpoint-last.safetensors")
        #expect(loaded.step >= 3)
        #expect(FileManager.default.fileExists(atPath: run + "/checkpoint-last.state.safetensors"))
    }

    @Test func contradictoryOrMissingOptionsAreOneLineErrors() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 10)
        var r = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--max-tokens", "100"])
        #expect(r.status != 0 && r.stderr == "nmt: error: --max-tokens 100 is smaller than the longest allowed sentence (--max-len 256 + 1 for </s>)\n")
        r = try runNMT(["train", "--train", dir.path("small"), "--out", dir.path("run")])
        #expect(r.status != 0 && r.stderr == "nmt: error: --train PREFIX needs --src and --tgt language suffixes\n")
        r = try runNMT(["train", "--train-src", en, "--train-tgt", dir.path("missing.es"), "--out", dir.path("run")])
        #expect(r.status != 0 && r.stderr == "nmt: error: cannot open \(dir.path("missing.es")): No such file or directory\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func anUnwritableOutputDirectoryIsAnError() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 10)
        let blocker = try dir.write("file", "x")
        let r = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--out", blocker + "/run", "--max-steps", "1",
                            "--d-model", "32", "--ffn-dim", "64", "--heads", "2", "--bpe-merges", "50"])
        #expect(r.status != 0 && r.stderr == "nmt: error: cannot create output directory \(blocker)/run: \(blocker) is not a directory\n")
    }

    @Test func flagsOverrideTheConfigFileAndDumpConfigPrintsTheEffectiveOptions() throws {
        let dir = try TemporaryDirectory()
        let config = try dir.write("run.yaml", "max-tokens: 700\nseed: 5\npreset: base\n")
        let r = try runNMT(["train", "--config", config, "--seed", "9", "--out", dir.path("run"), "--dump-config"])
        #expect(r.status == 0, "\(r.stderr)")
        let printed = try ConfigFile.parse(r.stdout, path: "stdout")
        #expect(printed.maxTokens == 700 && printed.seed == 9 && printed.preset == .base && printed.dModel == 512 && printed.lr == 7e-4)
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func oneSideOfAPairFromTheCommandLineKeepsTheOtherFromTheConfig() throws {
        let dir = try TemporaryDirectory()
        let config = try dir.write("run.yaml", "train-src: a.en\ntrain-tgt: a.es\nvalid-src: v.en\nvalid-tgt: v.es\n")
        let r = try runNMT(["train", "--config", config, "--train-tgt", "b.es", "--valid-src", "w.en", "--dump-config"])
        #expect(r.status == 0, "\(r.stderr)")
        let printed = try ConfigFile.parse(r.stdout, path: "stdout")
        #expect(printed.trainSource == "a.en" && printed.trainTarget == "b.es" && printed.validSource == "w.en" && printed.validTarget == "v.es")
    }

    @Test func aConfigFromAPipeIsReadAndADirectoryOrAHugeFileIsRefusedWithTheReason() throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path("config.fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        let writer = Thread { try? "seed: 7\n".write(toFile: fifo, atomically: false, encoding: .utf8) }
        writer.start()
        let piped = try runNMT(["train", "--config", fifo, "--train-src", "a", "--train-tgt", "b", "--dump-config"])
        #expect(piped.status == 0 && piped.stdout.contains("seed: 7"), "\(piped.stderr)")
        let directory = try runNMT(["train", "--config", dir.url.path, "--dump-config"])
        #expect(directory.status == 1 && directory.stderr == "nmt: error: cannot read \(dir.url.path): it is a directory\n", "\(directory.stderr)")
        let huge = try dir.write("huge.yaml", String(repeating: "# a comment line that makes the file large\n", count: 400_000))
        let large = try runNMT(["train", "--config", huge, "--dump-config"])
        #expect(large.status == 1 && large.stderr.contains("larger than 16 MB, too large for a config"), "\(large.stderr)")
    }

    @Test func anUnknownConfigKeyIsAOneLineErrorWithFileAndLine() throws {
        let dir = try TemporaryDirectory()
        let config = try dir.write("run.yaml", "seed: 5\nwarmup: 10\n")
        let r = try runNMT(["train", "--config", config, "--dump-config"])
        #expect(r.status != 0 && r.stderr == "nmt: error: \(config):2: unknown option 'warmup'\n")
    }

    @Test func theRunDirectoryKeepsItsConfigAndAResumeMustMatchIt() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 60)
        let run = dir.path("run")
        let arguments = ["train", "--train-src", en, "--train-tgt", es, "--out", run, "--d-model", "32", "--ffn-dim", "64",
                         "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1", "--bpe-merges", "100", "--max-tokens", "600",
                         "--max-len", "120", "--max-positions", "128", "--log-every", "1", "--threads", "1"]
        var r = try runNMT(arguments + ["--max-steps", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let saved = try ConfigFile.read(run + "/config.yaml")
        #expect(saved.maxSteps == 2 && saved.dModel == 32 && saved.trainSource == en && saved.lr == 2e-3)
        r = try runNMT(arguments + ["--max-steps", "3", "--lr", "0.01"])
        #expect(r.status != 0 && r.stderr == "nmt: error: cannot resume from \(run)/checkpoint-last.state.safetensors: --lr is 0.01 now but was 0.002 in that run; give the run's value, or --resume FILE --reset-optimizer to fine-tune instead\n")
        // The recorded config runs the same training again: here it continues it.
        r = try runNMT(["train", "--config", run + "/config.yaml", "--max-steps", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ModelFile.load(run + "/checkpoint-last.safetensors").step == 3)
    }
}
