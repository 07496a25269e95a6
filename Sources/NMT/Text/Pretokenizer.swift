// Pretokenizer: splits a raw line into the words BPE works inside, losslessly.
//
// As in SentencePiece, a space becomes the visible marker ▁ (U+2581) and a ▁ is put in front of
// the line (so a word looks the same at the start of a line and after a space). Then:
//   - a ▁ joins the word that follows it when that word starts with a letter or punctuation;
//     otherwise (before a digit, another ▁, or at the end) it stands alone — so runs of spaces,
//     leading and trailing spaces survive exactly;
//   - letters (with combining marks and format characters such as zero-width joiners) form runs;
//   - every digit is its own word (SentencePiece's split_digits: numbers never become one token);
//   - every other character (punctuation, symbols, tabs, other spaces) forms runs of its own.
// A literal ▁ in the input is not the marker: it is emitted as `literalMarker` (outside Unicode),
// which no vocabulary holds, so it is always spelled in byte tokens and decodes back to itself.

public enum Pretokenizer {
    public static let marker: UInt32 = 0x2581
    /// Stands for a literal U+2581 in the input.
    public static let literalMarker: UInt32 = 0x11_0000

    enum CharacterClass { case marker, letter, digit, other }

    @inline(__always)
    static func characterClass(_ c: UInt32) -> CharacterClass {
        if c == marker { return .marker }
        if c < 0x80 {
            if (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) { return .letter }
            if c >= 0x30 && c <= 0x39 { return .digit }
            return .other
        }
        guard let scalar = Unicode.Scalar(c) else { return .other }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark, .format:
            return .letter
        case .decimalNumber:
            return .digit
        default:
            return .other
        }
    }

    /// The line's symbols: ▁, then the text with each space as ▁ and each literal ▁ escaped.
    /// An empty line has no symbols.
    public static func symbols(_ line: String) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(line.utf8.count + 1)
        for scalar in line.unicodeScalars {
            if out.isEmpty { out.append(marker) }
            switch scalar.value {
            case 0x20: out.append(marker)
            case marker: out.append(literalMarker)
            default: out.append(scalar.value)
            }
        }
        return out
    }

    /// Word boundaries in `symbols`, as ranges.
    public static func words(_ symbols: [UInt32]) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var i = 0
        let n = symbols.count
        while i < n {
            let start = i
            var kind = characterClass(symbols[i])
            if kind == .marker {
                // The marker leads the next word if that word starts with a letter or punctuation.
                guard i + 1 < n else { words.append(start..<n); break }
                let next = characterClass(symbols[i + 1])
                if next == .letter || next == .other {
                    i += 1
                    kind = next
                } else {
                    words.append(start..<(i + 1))
                    i += 1
                    continue
                }
            }
            if kind == .digit {
                words.append(start..<(i + 1))
                i += 1
                continue
            }
            i += 1
            while i < n && characterClass(symbols[i]) == kind { i += 1 }
            words.append(start..<i)
        }
        return words
    }
}
