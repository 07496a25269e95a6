import Foundation
import Testing
@testable import NMT
@testable import NMTServer

@Suite struct TextSegmentsTests {
    private func segments(_ texts: [String], limit: Int) -> TextSegments {
        var encoder = englishTokenizer.makeEncoder(for: .source)
        return TextSegments(texts, encoder: &encoder, limit: limit)
    }

    @Test func aLineThatFitsIsOnePieceAsTranslateReadsIt() {
        let s = segments(["the house of god"], limit: 100)
        var encoder = englishTokenizer.makeEncoder(for: .source)
        #expect(s.sources == [encoder.encode("the house of god")])
        #expect(s.assemble { _ in "X" } == ["X"])
    }

    @Test func linesKeepTheirBreaksAndCarriageReturns() {
        let s = segments(["a\r\n\nb", "c"], limit: 100)
        #expect(s.sources.count == 4)
        #expect(s.blank == [false, true, false, false])
        #expect(s.assemble { "<\($0)>" } == ["<0>\r\n<1>\n<2>", "<3>"])
    }

    @Test func aLongLineIsCutAtSentenceEndsIntoPiecesThatFit() {
        let sentence = "and god saw the light that it was good."
        let line = Array(repeating: sentence, count: 6).joined(separator: " ")
        var encoder = englishTokenizer.makeEncoder(for: .source)
        let perSentence = encoder.encode(sentence).count
        let s = segments([line], limit: perSentence * 2 + 1)
        #expect(s.sources.count == 3)
        #expect(s.sources.allSatisfy { $0.count <= perSentence * 2 + 1 })
        // The pieces are the line's sentences, two by two, and put back with their spaces.
        let pair = sentence + " " + sentence
        #expect(s.sources.allSatisfy { $0 == encoder.encode(pair) })
        #expect(s.assemble { _ in pair } == [line])
    }

    @Test func aSentenceLongerThanTheModelIsCutBetweenWords() {
        let line = Array(repeating: "light", count: 50).joined(separator: " ")
        let s = segments([line], limit: 10)
        #expect(s.sources.count > 1 && s.sources.allSatisfy { $0.count <= 10 })
        #expect(s.sources.reduce(0) { $0 + $1.count } >= 50)
    }
}

@Suite struct HTMLTextTests {
    @Test func tagsCommentsAndScriptsAreKeptByteForByte() {
        let html = "<!doctype html><p title='a > b'>Hello &amp; <i>good</i> day</p><!-- <p>no</p> --><style>p { x: '<b>' }</style>\n"
        let document = HTMLText(html)
        #expect(document.texts == ["Hello &", "good", "day"])
        #expect(document.assemble(["A & B", "C", "D"]) == "<!doctype html><p title='a > b'>A &amp; B <i>C</i> D</p><!-- <p>no</p> --><style>p { x: '<b>' }</style>\n")
    }
}

extension HTMLText {
    static func escapeForTest(_ text: String) -> String { escape(text) }
}
