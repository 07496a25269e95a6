// SentencePieceNormalizer: sentencepiece's text normalization (normalizer.cc), byte for byte.
//
//   1. At each position, the longest user-defined symbol is kept as it is; otherwise the longest
//      rule of the precompiled character map (a darts-clone double-array trie over UTF-8 bytes,
//      mapping to NUL-terminated replacements: nmt_nfkc's NFKC and whitespace rules) replaces its
//      bytes; otherwise one UTF-8 character is copied (a malformed byte becomes U+FFFD).
//   2. remove_extra_whitespaces: leading spaces dropped, runs of spaces collapsed (a replacement's
//      leading spaces after a space are dropped), trailing spaces removed.
//   3. add_dummy_prefix: one space put in front (or after, with treat_whitespace_as_suffix).
//   4. escape_whitespaces: every space becomes ▁ (U+2581).
// The charsmap blob is <trie size, 4 bytes little-endian><trie units><replacement strings>.

struct SentencePieceNormalizer: Sendable {
    private let trie: [UInt32]
    private let replacements: [UInt8]
    private let spec: SentencePieceModel.Normalization
    private let whitespaceAsSuffix: Bool
    /// The user-defined symbols, kept as they are (nil: none, or a denormalizer).
    private let userDefined: PieceTrie?

    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

    init(_ spec: SentencePieceModel.Normalization, whitespaceAsSuffix: Bool = false, userDefined: PieceTrie? = nil, source: String) throws {
        self.spec = spec
        self.whitespaceAsSuffix = whitespaceAsSuffix
        self.userDefined = userDefined
        let blob = spec.precompiledCharsmap
        guard !blob.isEmpty else { (trie, replacements) = ([], []); return }
        func fail(_ what: String) -> NMTError { NMTError("\(source): not a valid SentencePiece model: \(what)") }
        guard blob.count > 4 else { throw fail("the normalization rules are broken") }
        let size = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard size <= blob.count - 4 else { throw fail("the normalization trie exceeds its blob") }
        var units = [UInt32](repeating: 0, count: size / 4)
        for i in 0..<units.count {
            let o = 4 + 4 * i
            units[i] = UInt32(blob[o]) | UInt32(blob[o + 1]) << 8 | UInt32(blob[o + 2]) << 16 | UInt32(blob[o + 3]) << 24
        }
        trie = units
        replacements = Array(blob[(4 + size)...])
    }

    /// The normalized bytes of `input` (UTF-8).
    func normalize(_ input: [UInt8]) -> [UInt8] {
        var position = 0
        if input.isEmpty { return [] }
        if spec.removeExtraWhitespaces {  // leading spaces
            while position < input.count {
                let (replacement, consumed) = normalizePrefix(input, at: position)
                guard replacement == [0x20] else { break }
                position += consumed
            }
        }
        if position == input.count { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3)
        func addSpace() { out.append(contentsOf: spec.escapeWhitespaces ? Self.spaceSymbol : [0x20]) }
        if !whitespaceAsSuffix && spec.addDummyPrefix { addSpace() }
        var previousIsSpace = spec.removeExtraWhitespaces
        while position < input.count {
            let (replacement, consumed) = normalizePrefix(input, at: position)
            var piece = replacement[...]
            while previousIsSpace, piece.first == 0x20 { piece = piece.dropFirst() }
            if !piece.isEmpty {
                for byte in piece {
                    if spec.escapeWhitespaces && byte == 0x20 { out.append(contentsOf: Self.spaceSymbol) } else { out.append(byte) }
                }
                previousIsSpace = piece.last == 0x20
            }
            position += consumed
            if !spec.removeExtraWhitespaces { previousIsSpace = false }
        }
        if spec.removeExtraWhitespaces {  // trailing spaces
            let space = spec.escapeWhitespaces ? Self.spaceSymbol : [0x20]
            while out.count >= space.count && Array(out.suffix(space.count)) == space { out.removeLast(space.count) }
        }
        if whitespaceAsSuffix && spec.addDummyPrefix { addSpace() }
        return out
    }

