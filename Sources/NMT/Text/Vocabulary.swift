// Vocabulary: token strings with stable ids, in a fixed order —
//   0 <pad>, 1 <unk>, 2 <s>, 3 </s>; then 256 byte tokens <0x00>…<0xFF> (ids 4…259);
//   then the characters the BPE keeps; then each merge's result, in merge order.
// Lookups are by exact UTF-8 bytes: two canonically equivalent but different strings are different
// tokens (Swift's String equality would merge them).

public struct Vocabulary: Sendable, Equatable {
    public static let padding: Int32 = 0
    public static let unknown: Int32 = 1
    public static let beginOfSentence: Int32 = 2
    public static let endOfSentence: Int32 = 3
    public static let specials = ["<pad>", "<unk>", "<s>", "</s>"]
    public static let firstByte: Int32 = 4
    public static let firstCharacter: Int32 = firstByte + 256

    public private(set) var tokens: [String]
    private var ids: [[UInt8]: Int32]

    public init(tokens: [String]) {
        self.tokens = tokens
        ids = [:]
        for (i, token) in tokens.enumerated() where ids[Array(token.utf8)] == nil { ids[Array(token.utf8)] = Int32(i) }
    }

    public var count: Int { tokens.count }
    public func id(_ token: String) -> Int32? { ids[Array(token.utf8)] }
    public func id(utf8 token: [UInt8]) -> Int32? { ids[token] }
    public subscript(id: Int32) -> String { tokens[Int(id)] }

    public static func byteToken(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    /// The byte a byte-token id stands for, or nil for any other id.
    @inline(__always)
    public static func byte(of id: Int32) -> UInt8? {
        id >= firstByte && id < firstCharacter ? UInt8(id - firstByte) : nil
    }

    /// Specials and byte tokens: strings that no character or merge may ever produce.
    public static func isReserved(_ text: String) -> Bool {
        guard text.hasPrefix("<"), text.hasSuffix(">"), text.utf8.count <= 6 else { return false }
        if specials.contains(text) { return true }
        let u = Array(text.utf8)
        func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) }
        return u.count == 6 && u[1] == 0x30 && u[2] == 0x78 && isHex(u[3]) && isHex(u[4])
    }

    /// Specials, then the 256 byte tokens, then `characters`, then `mergeResults` (duplicates kept
    /// only at their first position).
    public static func build(characters: [String], mergeResults: [String]) -> Vocabulary {
        var tokens = specials + (0...255).map { byteToken(UInt8($0)) }
        var seen = Set(tokens.map { Array($0.utf8) })
        for token in characters + mergeResults where seen.insert(Array(token.utf8)).inserted { tokens.append(token) }
        return Vocabulary(tokens: tokens)
    }
}
