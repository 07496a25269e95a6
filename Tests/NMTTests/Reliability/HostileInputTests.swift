import Foundation
import Testing
@testable import NMT

@Suite struct HostileInputTests {
    @Test func anEndlessLineIsRefusedBeforeMemoryRunsOut() throws {
        for arguments in [["bpe", "apply", "--codes", "/dev/zero"], ["score", "--ref", "/dev/zero", "/dev/null"], ["bpe", "learn", "-o", "/dev/null", "/dev/zero"]] {
            let r = try runNMT(arguments)
            #expect(r.status == 1 && r.stderr == "nmt: error: /dev/zero:1: line longer than 256 MiB (not a text file?)\n", "\(arguments): \(r.stderr)")
        }
    }

    @Test func anOutputDirectoryThatCannotBeCreatedNamesTheSystemsReason() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let r = try runNMT(tinyTrainArguments((en, es), out: "/proc/nmt-cannot-be-here/run", steps: 1))
        #expect(r.status == 1 && r.stderr.hasSuffix("nmt: error: cannot create output directory /proc/nmt-cannot-be-here/run: No such file or directory\n"), "\(r.stderr)")
    }

    @Test func anEmptyOutputDirectoryIsRefusedNamingTheOption() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let r = try runNMT(tinyTrainArguments((en, es), out: "", steps: 1))
        #expect(r.status == 1 && r.stderr.hasSuffix("nmt: error: --out is empty: give the run's directory\n"), "\(r.stderr)")
    }

    /// open() of a FIFO blocks until a writer comes; the kind is checked first.
    @Test func aFIFOWhereAModelFileIsMeantIsRefusedWithoutBlocking() throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path("checkpoint-9.safetensors")
        #expect(mkfifo(fifo, 0o644) == 0)
        for arguments in [["translate", "-m", fifo], ["quantize", "-m", fifo, "-o", dir.path("q.safetensors")],
                          ["average-checkpoints", "--dir", dir.url.path, "-o", dir.path("avg.safetensors")]] {
            let r = try runNMT(arguments, stdin: Data("a\n".utf8))
            #expect(r.status == 1 && r.stderr.contains("it is a FIFO (named pipe); give a regular file"), "\(arguments): \(r.stderr)")
        }
    }

    @Test func aPathWithANewlineGivesAOneLineError() throws {
        let r = try runNMT(["translate", "-m", "no\nsuch\rmodel.safetensors"], stdin: Data("a\n".utf8))
        #expect(r.status == 1 && r.stderr == "nmt: error: cannot open no\\nsuch\\rmodel.safetensors: No such file or directory\n", "\(r.stderr)")
    }

    @Test func anEmptyMetricListIsRefused() throws {
        let dir = try TemporaryDirectory()
        let ref = try dir.write("ref", "a\n")
        let r = try runNMT(["score", "--ref", ref, "--metrics", "", ref])
        #expect(r.status == 1 && r.stderr == "nmt: error: --metrics is empty: give bleu, chrf or both\n", "\(r.stderr)")
    }

    @Test func aModelFileWithANegativeStepIsRefused() throws {
        let dir = try TemporaryDirectory()
        let loaded = try ModelFile.load(try savedRandomModel(dir))
        let path = dir.path("negative.safetensors")
        try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: -5, to: path)
        let r = try runNMT(["translate", "-m", path], stdin: Data("a\n".utf8))
        #expect(r.status == 1 && r.stderr.contains("metadata 'step' is missing or not a number ≥ 0"), "\(r.stderr)")
    }

    /// A path past the system's limit fails part way; the directories made before are removed.
    @Test func anOutputDirectoryThatFailsPartWayLeavesNoDirectoriesBehind() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let deep = dir.path("out") + String(repeating: "/" + String(repeating: "d", count: 200), count: 25)
        let r = try runNMT(tinyTrainArguments((en, es), out: deep, steps: 1))
        #expect(r.status == 1 && r.stderr.contains("cannot create output directory"), "\(r.stderr.prefix(200))")
        #expect(!FileManager.default.fileExists(atPath: dir.path("out")))
    }
}
