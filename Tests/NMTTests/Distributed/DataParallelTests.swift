// Data-parallel training under `mpirun` (issue: mpirun -np N nmt train). These tests need Open MPI
// and the MPI-enabled binary: scripts/test builds it when Open MPI is installed (`scripts/setup
// --mpi`; .ci/run does) and passes its path in NMT_MPI_BINARY; without it they are skipped.

import Foundation
import Testing
@testable import NMT

/// The MPI-enabled nmt and mpirun, when this machine has them.
private let mpiBinary = ProcessInfo.processInfo.environment["NMT_MPI_BINARY"].flatMap {
    FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil
}

/// `mpirun -np RANKS nmt ARGUMENTS`, not yet started (as root too: Open MPI refuses root unless told).
private func mpirunProcess(_ ranks: Int, _ arguments: [String], binary: String? = mpiBinary) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["mpirun", "-np", "\(ranks)", "--oversubscribe", "--bind-to", "none", binary!] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { $1 }
    return process
}

/// Runs `mpirun -np RANKS nmt ARGUMENTS` to the end.
private func mpirun(_ ranks: Int, _ arguments: [String], binary: String? = mpiBinary) throws -> CommandResult {
    try run(mpirunProcess(ranks, arguments, binary: binary), stdin: Data())
}

/// The losses of the "train" events in a run's log.jsonl, by step.
private func loggedLosses(_ run: String) throws -> [Int: Double] {
    var losses: [Int: Double] = [:]
    for line in try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n") {
        let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        if event["event"] as? String == "train" { losses[event["step"] as! Int] = event["loss"] as? Double }
    }
    return losses
}

private func relativeDifference(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(a), abs(b), 1e-30) }

@Suite(.serialized, .enabled(if: mpiBinary != nil, "needs Open MPI and NMT_MPI_BINARY (scripts/setup --mpi; scripts/test builds it)"))
struct DataParallelTests {
    /// A small model; dropout stays on (masks depend on the update and the batch, not the rank).
    private func arguments(_ corpus: (String, String), out: String, steps: Int) -> [String] {
        ["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--out", out, "--d-model", "32", "--ffn-dim", "64", "--heads", "2",
         "--encoder-layers", "1", "--decoder-layers", "1", "--bpe-merges", "200", "--max-tokens", "500", "--max-len", "100",
         "--max-positions", "128", "--max-steps", "\(steps)", "--log-every", "1", "--save-every", "10", "--valid-every", "1000000",
         "--threads", "1", "--seed", "5"]
    }

