// Strict UTF-8 validation that says where the first bad byte is, so errors can name
// file:line and byte offset. Rejects overlongs, surrogates and code points above U+10FFFF.

/// The offset of the first byte that is not part of a valid UTF-8 sequence, or nil if all valid.
public func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    var i = 0
    let n = bytes.count
    while i < n {
        let b0 = bytes[i]
        if b0 < 0x80 { i += 1; continue }
        var length = 0
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return i
        }
        if i + length > n { return i }
        let b1 = bytes[i + 1]
        if b1 < lower || b1 > upper { return i }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return i }
        i += length
    }
    return nil
}

/// Decodes valid UTF-8, or throws naming `file`, `line` (1-based) and the byte offset in the line.
public func decodeUTF8Line(_ bytes: UnsafeBufferPointer<UInt8>, file: String, line: Int) throws -> String {
    if let offset = firstInvalidUTF8Offset(bytes) {
        throw NMTError("\(file):\(line): invalid UTF-8 at byte \(offset) of the line")
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `bytes` as text, validated line by line (an error names `file`, the line and the byte offset).
public func decodeUTF8Text(_ bytes: [UInt8], file: String) throws -> String {
    var text = ""
    var line = 0
    for piece in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
        line += 1
        if line > 1 { text += "\n" }
        text += try piece.withUnsafeBufferPointer { try decodeUTF8Line($0, file: file, line: line) }
    }
    return text
}
