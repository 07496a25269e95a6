// Where a command writes its text: standard output (buffered), or a file written atomically —
// on error the file is not created and an existing one is left untouched.

import Foundation
import NMT

final class OutputSink {
    private let fd: Int32
    private let name: String
    private var buffer: [UInt8] = []

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        buffer.reserveCapacity(1 << 16)
    }

    /// Standard output (an error if nmt was started with it closed).
    static func standardOutput() throws -> OutputSink {
        try StandardStreams.checkOutputOpen()
        return OutputSink(fd: 1, name: "<stdout>")
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try drain() }
    }

    /// Pushes buffered text out now (at the end, and after each block so pipes see output promptly).
    func drain() throws {
        try writeAll(fd, buffer, name: name)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Runs `body` with a sink on stdout, or on a temporary file renamed to `path` only on success.
func withOutput(_ path: String?, _ body: (OutputSink) throws -> Void) throws {
    guard let path else {
        let sink = try OutputSink.standardOutput()
        try body(sink)
        try sink.drain()
        return
    }
    try writeFileAtomically(path) { fd in
        let sink = OutputSink(fd: fd, name: path)
        try body(sink)
        try sink.drain()
    }
}