    /// What the text at `position` normalizes to, and how many bytes of it that consumes.
    private func normalizePrefix(_ input: [UInt8], at position: Int) -> (replacement: [UInt8], consumed: Int) {
        if let userDefined, let length = userDefined.longestMatch(input, from: position) {
            return (Array(input[position..<(position + length)]), length)
        }
        if !trie.isEmpty, let (length, value) = longestRule(input, from: position) {
            var end = value
            while end < replacements.count && replacements[end] != 0 { end += 1 }
            return (value < replacements.count ? Array(replacements[value..<end]) : [], length)
        }
        let (valid, length) = SentencePieceUTF8.decode(input, at: position)
        return valid ? (Array(input[position..<(position + length)]), length) : ([0xEF, 0xBF, 0xBD], 1)
    }

    /// The longest key of the double array that prefixes input[from...]: (its length, its value).
    /// darts-clone's unit: has_leaf = bit 8, value = low 31 bits, label = bits 0–7 and 31,
    /// offset = (unit >> 10) << ((unit & 1 << 9) >> 6).
    private func longestRule(_ input: [UInt8], from start: Int) -> (length: Int, value: Int)? {
        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        var found: (Int, Int)? = nil
        var node = offset(trie[0])
        for i in start..<input.count {
            node ^= Int(input[i])
            guard node >= 0 && node < trie.count else { break }
            let unit = trie[node]
            guard unit & ((1 << 31) | 0xFF) == UInt32(input[i]) else { break }
            node ^= offset(unit)
            if unit >> 8 & 1 == 1 {
                guard node >= 0 && node < trie.count else { break }
                found = (i - start + 1, Int(trie[node] & ((1 << 31) - 1)))
            }
        }
        return found
    }
}

/// sentencepiece's UTF-8 rules (util.cc): the length of a character by its first byte, and
/// whether it decodes (no overlong forms, surrogates or values past U+10FFFF; a literal U+FFFD
/// counts as valid).
enum SentencePieceUTF8 {
    /// Bytes the character at `position` takes by its first byte (1 for a stray continuation byte).
    static func length(_ input: [UInt8], at position: Int) -> Int {
        let table: [Int] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
        return min(table[Int(input[position] >> 4)], input.count - position)
    }

    /// Whether the character at `position` is valid UTF-8, and its length (1 when it is not).
    static func decode(_ input: [UInt8], at position: Int) -> (valid: Bool, length: Int) {
        let count = input.count - position
        let b0 = UInt32(input[position])
        func trail(_ i: Int) -> Bool { input[position + i] & 0xC0 == 0x80 }
        func valid(_ c: UInt32) -> Bool { c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF) }
        if b0 < 0x80 { return (true, 1) }
        if count >= 2 && b0 & 0xE0 == 0xC0 {
            let c = (b0 & 0x1F) << 6 | UInt32(input[position + 1] & 0x3F)
            if trail(1) && c >= 0x80 && valid(c) { return (true, 2) }
        } else if count >= 3 && b0 & 0xF0 == 0xE0 {
            let c = (b0 & 0x0F) << 12 | UInt32(input[position + 1] & 0x3F) << 6 | UInt32(input[position + 2] & 0x3F)
            if trail(1) && trail(2) && c >= 0x800 && valid(c) { return (true, 3) }
        } else if count >= 4 && b0 & 0xF8 == 0xF0 {
            let c = (b0 & 0x07) << 18 | UInt32(input[position + 1] & 0x3F) << 12 | UInt32(input[position + 2] & 0x3F) << 6 | UInt32(input[position + 3] & 0x3F)
            if trail(1) && trail(2) && trail(3) && c >= 0x10000 && valid(c) { return (true, 4) }
        }
        return (false, 1)
    }
}
