import Foundation
import Testing
@testable import NMT

/// A tokenizer learned once from the subword-nmt fixture corpus (English, 1,015 lines).
let englishTokenizer: BPETokenizer = try! BPETokenizer.learn(files: [fixturePath("subword-nmt/corpus.en")], merges: 500)

/// Random lines mixing everything that makes lossless round trips hard.
func randomTrickyLine(_ rng: inout RandomGenerator) -> String {
    let pieces: [String] = [
        " ", "  ", "   ", "\t", " \t ", "\u{00A0}", "\u{3000}", "\r",
        "the", "house", "of", "Spirit", "God’s", "don't", "e-mail", "x",
        "2020", "3.14", "1,000", "-7", "#", "&amp;", "<s>", "</s>", "<0x41>", "<unk>", "@@",
        "😀", "👩‍👩‍👧", "🇪🇸", "日本語のテキスト", "中文", "한국어",
        "مرحبا بالعالم", "שלום", "é", "e\u{0301}", "a\u{0301}\u{0302}", "\u{200D}", "\u{200C}", "\u{FEFF}",
        "▁", "▁▁", "x▁y", "Ωμέγα", "Привет", "ß", "ﬁ", "\u{1F}", "\\", "\"",
    ]
    var line = ""
    for _ in 0..<Int(rng.next() % 12) { line += pieces[Int(rng.next() % UInt64(pieces.count))] }
    return line
}

@Suite struct BPETokenizerTests {
    @Test func decodeOfEncodeIsTheIdentityOnThousandsOfRandomLines() {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        var rng = RandomGenerator(seed: 42)
        var failures: [String] = []
        for _ in 0..<5000 {
            let line = randomTrickyLine(&rng)
            let ids = encoder.encode(line)
            #expect(!ids.contains(Vocabulary.unknown))
            if englishTokenizer.decode(ids) != line { failures.append(line) }
        }
        #expect(failures.isEmpty, "not restored: \(failures.prefix(5).map { $0.debugDescription })")
    }

    @Test func applyOutputMapsToIdsOneToOne() {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        var rng = RandomGenerator(seed: 7)
        for _ in 0..<1000 {
            let line = randomTrickyLine(&rng)
            let ids = encoder.encode(line)
            let printed = ids.map { englishTokenizer.vocabulary[$0] }.joined(separator: " ")
            let parsed = try? englishTokenizer.ids(pieces: printed).get()
            #expect(parsed == ids, "\(line.debugDescription)")
        }
    }

    @Test func unseenScriptsFallBackToBytesAndDecodeExactly() {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        let line = "Привет, мир — 你好 🌍"
        let ids = encoder.encode(line)
        #expect(ids.contains { Vocabulary.byte(of: $0) != nil })
        #expect(!ids.contains(Vocabulary.unknown))
        #expect(englishTokenizer.decode(ids) == line)
    }

    @Test func commonWordsBecomeSingleTokensAndDigitsStaySplit() {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        let pieces = encoder.encode("the 2020").map { englishTokenizer.vocabulary[$0] }
        #expect(pieces == ["▁the", "▁", "2", "0", "2", "0"])
    }

    @Test func vocabularyStartsWithSpecialsThenBytes() {
        let v = englishTokenizer.vocabulary
        #expect(Array(v.tokens.prefix(4)) == ["<pad>", "<unk>", "<s>", "</s>"])
        #expect(v[4] == "<0x00>" && v[259] == "<0xFF>" && v[4 + 0x41] == "<0x41>")
        #expect(v.count == Set(v.tokens.map { Array($0.utf8) }).count, "tokens are unique")
    }

    @Test func mergesNeverProduceReservedTokenStrings() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", String(repeating: "<s> </s> <0x41> <unk> <pad>\n", count: 50))
        let tokenizer = try BPETokenizer.learn(files: [corpus], merges: 200)
        let mergeResults = tokenizer.merges.map { $0.left + $0.right }
        #expect(!mergeResults.contains { Vocabulary.isReserved($0) })
        var encoder = tokenizer.makeEncoder(for: .source)
        let ids = encoder.encode("<s> </s> <0x41>")
        #expect(!ids.contains(Vocabulary.beginOfSentence) && !ids.contains(Vocabulary.endOfSentence))
        #expect(tokenizer.decode(ids) == "<s> </s> <0x41>")
    }

    @Test func codesTextRoundTripsToTheSameVocabulary() throws {
        let reparsed = try BPETokenizer(codesText: englishTokenizer.codesText, source: "codes")
        #expect(reparsed.vocabulary == englishTokenizer.vocabulary)
        #expect(reparsed.codesText == englishTokenizer.codesText)
    }

    @Test func learningIsDeterministic() throws {
        let again = try BPETokenizer.learn(files: [fixturePath("subword-nmt/corpus.en")], merges: 500)
        #expect(again.codesText == englishTokenizer.codesText)
    }

    @Test func characterCoverageSendsRareCharactersToBytes() throws {
        let dir = try TemporaryDirectory()
        let corpus = try dir.write("corpus", String(repeating: "aaaa bbbb\n", count: 100) + "z\n")
        let full = try BPETokenizer.learn(files: [corpus], merges: 5, characterCoverage: 1)
        let partial = try BPETokenizer.learn(files: [corpus], merges: 5, characterCoverage: 0.99)
        #expect(full.characters.contains("z"))
        #expect(!partial.characters.contains("z"))
        var encoder = partial.makeEncoder(for: .source)
        #expect(encoder.encode("z") .contains(Vocabulary.firstByte + 0x7A))
    }

    @Test func dropoutZeroEqualsPlainApply() {
        var plain = englishTokenizer.makeEncoder(for: .source), dropped = englishTokenizer.makeEncoder(for: .source)
        var rng = RandomGenerator(seed: 3), lines = RandomGenerator(seed: 4)
        for _ in 0..<300 {
            let line = randomTrickyLine(&lines)
            #expect(dropped.encode(line, dropout: 0, rng: &rng) == plain.encode(line))
        }
    }

    @Test func dropoutIsSeededAndSplitsMore() {
        let line = "the house of the spirit and the earth was formless and empty"
        var a = englishTokenizer.makeEncoder(for: .source), b = englishTokenizer.makeEncoder(for: .source), plain = englishTokenizer.makeEncoder(for: .source)
        var rngA = RandomGenerator(seed: 9), rngB = RandomGenerator(seed: 9)
        var longer = 0
        for _ in 0..<50 {
            let x = a.encode(line, dropout: 0.3, rng: &rngA), y = b.encode(line, dropout: 0.3, rng: &rngB)
            #expect(x == y)
            #expect(englishTokenizer.decode(x) == line)
            if x.count > plain.encode(line).count { longer += 1 }
        }
        #expect(longer > 40)
    }

    @Test func emptyLineHasNoTokens() {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        #expect(encoder.encode("").isEmpty)
        #expect(englishTokenizer.decode([]) == "")
    }
}
