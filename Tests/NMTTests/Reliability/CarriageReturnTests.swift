import Foundation
import Testing
@testable import NMT

/// CRLF line ends are dropped on input (as Python's universal newlines do); a lone "\r" is text, and
/// every symbol a merge can hold round-trips through codes files and model files.
@Suite struct CarriageReturnTests {
    /// Lines with lone "\r", U+2028, U+0085 and NUL inside words, often enough to be merged.
    static let trickyLines: [String] = (0..<120).map { i in
        ["a \r\rb c\r\rd", "x \u{2028}\u{2028}y z", "p \u{85}\u{85}q r", "n \u{0}\u{0}m o", "plain words here"][i % 5] + " \(i % 7)"
    }

    @Test func crlfLineEndsAreDroppedAndLoneCarriageReturnsKept() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("crlf.txt", bytes: Array("one\r\ntwo\rthree\r\n\r\nlast\r".utf8))
        #expect(try readLines(path: path) == ["one", "two\rthree", "", "last\r"])
    }

    @Test func mergesWithCarriageReturnsAndLineSeparatorsRoundTripThroughTheCodesFile() throws {
        let dir = try TemporaryDirectory()
        let text = try dir.write("tricky.txt", Self.trickyLines.joined(separator: "\n") + "\n")
        let learned = try BPETokenizer.learn(files: [text], merges: 60, minFrequency: 2)
        let symbols = learned.merges.map { $0.left + $0.right }
        for special in ["\r", "\u{2028}", "\u{85}", "\u{0}"] { #expect(symbols.contains { $0.unicodeScalars.contains(special.unicodeScalars.first!) }, "\(special.debugDescription)") }
        #expect(try runNMT(["bpe", "learn", "--merges", "60", "-o", dir.path("codes"), text]).status == 0)
        let reread = try BPETokenizer(path: dir.path("codes"))
        #expect(reread.merges.elementsEqual(learned.merges) { $0 == $1 })
        let applied = try runNMT(["bpe", "apply", "--codes", dir.path("codes"), text])
        let decoded = try runNMT(["bpe", "decode", "--codes", dir.path("codes")], stdin: Data(applied.stdout.utf8))
        #expect(decoded.status == 0 && decoded.stdout == Self.trickyLines.joined(separator: "\n") + "\n")
    }

    @Test func aCodesFileSavedWithCRLFLineEndsReadsAsTheSameCodes() throws {
        let dir = try TemporaryDirectory()
        let text = try dir.write("tricky.txt", Self.trickyLines.joined(separator: "\n") + "\n")
        #expect(try runNMT(["bpe", "learn", "--merges", "60", "-o", dir.path("codes"), text]).status == 0)
        let lf = try Data(contentsOf: URL(fileURLWithPath: dir.path("codes")))
        var crlf = Data()
        for byte in lf { if byte == 0x0A { crlf.append(0x0D) }; crlf.append(byte) }
        try crlf.write(to: URL(fileURLWithPath: dir.path("codes.crlf")))
        let a = try runNMT(["bpe", "apply", "--codes", dir.path("codes"), text])
        let b = try runNMT(["bpe", "apply", "--codes", dir.path("codes.crlf"), text])
        #expect(a.status == 0 && b.status == 0 && a.stdout == b.stdout)
    }

    @Test func aTruncatedCodesFileIsAnErrorNamingTheLine() throws {
        let dir = try TemporaryDirectory()
        let (en, _) = try smallCorpus(dir, lines: 50)
        #expect(try runNMT(["bpe", "learn", "--merges", "40", "-o", dir.path("codes"), en]).status == 0)
        let full = try Data(contentsOf: URL(fileURLWithPath: dir.path("codes")))
        try full.prefix(full.count - 2).write(to: URL(fileURLWithPath: dir.path("cut")))
        let r = try runNMT(["bpe", "apply", "--codes", dir.path("cut")], stdin: Data("the house\n".utf8))
        #expect(r.status == 1 && r.stderr.hasPrefix("nmt: error: \(dir.path("cut")):42: the file ends in the middle of a line"), "\(r.stderr)")
    }

    @Test func aModelTrainedOnCRLFAndLoneCarriageReturnTextLoadsAndTranslates() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 100)
        for (path, name) in [(en, "crlf.en"), (es, "crlf.es")] {
            let lines = try readLines(path: path).enumerated().map { $0 % 4 == 0 ? $1.replacingOccurrences(of: " ", with: " \r") : $1 }
            try dir.write(name, lines.map { $0 + "\r\n" }.joined() + Self.trickyLines.map { $0 + "\r\n" }.joined())
        }
        let r = try runNMT(["train", "--train-src", dir.path("crlf.en"), "--train-tgt", dir.path("crlf.es"), "--out", dir.path("run"),
                            "--max-steps", "2", "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--encoder-layers", "1",
                            "--decoder-layers", "1", "--bpe-merges", "300", "--max-positions", "128", "--max-len", "120", "--max-tokens", "600"])
        #expect(r.status == 0, "\(r.stderr)")
        let loaded = try ModelFile.load(dir.path("run/checkpoint-last.safetensors"))
        #expect((loaded.tokenizer as! BPETokenizer).merges.contains { ($0.left + $0.right).unicodeScalars.contains("\r") })
        let t = try runNMT(["translate", "-m", dir.path("run/checkpoint-last.safetensors"), "--beam", "2", "--max-len-b", "3"],
                           stdin: Data("in the\r\nbeginning\r\n".utf8))
        #expect(t.status == 0 && t.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 3, "\(t.stderr)")
        #expect(try runNMT(["average-checkpoints", "--dir", dir.path("run"), "-o", dir.path("avg.safetensors")]).status == 0)
    }
}
