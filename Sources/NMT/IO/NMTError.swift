// NMTError: every user-facing failure, as one line that names the file (and line) at fault.
// The CLI prints it as `nmt: error: <message>` and exits non-zero.

public struct NMTError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
