// subword-nmt's own golden files (Fixtures/subword-nmt, MIT licence): our learner and applier
// must reproduce them byte for byte.

import Foundation
import Testing
@testable import NMT

@Suite struct SubwordNMTTests {
    @Test func learnedCodesEqualSubwordNMTsByteForByte() throws {
        let merges = try SubwordNMT.learn(files: [fixturePath("subword-nmt/corpus.en")], merges: 1000, minFrequency: 2)
        let expected = try String(contentsOfFile: fixturePath("subword-nmt/bpe.ref"), encoding: .utf8)
        let ours = SubwordNMT.codesText(merges)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let ourLines = ours.split(separator: "\n", omittingEmptySubsequences: false)
        let firstDifference = zip(expectedLines, ourLines).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDifference == nil, "first difference at line \(firstDifference.map { $0.offset + 1 } ?? 0): \(firstDifference.map { "\($0.element.1) vs \($0.element.0)" } ?? "")")
        #expect(ours == expected)
    }

    @Test func appliedCorpusEqualsSubwordNMTsByteForByte() throws {
        var codes = try SubwordNMT.Codes(path: fixturePath("subword-nmt/bpe.ref"))
        let input = try readLines(path: fixturePath("subword-nmt/corpus.en"))
        let expected = try readLines(path: fixturePath("subword-nmt/corpus.bpe.ref.en"))
        var rng = RandomGenerator(seed: 1)
        let ours = input.map { codes.apply(line: $0, rng: &rng) }
        #expect(ours.count == expected.count)
        let firstDifference = zip(ours, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDifference == nil, "line \(firstDifference.map { $0.offset + 1 } ?? 0): \(firstDifference.map { "\($0.element.0) vs \($0.element.1)" } ?? "")")
    }

    @Test func whitespaceAndSingleCharactersBehaveAsInSubwordNMT() throws {
        let dir = try TemporaryDirectory()
        let codesPath = try dir.write("codes", "#version: 0.2\nl o\nlo w</w>\n")
        var codes = try SubwordNMT.Codes(path: codesPath)
        var rng = RandomGenerator(seed: 1)
        // Expectations printed by subword-nmt apply-bpe with these codes.
        // Leading/trailing "\r\n " kept; inner runs of spaces collapse; tabs belong to words.
        #expect(codes.apply(line: "  low  x\tlow ", rng: &rng) == "  low x@@ \t@@ low ")
        #expect(codes.apply(line: "   ", rng: &rng) == "   ")
        #expect(codes.apply(line: "", rng: &rng) == "")
        #expect(codes.apply(line: "a", rng: &rng) == "a")
        #expect(codes.apply(line: "lo", rng: &rng) == "l@@ o")  // (l, o</w>) is not a merge
    }
}
