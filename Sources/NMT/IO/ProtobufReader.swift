// ProtobufReader: protocol buffers' wire format (varints, fixed 32- and 64-bit values,
// length-delimited fields; groups refused) — what nmt reads of a SentencePiece model file. Every
// read is bounds-checked: a truncated or corrupt message is an error naming what broke and where,
// never a trap.

struct ProtobufReader {
    enum WireType: Int { case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5 }

    private let bytes: [UInt8]
    private var position: Int
    private let end: Int
    /// Names the message in errors ("model.spm: …").
    let source: String

    init(_ bytes: [UInt8], source: String) {
        self.bytes = bytes
        position = 0
        end = bytes.count
        self.source = source
    }

    private init(_ bytes: [UInt8], range: Range<Int>, source: String) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
        self.source = source
    }

    private func fail(_ what: String) -> NMTError { NMTError("\(source): not a valid SentencePiece model: \(what) at byte \(position)") }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, type: WireType)? {
        guard position < end else { return nil }
        let key = try varint()
        guard let type = WireType(rawValue: Int(key & 7)), type != .startGroup, type != .endGroup else {
            throw fail("unsupported wire type \(key & 7)")
        }
        guard key >> 3 > 0 && key >> 3 < 1 << 29 else { throw fail("field number \(key >> 3)") }
        return (Int(key >> 3), type)
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard position < end else { throw fail("a varint runs past the end") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw fail("a varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw fail("a varint longer than 10 bytes")
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw fail("a 32-bit value runs past the end") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[position + i]) << UInt32(8 * i) }
        position += 4
        return value
    }

    /// A length-delimited field's bytes.
    mutating func bytesField() throws -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw fail("a field of \(length) bytes runs past the end") }
        let start = position
        position += Int(length)
        return bytes[start..<position]
    }

    /// A length-delimited field read as a nested message.
    mutating func message() throws -> ProtobufReader {
        let field = try bytesField()
        return ProtobufReader(bytes, range: field.startIndex..<field.endIndex, source: source)
    }

    /// A length-delimited field as UTF-8 text.
    mutating func string(_ name: String) throws -> String {
        let field = try bytesField()
        guard let text = String(validating: field, as: UTF8.self) else { throw fail("\(name) is not valid UTF-8") }
        return text
    }

    mutating func float() throws -> Float { Float(bitPattern: try fixed32()) }
    mutating func bool() throws -> Bool { try varint() != 0 }
    /// A varint as proto2's int32 (negative values take ten bytes, two's complement).
    mutating func int32() throws -> Int32 { Int32(truncatingIfNeeded: try varint()) }

    /// Skips a field's value of wire type `type`.
    mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try varint()
        case .fixed64:
            guard end - position >= 8 else { throw fail("a 64-bit value runs past the end") }
            position += 8
        case .lengthDelimited: _ = try bytesField()
        case .fixed32: _ = try fixed32()
        case .startGroup, .endGroup: throw fail("unsupported wire type \(type.rawValue)")
        }
    }

    /// Checks that a field has the wire type its declaration needs.
    func expect(_ type: WireType, _ actual: WireType, field: String) throws {
        guard type == actual else { throw fail("\(field) has wire type \(actual.rawValue), expected \(type.rawValue)") }
    }
}
