import Foundation
import Testing
@testable import NMT

/// `nmt translate -i IN -o OUT`: resumable bulk translation, shards and their merge.
@Suite struct BulkTranslationTests {
    static let words = ["the", "house", "in", "beginning", "and", "spirit", "of", "god", "moved", "light", "waters", "heaven"]

    /// `count` lines of 3–9 words, a few of them empty.
    static func input(_ dir: TemporaryDirectory, lines count: Int) throws -> String {
        var rng = RandomGenerator(seed: 7)
        let lines = (0..<count).map { i -> String in
            if i % 97 == 5 { return "" }
            return (0..<(3 + Int(rng.next() % 7))).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
        }
        return try dir.write("in.txt", lines.joined(separator: "\n") + "\n")
    }

    @Test func aRunKilledTenTimesFinishesWithTheOutputOfAStraightRun() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let input = try Self.input(dir, lines: 6000)
        let options = ["translate", "-m", model, "-i", input, "--sampling", "topk:5", "--nbest", "2", "--beam", "1"]
        let straight = try runNMT(options + ["-o", dir.path("straight.txt")])
        #expect(straight.status == 0, "\(straight.stderr)")
        let out = dir.path("resumed.txt")
        var resumes = 0
        for attempt in 0..<10 {
            let process = Process()
            process.executableURL = try nmtExecutable()
            process.arguments = options + ["-o", out, "--threads", attempt % 2 == 0 ? "1" : "2"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: 0.5 + 0.3 * Double(attempt))
            if attempt % 3 == 2 { process.terminate() } else { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            if FileManager.default.fileExists(atPath: out + ".progress") { resumes += 1 }
            if process.terminationReason == .exit { break }  // finished before the signal
            #expect(!FileManager.default.fileExists(atPath: out), "an interrupted run left \(out)")
        }
        let last = try runNMT(options + ["-o", out])
        #expect(last.status == 0, "\(last.stderr)")
        #expect(resumes > 0, "no run was stopped after a checkpoint")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: dir.path("straight.txt"))))
        #expect(!FileManager.default.fileExists(atPath: out + ".progress") && !FileManager.default.fileExists(atPath: out + ".partial"))
    }

    @Test func aStoppedRunIsNotContinuedWithOtherOptions() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let input = try Self.input(dir, lines: 10)
        let out = dir.path("out.txt")
        try #"{"job":"another","lines":3,"bytes":10}"#.write(toFile: out + ".progress", atomically: true, encoding: .utf8)
        try "0123456789".write(toFile: out + ".partial", atomically: true, encoding: .utf8)
        let r = try runNMT(["translate", "-m", model, "-i", input, "-o", out])
        #expect(r.status == 1)
        #expect(r.stderr.contains("nmt: error: \(out).progress: a run with other input, model or options stopped here"), "\(r.stderr)")
        #expect(try String(contentsOfFile: out + ".partial", encoding: .utf8) == "0123456789")
    }

    @Test(arguments: [false, true])
    func shardsMergedGiveTheWholeFilesTranslation(nbest: Bool) throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let input = try Self.input(dir, lines: 2500)
        let options = ["translate", "-m", model, "-i", input, "--beam", "2"] + (nbest ? ["--nbest", "2"] : [])
        #expect(try runNMT(options + ["-o", dir.path("whole")]).status == 0)
        for i in 1...3 {
            let r = try runNMT(options + ["--shard", "\(i)/3", "-o", dir.path("part\(i)")])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let merged = try runNMT(["merge-shards", "-o", dir.path("merged")] + (nbest ? ["--nbest"] : []) + (1...3).map { dir.path("part\($0)") })
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path("merged"))) == Data(contentsOf: URL(fileURLWithPath: dir.path("whole"))))
        let misordered = try runNMT(["merge-shards", dir.path("part2"), dir.path("part3"), dir.path("part1")] + (nbest ? ["--nbest"] : []))
        #expect(misordered.status == 1 || nbest, "\(misordered.stderr)")  // n-best lines carry their index: any order merges
    }
}
