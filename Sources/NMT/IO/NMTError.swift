// NMTError: every user-facing failure, as one line that names the file (and line) at fault.
// The CLI prints it as `nmt: error: <message>` and exits non-zero. Control characters in the
// message (a path with a newline, a line of text quoted back) are escaped, so it stays one line.

public struct NMTError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = NMTError.oneLine(message) }
    public var description: String { message }

    /// `text` with C0 and C1 controls, DEL and the Unicode line and paragraph separators written
    /// as escapes (\n, \r, \t, \u{…}).
    static func oneLine(_ text: String) -> String {
        func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            guard isControl(u) else { out.append(u); continue }
            let escape: String
            switch u {
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            default: escape = "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }
}
