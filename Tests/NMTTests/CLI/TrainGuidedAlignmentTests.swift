import Foundation
import Testing
@testable import NMT

/// `nmt train --guided-alignment FILE`: a head trained toward word alignments, which
/// `nmt translate --alignments` then reads.
@Suite struct TrainGuidedAlignmentTests {
    /// A link from each target word to the source word at the same relative place.
    func diagonalAlignments(_ dir: TemporaryDirectory, _ corpus: (String, String)) throws -> String {
        let sources = try readLines(path: corpus.0), targets = try readLines(path: corpus.1)
        let lines = zip(sources, targets).map { s, t -> String in
            let (m, n) = (AlignmentLinks.wordCount(s), AlignmentLinks.wordCount(t))
            return (0..<n).map { "\(min(m - 1, $0 * m / n))-\($0)" }.joined(separator: " ")
        }
        return try dir.write("align.txt", lines.joined(separator: "\n") + "\n")
    }

    @Test func theLogReportsTheAlignmentLossAndTheModelAlignsWithTheTrainedHead() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 40)
        let alignment = try diagonalAlignments(dir, corpus)
        let r = try runNMT(["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--out", dir.path("run"), "--max-steps", "2", "--log-every", "1",
                            "--guided-alignment", alignment, "--guided-alignment-weight", "0.5"] + TrainCorporaTests.tiny + ["--decoder-layers", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("guided alignment: \(alignment) trains head 1 of decoder layer 2, weight 0.5"), "\(r.stderr)")
        let events = try readLines(path: dir.path("run/log.jsonl")).filter { $0.contains("\"train\"") }
        #expect(events.count == 2 && events.allSatisfy { $0.contains("\"alignment_loss\"") }, "\(events)")
        let model = try ModelFile.load(dir.path("run/checkpoint-last.safetensors")).model
        #expect(model.config.alignmentLayer == 1 && model.config.alignmentHead == 0)
        let translated = try runNMT(["translate", "-m", dir.path("run/checkpoint-last.safetensors"), "--alignments", "hard", "--max-len-b", "5"],
                                    stdin: Data("In the beginning\n".utf8))
        #expect(translated.status == 0 && translated.stdout.contains(" ||| "), "\(translated.stderr)")
    }

    @Test func badAlignmentsAreOneLineErrorsNamingTheLineAndNoRunStarts() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 3)
        let words = try readLines(path: corpus.0).map(AlignmentLinks.wordCount)
        for (contents, message) in [("0-0\n0-0\n", "has 2 lines but \(corpus.0) has 3"),
                                    ("0-0\n0-x\n0-0\n", "align.txt:2: '0-x' is not a link i-j"),
                                    ("0-0\n0-0\n\(words[2])-0\n", "align.txt:3: link \(words[2])-0 names source word \(words[2]) but the source line has \(words[2]) words")] {
            let alignment = try dir.write("align.txt", contents)
            let r = try runNMT(["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--out", dir.path("run"), "--max-steps", "1",
                                "--guided-alignment", alignment] + TrainCorporaTests.tiny)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].contains(message), "\(contents): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
        }
        let r = try runNMT(["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--guided-alignment-layer", "2", "--dump-config"])
        #expect(r.status == 1 && r.stderr.contains("--guided-alignment-layer needs --guided-alignment FILE"), "\(r.stderr)")
    }
}
