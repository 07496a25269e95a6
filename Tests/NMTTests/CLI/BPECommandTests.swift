import Foundation
import Testing

@Suite struct BPECommandTests {
    @Test func learnApplyDecodeRoundTripsRawText() throws {
        let dir = try TemporaryDirectory()
        let text = "  Hello,  world!\t\n\nGod’s Spirit — 2020 ▁ emoji 😀 end \n"
        let corpus = try dir.write("corpus", String(repeating: text, count: 20))
        let codes = dir.path("codes")
        #expect(try runNMT(["bpe", "learn", "--merges", "50", "-o", codes, corpus]).status == 0)
        let applied = try runNMT(["bpe", "apply", "--codes", codes], stdin: Data(text.utf8))
        #expect(applied.status == 0)
        #expect(applied.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 4)  // 3 lines + final newline
        let decoded = try runNMT(["bpe", "decode", "--codes", codes], stdin: Data(applied.stdout.utf8))
        #expect(decoded.stdout == text)
    }

    /// A space followed by a combining mark is one Swift Character; pieces are split on the byte.
    @Test func wordsStartingWithCombiningMarksRoundTripInBothFormats() throws {
        let dir = try TemporaryDirectory()
        let text = "\u{301}\u{301}a b \u{301}c \u{20DD}\u{301} d\u{301}\n"
        let corpus = try dir.write("corpus", String(repeating: text, count: 5) + "abc bcd\n")
        let codes = dir.path("codes"), subwordCodes = dir.path("subword.codes")
        #expect(try runNMT(["bpe", "learn", "--merges", "3", "-o", codes, corpus]).status == 0)
        _ = try dir.write("subword.codes", "#version: 0.2\nb c\n")
        for codes in [codes, subwordCodes] {
            let applied = try runNMT(["bpe", "apply", "--codes", codes], stdin: Data(text.utf8))
            let decoded = try runNMT(["bpe", "decode", "--codes", codes], stdin: Data(applied.stdout.utf8))
            #expect(applied.status == 0 && decoded.status == 0 && decoded.stdout == text, "\(codes): \(applied.stdout) → \(decoded.stdout) \(decoded.stderr)")
        }
    }

    @Test func subwordNMTFormatJoinsPiecesWithSeparators() throws {
        let r = try runNMT(["bpe", "apply", "--codes", fixturePath("subword-nmt/bpe.ref"), fixturePath("subword-nmt/corpus.en")])
        let expected = try String(contentsOfFile: fixturePath("subword-nmt/corpus.bpe.ref.en"), encoding: .utf8)
        #expect(r.status == 0 && r.stdout == expected)
    }

    @Test func mergesZeroIsAnError() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", "a b c\n")
        let r = try runNMT(["bpe", "learn", "--merges", "0", "-o", dir.path("codes"), corpus])
        #expect(r.status != 0 && r.stderr == "nmt: error: --merges 0 must be in [1, 10000000]\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("codes")))
    }

    @Test func emptyCorpusIsAnErrorAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", "")
        let r = try runNMT(["bpe", "learn", "--merges", "10", "-o", dir.path("codes"), corpus])
        #expect(r.status != 0 && r.stderr.contains("empty corpus") && r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.path("codes")))
    }

    @Test func missingInputFileIsAnError() throws {
        let dir = try TemporaryDirectory()
        let r = try runNMT(["bpe", "learn", "--merges", "10", "-o", dir.path("codes"), "/no/such/file"])
        #expect(r.status != 0 && r.stderr == "nmt: error: cannot open /no/such/file: No such file or directory\n")
    }

    @Test func invalidUTF8NamesFileLineAndByteOffset() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", bytes: Array("good line\nab".utf8) + [0xFF] + Array("c\n".utf8))
        let r = try runNMT(["bpe", "learn", "--merges", "10", "-o", dir.path("codes"), corpus])
        #expect(r.stderr == "nmt: error: \(corpus):2: invalid UTF-8 at byte 2 of the line\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("codes")))
    }

    @Test func applyWithOutputFileLeavesNoPartialFileOnError() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", "the cat\n")
        let codes = dir.path("codes")
        try runNMT(["bpe", "learn", "--merges", "5", "-o", codes, corpus])
        let bad = try dir.write("input", bytes: Array("the cat\n".utf8) + [0xC0, 0x80] + Array("\n".utf8))
        let r = try runNMT(["bpe", "apply", "--codes", codes, "-o", dir.path("out"), bad])
        #expect(r.status != 0 && r.stderr == "nmt: error: \(bad):2: invalid UTF-8 at byte 0 of the line\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("out")))
    }

    @Test func codesWithBadHeaderOrMalformedLineNameTheLine() throws {
        let dir = try TemporaryDirectory()
        let badLine = try dir.write("bad-line", "#nmt-bpe: 1\n#characters: [\"a\",\"b\"]\na b\na  b c\n")
        var r = try runNMT(["bpe", "apply", "--codes", badLine], stdin: Data("ab\n".utf8))
        #expect(r.status != 0 && r.stderr == "nmt: error: \(badLine):4: malformed merge line (expected two symbols separated by one space)\n")
        let badCharacters = try dir.write("bad-characters", "#nmt-bpe: 1\n#characters: nope\n")
        r = try runNMT(["bpe", "apply", "--codes", badCharacters], stdin: Data("ab\n".utf8))
        #expect(r.status != 0 && r.stderr.hasPrefix("nmt: error: \(badCharacters):2: "))
        let badVersion = try dir.write("bad-version", "#version: 7.1\na b\n")
        r = try runNMT(["bpe", "apply", "--codes", badVersion], stdin: Data("ab\n".utf8))
        #expect(r.status != 0 && r.stderr == "nmt: error: \(badVersion):1: unsupported codes version '7.1' (expected 0.1 or 0.2)\n")
        let unknownSymbol = try dir.write("unknown-symbol", "#nmt-bpe: 1\n#characters: [\"a\"]\na q\n")
        r = try runNMT(["bpe", "apply", "--codes", unknownSymbol], stdin: Data("ab\n".utf8))
        #expect(r.status != 0 && r.stderr.hasPrefix("nmt: error: \(unknownSymbol):3: merge 'a q'"))
    }

    @Test func decodeRejectsUnknownPiecesNamingTheLine() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", "the cat\n")
        let codes = dir.path("codes")
        try runNMT(["bpe", "learn", "--merges", "5", "-o", codes, corpus])
        let r = try runNMT(["bpe", "decode", "--codes", codes], stdin: Data("▁ t\nnot-a-piece\n".utf8))
        #expect(r.status != 0 && r.stderr == "nmt: error: <stdin>:2: unknown piece 'not-a-piece'\n")
    }
}
