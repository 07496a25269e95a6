import Foundation
import Testing
@testable import NMT

/// Runs nmt through `sh -c 'exec nmt ARGS REDIRECTIONS'` (exec: no shell is left waiting).
func runNMTWithRedirections(_ arguments: [String], _ redirections: String, stdin: Data = Data()) throws -> CommandResult {
    let quoted = ([try nmtExecutable().path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec " + quoted.joined(separator: " ") + " " + redirections]
    return try run(process, stdin: stdin)
}

@Suite struct WriteFailureTests {
    @Test func outputToAFullDiskIsAnErrorForScoreTranslateAndBPE() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let model = try savedRandomModel(dir)
        try runNMT(["bpe", "learn", "--merges", "30", "-o", dir.path("codes"), en])
        try runNMT(["bpe", "apply", "--codes", dir.path("codes"), "-o", dir.path("pieces"), en])
        for arguments in [["score", "--ref", es, es], ["score", "--ref", es, "--json", es], ["score", "--ref", es, "--sentence", es],
                          ["translate", "-m", model], ["bpe", "apply", "--codes", dir.path("codes"), en],
                          ["bpe", "decode", "--codes", dir.path("codes"), dir.path("pieces")], ["train", "--train-src", en, "--train-tgt", es, "--dump-config"]] {
            let r = try runNMTWithRedirections(arguments, "> /dev/full", stdin: Data("the house\n".utf8))
            #expect(r.status == 1 && r.stderr.hasSuffix("nmt: error: cannot write <stdout>: No space left on device\n"), "\(arguments): \(r.stderr)")
        }
    }

    @Test func anOutputFileOnAFullDeviceIsAnErrorAndTheDeviceIsNotReplaced() throws {
        let dir = try TemporaryDirectory()
        let (en, _) = try smallCorpus(dir, lines: 20)
        let r = try runNMT(["bpe", "learn", "--merges", "30", "-o", "/dev/full", en])
        #expect(r.status == 1 && r.stderr == "nmt: error: cannot write /dev/full: No space left on device\n")
        var info = stat()
        #expect(stat("/dev/full", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR)
    }

    @Test func aClosedStandardOutputIsAnErrorNotLostOutput() throws {
        let dir = try TemporaryDirectory()
        let (_, es) = try smallCorpus(dir, lines: 20)
        let r = try runNMTWithRedirections(["score", "--ref", es, es], ">&-")
        #expect(r.status == 1 && r.stderr == "nmt: error: cannot write <stdout>: standard output is closed\n")
    }

    @Test func aClosedStandardErrorIsIgnoredByTranslateAndTrain() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 60)
        let model = try savedRandomModel(dir)
        var r = try runNMTWithRedirections(["translate", "-m", model, "--beam", "2"], "2>&-", stdin: Data("the house\n\n".utf8))
        #expect(r.status == 0 && r.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 3)
        r = try runNMTWithRedirections(["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--max-steps", "3", "--log-every", "1",
                                        "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1",
                                        "--bpe-merges", "50", "--max-positions", "128", "--max-len", "120", "--max-tokens", "600"], "2>&-")
        #expect(r.status == 0)
        #expect(try ModelFile.load(dir.path("run/checkpoint-last.safetensors")).step == 3)
        // No file nmt opened took descriptor 2's place: the log holds JSON lines only.
        for line in try readLines(path: dir.path("run/log.jsonl")) { #expect(line.hasPrefix("{") && line.hasSuffix("}")) }
    }

    @Test func aBrokenPipeOnStandardErrorDoesNotStopTraining() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 60)
        let args = ["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--max-steps", "5", "--log-every", "1",
                    "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1",
                    "--bpe-merges", "50", "--max-positions", "128", "--max-len", "120", "--max-tokens", "600"]
        let quoted = ([try nmtExecutable().path] + args).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(quoted) 2>&1 >/dev/null | head -c 1 >/dev/null; echo ${PIPESTATUS:-done}"]
        try process.run()
        process.waitUntilExit()
        #expect(try ModelFile.load(dir.path("run/checkpoint-last.safetensors")).step == 5)
    }

    @Test func aLogThatCannotBeWrittenKeepsWholeLinesAndReportsTheError() throws {
        let dir = try TemporaryDirectory()
        let log = TrainingLog()
        log.quiet = true
        log.event("data", ["lines": 3])
        try log.open(path: dir.path("log.jsonl"))
        log.event("train", ["step": 1])
        #expect(log.writeError == nil)
        let full = TrainingLog()
        full.quiet = true
        try full.open(path: "/dev/full")
        full.event("train", ["step": 1])
        #expect(full.writeError == NMTError("cannot write /dev/full: No space left on device"))
        #expect(try readLines(path: dir.path("log.jsonl")).count == 2)
    }

    @Test func aFileSizeLimitStopsTrainingWithOneLineAndLeavesNoTemporaryFiles() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 60)
        let args = ["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--max-steps", "5",
                    "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1",
                    "--bpe-merges", "50", "--max-positions", "128", "--max-len", "120", "--max-tokens", "600"]
        let quoted = ([try nmtExecutable().path] + args).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -f 64; exec \(quoted)"]  // 64 blocks of 512 bytes: a checkpoint does not fit
        let error = Pipe()
        process.standardError = error
        try process.run()
        let stderr = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "\(stderr)")
        #expect(stderr.hasSuffix("File too large\n") && stderr.components(separatedBy: "nmt: error:").count == 2, "\(stderr)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path("run")).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    /// Runs `nmt train` under `ulimit -f blocks` (512-byte blocks); returns stderr and the exit status.
    func trainUnderFileSizeLimit(_ blocks: Int, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let quoted = ([try nmtExecutable().path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -f \(blocks); exec \(quoted)"]
        let error = Pipe()
        process.standardError = error
        try process.run()
        let stderr = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    /// A disk that is full from the start: the run stops with one line, and its --out is left as it
    /// was — no lock, log or config file, no directory it created.
    @Test func aRunThatCannotWriteAtTheStartLeavesItsDirectoryAsItFoundIt() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 40)
        let fresh = dir.path("new/run")
        let r = try trainUnderFileSizeLimit(0, tinyTrainArguments(corpus, out: fresh, steps: 2))
        #expect(r.status == 1 && r.stderr.components(separatedBy: "nmt: error:").count == 2, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("new")))
        let existing = dir.path("existing")
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: false)
        let again = try trainUnderFileSizeLimit(0, tinyTrainArguments(corpus, out: existing, steps: 2))
        #expect(again.status == 1, "\(again.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: existing).isEmpty)
    }

    /// A disk that fills between a checkpoint's files: never a checkpoint without the state that
    /// resumes it (every limit from the first checkpoint's smallest file to its largest).
    @Test func aCheckpointIsNeverLeftWithoutItsState() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 40)
        let full = dir.path("full")
        let r = try trainUnderFileSizeLimit(100_000, tinyTrainArguments(corpus, out: full, steps: 5))
        #expect(r.status == 0, "\(r.stderr)")
        func blocks(_ name: String) throws -> Int {
            let bytes = try FileManager.default.attributesOfItem(atPath: full + "/" + name)[.size] as? Int ?? 0
            return (bytes + 511) / 512
        }
        let sizes = [try blocks("checkpoint-5.safetensors"), try blocks("checkpoint-5.state.safetensors")].sorted()
        for limit in [sizes[0], (sizes[0] + sizes[1]) / 2, sizes[1] - 1] {
            let out = dir.path("limit-\(limit)")
            _ = try trainUnderFileSizeLimit(limit, tinyTrainArguments(corpus, out: out, steps: 5))
            let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            for name in names where name.hasPrefix("checkpoint-") && !name.contains(".state.") {
                #expect(names.contains(name.replacingOccurrences(of: ".safetensors", with: ".state.safetensors")), "limit \(limit): \(names)")
            }
        }
    }
}
