// nmt's BLEU and chrF against numbers that sacreBLEU 2.4.3 itself printed.
//
// How the expectations were made: `scripts/check/make-score-fixtures` installs sacrebleu==2.4.3 in a
// virtualenv, reads the fixture files under Fixtures/sacrebleu/ as sacreBLEU's command line does
// (`line.rstrip()`), and writes every score at full Python precision (repr) and its text line
// into expected.json. The fixtures cover a perfect match, an empty hypothesis line, no matching
// 4-grams (each smoothing), two references, Unicode punctuation, numbers with "." and ",",
// HTML entities, "-" after digits, tabs and runs of spaces, CJK, and mixed case.

import Foundation
import Testing
@testable import NMT

struct SacreBLEUExpectations: Decodable {
    struct Corpus: Decodable {
        var name: String
        var metric: String
        var options: [String: OptionValue]
        var hyp: String
        var refs: [String]
        var score: Double
        var counts: [Double]?
        var totals: [Double]?
        var precisions: [Double]?
        var bp: Double?
        var sys_len: Int?
        var ref_len: Int?
        var text: String
    }
    enum OptionValue: Decodable {
        case bool(Bool), string(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) } else { self = .string(try c.decode(String.self)) }
        }
        var string: String? { if case .string(let s) = self { return s }; return nil }
        var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    }
    struct Sentence: Decodable {
        var bleu: Double
        var bleu_two_refs: Double
        var chrf: Double
        var bleu_text: String
    }
    var corpus: [Corpus]
    var sentence: [Sentence]

    static func load() throws -> SacreBLEUExpectations {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("sacrebleu/expected.json")))
        return try JSONDecoder().decode(SacreBLEUExpectations.self, from: data)
    }
}

/// A fixture's lines. (sacreBLEU's command line also right-strips them; BLEU right-strips each
/// segment itself and chrF drops all whitespace, so that changes no number.)
func scoreFixture(_ name: String) throws -> [String] {
    try readLines(path: fixturePath("sacrebleu/" + name))
}

/// Drops the version field, the only part of the text that differs by design.
func withoutVersion(_ text: String) -> String {
    text.replacingOccurrences(of: #"\|version:[^ ]+"#, with: "", options: .regularExpression)
}

/// Equal to the last printed digit of Python's repr (17 significant digits), allowing one ulp.
func sameDouble(_ a: Double, _ b: Double) -> Bool {
    a == b || abs(a - b) <= 2 * max(abs(a), abs(b)).ulp
}

@Suite struct SacreBLEUAgreementTests {
    static let cases = try! SacreBLEUExpectations.load().corpus

    @Test(arguments: cases.filter { $0.metric == "bleu" }.map(\.name))
    func corpusBLEUEqualsSacreBLEU(name: String) throws {
        let expected = try #require(Self.cases.first { $0.name == name })
        var bleu = BLEU()
        if let tok = expected.options["tokenize"]?.string { bleu.tokenizer = try #require(BLEUTokenizer(rawValue: tok)) }
        if let smooth = expected.options["smooth_method"]?.string { bleu.smoothing = try #require(BLEUSmoothing(rawValue: smooth)) }
        if let lc = expected.options["lowercase"]?.bool { bleu.lowercase = lc }
        let hypotheses = try scoreFixture(expected.hyp)
        let references = try expected.refs.map(scoreFixture)
        let score = bleu.corpusScore(hypotheses: hypotheses, references: references)
        #expect(sameDouble(score.score, expected.score), "\(score.score) vs sacreBLEU \(expected.score)")
        #expect(score.counts == expected.counts)
        #expect(score.totals == expected.totals)
        #expect(zip(score.precisions, expected.precisions!).allSatisfy(sameDouble))
        #expect(sameDouble(score.brevityPenalty, expected.bp!))
        #expect(score.hypothesisLength == expected.sys_len && score.referenceLength == expected.ref_len)
        let text = ScoreReport(bleu: score, signature: bleu.signature(references: references.count)).text
        #expect(withoutVersion(text) == withoutVersion(expected.text))
    }

    @Test(arguments: cases.filter { $0.metric == "chrf" }.map(\.name))
    func corpusChrFEqualsSacreBLEU(name: String) throws {
        let expected = try #require(Self.cases.first { $0.name == name })
        let chrf = CHRF(lowercase: expected.options["lowercase"]?.bool ?? false)
        let references = try expected.refs.map(scoreFixture)
        let score = chrf.corpusScore(hypotheses: try scoreFixture(expected.hyp), references: references)
        #expect(sameDouble(score, expected.score), "\(score) vs sacreBLEU \(expected.score)")
        let text = ScoreReport(chrf: score, name: chrf.name, signature: chrf.signature(references: references.count)).text
        #expect(withoutVersion(text) == withoutVersion(expected.text))
    }

    @Test func sentenceScoresEqualSacreBLEU() throws {
        let expected = try SacreBLEUExpectations.load().sentence
        let hypotheses = try scoreFixture("hyp.txt"), ref1 = try scoreFixture("ref1.txt"), ref2 = try scoreFixture("ref2.txt")
        let bleu = BLEU(effectiveOrder: true)
        let one = bleu.sentenceScores(hypotheses: hypotheses, references: [ref1])
        let two = bleu.sentenceScores(hypotheses: hypotheses, references: [ref1, ref2])
        let chrf = CHRF().sentenceScores(hypotheses: hypotheses, references: [ref1])
        #expect(expected.count == hypotheses.count)
        for (i, e) in expected.enumerated() {
            #expect(sameDouble(one[i].score, e.bleu), "line \(i + 1): \(one[i].score) vs \(e.bleu)")
            #expect(sameDouble(two[i].score, e.bleu_two_refs), "line \(i + 1): \(two[i].score) vs \(e.bleu_two_refs)")
            #expect(sameDouble(chrf[i], e.chrf), "line \(i + 1): \(chrf[i]) vs \(e.chrf)")
            let text = ScoreReport(bleu: one[i], signature: bleu.signature(references: 1)).text
            #expect(withoutVersion(text) == withoutVersion(e.bleu_text))
        }
    }

    @Test func thirteenATokenizationFollowsTheDigitRules() {
        func tok(_ s: String) -> [String] {
            let t = tokenize13a(codePoints(s))
            return pythonSplit(t).map { String(String.UnicodeScalarView(t[$0].map { Unicode.Scalar($0)! })) }
        }
        #expect(tok("3.14 and 1,000.") == ["3.14", "and", "1,000", "."])
        #expect(tok("10-year-old") == ["10", "-", "year-old"])
        #expect(tok("&amp;lt;") == ["<"])
        #expect(tok("end.\"") == ["end", ".", "\""])
    }
}
