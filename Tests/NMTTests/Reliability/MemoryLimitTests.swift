import Foundation
import Testing
@testable import NMT

/// Under a memory limit (`ulimit -v`) a command ends with one `nmt: error:` line and exit status
/// 1, or succeeds — never a trap or a signal.
@Suite struct MemoryLimitTests {
    /// Runs nmt under `ulimit -v kilobytes` (through /bin/sh, which sets the limit and execs nmt),
    /// stopped after 120 s (a hang: exit status 124).
    func runLimited(_ kilobytes: Int, _ arguments: [String], stdin: String = "") throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(kilobytes) && exec timeout 120 \"$0\" \"$@\"", try nmtExecutable().path] + arguments
        return try run(process, stdin: Data(stdin.utf8))
    }

    func expectCleanEnd(_ r: CommandResult, _ context: String) {
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("nmt: error:") }
        #expect(r.status == 0 || (r.status == 1 && errors.count == 1), "\(context): exit \(r.status), \(r.stderr.prefix(300))")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("crashed"), "\(context): \(r.stderr.prefix(300))")
    }

    /// From too little to load a model (300 MB of address space) to enough (4 GB), through the
    /// limits where threads or OpenBLAS's buffers no longer fit (which once hung).
    @Test(arguments: [300_000, 400_000, 600_000, 900_000, 4_000_000])
    func commandsUnderAMemoryLimitEndWithOneErrorLineOrSucceed(kilobytes: Int) throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let corpus = try smallCorpus(dir, lines: 30)
        let run = dir.path("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: run + "/checkpoint-1.safetensors")
        for arguments in [["translate", "-m", model], ["rescore", "-m", model, "--src", corpus.0, "--tgt", corpus.1],
                          ["average-checkpoints", "--dir", run, "-o", dir.path("avg.safetensors")],
                          tinyTrainArguments(corpus, out: dir.path("train"), steps: 2)] {
            expectCleanEnd(try runLimited(kilobytes, arguments, stdin: "a b c\n"), "ulimit -v \(kilobytes): nmt \(arguments[0])")
        }
    }

    @Test func trainingThatCannotFitTheMemoryLimitIsRefusedBeforeItStarts() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 30)
        let r = try runLimited(300_000, tinyTrainArguments(corpus, out: dir.path("run"), steps: 2))
        #expect(r.status == 1 && r.stderr.contains("more than what the memory limit (ulimit -v 0.3 GB) leaves"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }
}