    @Test func twoRanksTrainLikeOneProcessWithUpdateFreqTwo() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 300)
        let two = try mpirun(2, arguments(corpus, out: dir.path("two"), steps: 30))
        #expect(two.status == 0, "\(two.stderr)")
        let one = try runNMT(arguments(corpus, out: dir.path("one"), steps: 30) + ["--update-freq", "2"])
        #expect(one.status == 0, "\(one.stderr)")

        let (lossesTwo, lossesOne) = (try loggedLosses(dir.path("two")), try loggedLosses(dir.path("one")))
        #expect(lossesTwo.count == 30 && lossesOne.count == 30)  // one writer: no step logged twice
        for step in 1...30 {
            let (a, b) = (try #require(lossesTwo[step]), try #require(lossesOne[step]))
            #expect(relativeDifference(a, b) <= 1e-5, "step \(step): \(a) with 2 ranks, \(b) in one process")
        }
        let (modelTwo, modelOne) = (try ModelFile.load(dir.path("two/checkpoint-30.safetensors")).model,
                                    try ModelFile.load(dir.path("one/checkpoint-30.safetensors")).model)
        // Relative to the weights' norm: a handful of weights whose gradient is ~0 may move by up to
        // a learning rate either way under Adam (m/√v of rounding noise), so no per-weight bound holds.
        var (difference, norm, largest) = (0.0, 0.0, 0.0)
        for i in 0..<modelOne.parameters.count {
            let (a, b) = (Double(modelTwo.parameters.values[i]), Double(modelOne.parameters.values[i]))
            difference += (a - b) * (a - b)
            norm += b * b
            largest = max(largest, abs(a - b))
        }
        let relative = (difference / norm).squareRoot()
        #expect(relative <= 1e-5, "‖w₂ − w₁‖ / ‖w₁‖ = \(relative), largest difference \(largest)")
        print("2 ranks vs update-freq 2 after 30 updates: ‖w₂ − w₁‖ / ‖w₁‖ = \(relative), largest weight difference \(largest)")
        // Only rank 0 wrote: the same files as the single process, no temporary or duplicate ones.
        let files = { (run: String) in try FileManager.default.contentsOfDirectory(atPath: dir.path(run)).filter { $0 != ".lock" }.sorted() }
        #expect(try files("two") == files("one"))
    }

    @Test func checkpointsResumeAcrossRankCounts() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 300)
        let out = dir.path("run")
        // 2 ranks, then 1, then 2 again, each continuing the last.
        for (ranks, steps) in [(2, 10), (1, 20), (2, 30)] {
            let r = ranks == 1 ? try runNMT(arguments(corpus, out: out, steps: steps)) : try mpirun(ranks, arguments(corpus, out: out, steps: steps))
            #expect(r.status == 0, "\(ranks) ranks to step \(steps): \(r.stderr)")
            if steps > 10 { #expect(r.stderr.contains("resuming from \(out)/checkpoint-last.safetensors at step \(steps - 10)")) }
            #expect(try ModelFile.load(out + "/checkpoint-last.safetensors").step == steps)
        }
        #expect(try loggedLosses(out).keys.sorted() == Array(1...30))
    }

    @Test func aResumedTwoRankRunContinuesExactly() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 300)
        #expect(try mpirun(2, arguments(corpus, out: dir.path("straight"), steps: 20)).status == 0)
        #expect(try mpirun(2, arguments(corpus, out: dir.path("parts"), steps: 10)).status == 0)
        #expect(try mpirun(2, arguments(corpus, out: dir.path("parts"), steps: 20)).status == 0)
        let (straight, parts) = (try loggedLosses(dir.path("straight")), try loggedLosses(dir.path("parts")))
        for step in 11...20 { #expect(straight[step] == parts[step], "step \(step)") }
    }

    @Test func badInputIsReportedOnceByRankZero() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 30)
        let r = try mpirun(2, arguments((corpus.0, dir.path("missing.es")), out: dir.path("run"), steps: 5))
        #expect(r.status != 0)
        let ours = r.stderr.split(separator: "\n").filter { $0.hasPrefix("nmt:") }
        #expect(ours == ["nmt: error: cannot open \(dir.path("missing.es")): No such file or directory"])
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func aBuildWithoutMPIRefusesToRunUnderMpirun() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 30)
        let r = try mpirun(2, arguments(corpus, out: dir.path("run"), steps: 5), binary: try nmtExecutable().path)
        #expect(r.status != 0)
        let ours = r.stderr.split(separator: "\n").filter { $0.hasPrefix("nmt:") }
        #expect(ours == ["nmt: error: mpirun started 2 copies of an nmt built without MPI; build the MPI-enabled binary with scripts/build-mpi and run that"])
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }

    @Test func killingOneRankEndsTheJobAndTheRunResumes() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 300)
        let out = dir.path("run")
        let process = mpirunProcess(2, arguments(corpus, out: out, steps: 1_000_000))
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for two checkpoints, then kill -9 rank 1.
        var deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning && (try? ModelFile.load(out + "/checkpoint-last.safetensors").step) ?? 0 < 20 {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let rankOne = try #require(rankProcess(1, under: process.processIdentifier))
        kill(rankOne, SIGKILL)
        let killed = Date()
        deadline = killed.addingTimeInterval(60)
        while Date() < deadline && process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!process.isRunning, "mpirun still running 60 s after a rank was killed")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(Date().timeIntervalSince(killed) < 30)
        // Every checkpoint left loads, and the next launch resumes from the last one.
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".safetensors") && !$0.contains(".state.") }
        #expect(!checkpoints.isEmpty)
        for name in checkpoints { _ = try ModelFile.load(out + "/" + name) }
        let last = try ModelFile.load(out + "/checkpoint-last.safetensors").step
        let resumed = try mpirun(2, arguments(corpus, out: out, steps: last + 5))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming from \(out)/checkpoint-last.safetensors at step \(last)"))
    }
}

/// The PID of rank `rank` among the descendants of `root` (Open MPI puts OMPI_COMM_WORLD_RANK in each rank's environment).
private func rankProcess(_ rank: Int, under root: Int32) -> Int32? {
    var frontier = [root]
    while let pid = frontier.popLast() {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) {
            let environment = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(child)/environ"))) ?? Data()
            if environment.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) { return child }
            frontier.append(child)
        }
    }
    return nil
}
