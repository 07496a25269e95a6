import Foundation
import Testing
@testable import NMT

/// A UTF-8 byte order mark at the start of a text input is dropped (training text, codes, configs,
/// translate input), except where nmt reads as sacreBLEU does (`nmt score`: Python's utf-8 codec
/// keeps it as U+FEFF).
@Suite struct ByteOrderMarkTests {
    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    @Test func aLeadingByteOrderMarkIsDroppedFromTheFirstLineOnly() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bom.txt", bytes: Self.bom + Array("one\n".utf8) + Self.bom + Array("two\n".utf8))
        #expect(try readLines(path: path) == ["one", "\u{FEFF}two"])
        #expect(try readLines(path: path, keepsByteOrderMark: true) == ["\u{FEFF}one", "\u{FEFF}two"])
    }

    @Test func translateInputWithAByteOrderMarkTranslatesAsWithout() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let plain = try runNMT(["translate", "-m", model, "--greedy"], stdin: Data("a b c\nd e\n".utf8))
        let marked = try runNMT(["translate", "-m", model, "--greedy"], stdin: Data(Self.bom + Array("a b c\nd e\n".utf8)))
        #expect(plain.status == 0 && marked.stdout == plain.stdout, "\(marked.stderr)")
    }

    @Test func nmtCodesWithAByteOrderMarkReadAsNmtCodes() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", String(repeating: "hello world\n", count: 10))
        #expect(try runNMT(["bpe", "learn", "--merges", "5", "-o", dir.path("codes"), corpus]).status == 0)
        let codes = try readFileBytes(path: dir.path("codes"))
        let marked = try dir.write("marked.codes", bytes: Self.bom + codes)
        let plain = try runNMT(["bpe", "apply", "--codes", dir.path("codes")], stdin: Data("hello\n".utf8))
        let withMark = try runNMT(["bpe", "apply", "--codes", marked], stdin: Data("hello\n".utf8))
        #expect(plain.status == 0 && withMark.stdout == plain.stdout, "\(withMark.stdout) \(withMark.stderr)")
    }

    /// sacrebleu 2.6.0 on the same files: BLEU 79.8, chrF2 99.3 (the mark is part of "the").
    @Test func scoreKeepsAByteOrderMarkAsSacreBLEUDoes() throws {
        let dir = try TemporaryDirectory()
        let hyp = try dir.write("hyp", bytes: Self.bom + Array("the cat sat on the mat\nhello there friend\n".utf8))
        let ref = try dir.write("ref", "the cat sat on the mat\nhello there friend\n")
        let r = try runNMT(["score", "--ref", ref, hyp])
        #expect(r.stdout.contains("= 79.84 ") && r.stdout.contains("= 99.28"), "\(r.stdout)")
    }
}
