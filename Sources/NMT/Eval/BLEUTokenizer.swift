// sacreBLEU's tokenizers, rule for rule (sacrebleu/tokenizers/tokenizer_{13a,re,intl,char,none}.py).
// Each returns the token list that BLEU's `line.split()` would see.

public enum BLEUTokenizer: String, CaseIterable, Sendable {
    case none
    case thirteenA = "13a"
    case intl
    case char

    /// Tokens of `line` (already lowercased if requested, already right-stripped).
    func tokens(_ line: [UInt32]) -> [UInt32] {
        switch self {
        case .none: return line
        case .thirteenA: return tokenize13a(line)
        case .intl: return tokenizeIntl(line)
        case .char:
            // " ".join(chars): every code point its own token; whitespace vanishes in the split.
            var out: [UInt32] = []
            out.reserveCapacity(line.count * 2)
            for c in line { out.append(c); out.append(0x20) }
            return out
        }
    }
}

private let space: UInt32 = 0x20
@inline(__always) private func isDigit(_ c: UInt32) -> Bool { c >= 0x30 && c <= 0x39 }
@inline(__always) private func isPeriodOrComma(_ c: UInt32) -> Bool { c == 0x2E || c == 0x2C }

private enum Patterns {
    static let skipped = codePoints("<skipped>")
    static let hyphenNewline = codePoints("-\n")
    static let quot = codePoints("&quot;")
    static let amp = codePoints("&amp;")
    static let lt = codePoints("&lt;")
    static let gt = codePoints("&gt;")
}

/// Which side of a matched pair gets spaces: "\1 \2 " (after each) or " \1 \2" (before each).
private enum PairSpacing { case after, before }

/// mteval-v13a as sacreBLEU implements it.
func tokenize13a(_ input: [UInt32]) -> [UInt32] {
    var line = input
    // The replacements are skipped when their first character is absent (the usual case).
    if line.contains(0x3C) { line = pythonReplace(line, Patterns.skipped, []) }
    if line.contains(0x0A) {
        line = pythonReplace(line, Patterns.hyphenNewline, [])
        line = pythonReplace(line, [0x0A], [space])
    }
    if line.contains(0x26) {  // '&'
        line = pythonReplace(line, Patterns.quot, [0x22])
        line = pythonReplace(line, Patterns.amp, [0x26])
        line = pythonReplace(line, Patterns.lt, [0x3C])
        line = pythonReplace(line, Patterns.gt, [0x3E])
    }
    var s: [UInt32] = [space]
    s.reserveCapacity(line.count * 2 + 2)
    // Rule 1: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) → " \1 "
    for c in line {
        switch c {
        case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F:
            s.append(space); s.append(c); s.append(space)
        default:
            s.append(c)
        }
    }
    s.append(space)
    // Rule 2: ([^0-9])([\.,]) → "\1 \2 "
    s = substitutePairs(s, .after) { !isDigit($0) && isPeriodOrComma($1) }
    // Rule 3: ([\.,])([^0-9]) → " \1 \2"
    s = substitutePairs(s, .before) { isPeriodOrComma($0) && !isDigit($1) }
    // Rule 4: ([0-9])(-) → "\1 \2 "
    s = substitutePairs(s, .after) { isDigit($0) && $1 == 0x2D }
    return s
}

/// mteval-v14 "international" tokenization: split off punctuation unless between digits, and symbols.
func tokenizeIntl(_ line: [UInt32]) -> [UInt32] {
    // (\P{N})(\p{P}) → "\1 \2 "
    var s = substitutePairs(line, .after) { !isNumber($0) && isPunctuation($1) }
    // (\p{P})(\P{N}) → " \1 \2"
    s = substitutePairs(s, .before) { isPunctuation($0) && !isNumber($1) }
    // (\p{S}) → " \1 "
    var out: [UInt32] = []
    out.reserveCapacity(s.count * 2)
    for c in s {
        if isSymbol(c) { out.append(space); out.append(c); out.append(space) } else { out.append(c) }
    }
    return out
}

/// `re.sub` of a two-character pattern: scans left to right; a match consumes both characters
/// (so the second cannot start another match), as Python's non-overlapping substitution does.
@inline(__always)
private func substitutePairs(_ s: [UInt32], _ spacing: PairSpacing, where matches: (UInt32, UInt32) -> Bool) -> [UInt32] {
    var out: [UInt32] = []
    out.reserveCapacity(s.count + s.count / 2)
    var i = 0
    while i < s.count {
        if i + 1 < s.count && matches(s[i], s[i + 1]) {
            if spacing == .before { out.append(space) }
            out.append(s[i])
            out.append(space)
            out.append(s[i + 1])
            if spacing == .after { out.append(space) }
            i += 2
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}

private func category(_ c: UInt32) -> Unicode.GeneralCategory? {
    Unicode.Scalar(c)?.properties.generalCategory
}

private func isNumber(_ c: UInt32) -> Bool {
    if c < 0x80 { return isDigit(c) }
    switch category(c) {
    case .decimalNumber, .letterNumber, .otherNumber: return true
    default: return false
    }
}

private func isPunctuation(_ c: UInt32) -> Bool {
    switch category(c) {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
         .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
    default: return false
    }
}

private func isSymbol(_ c: UInt32) -> Bool {
    switch category(c) {
    case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: return true
    default: return false
    }
}
