// TrainingLog: progress for people and for machines. Every event is one JSON object per line in
// DIR/log.jsonl; on a terminal a live status line is redrawn in place, otherwise plain lines.

import Foundation

public final class TrainingLog {
    private var jsonl: FileHandle?
    /// Events logged before `open` (written when it is called).
    private var pending: [Data] = []
    private let interactive: Bool
    private var statusShown = false
    public var quiet = false

    public init() {
        interactive = isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Starts appending events to DIRECTORY/log.jsonl. Events before this are held in memory, so
    /// a run that fails its checks writes no file.
    public func open(directory: String) throws {
        let path = directory + "/log.jsonl"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw NMTError("cannot write \(path)") }
        handle.seekToEndOfFile()
        jsonl = handle
        pending.forEach { handle.write($0) }
        pending = []
    }

    deinit { try? jsonl?.close() }

    /// Appends `fields` (plus "event") to log.jsonl.
    public func event(_ name: String, _ fields: [String: Any]) {
        var object = fields
        object["event"] = name
        object["time"] = ISO8601DateFormatter().string(from: Date())
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        if let jsonl { jsonl.write(data + Data("\n".utf8)) } else { pending.append(data + Data("\n".utf8)) }
    }

    /// A line for people on stderr (ends any live status line first).
    public func say(_ message: String) {
        if quiet { return }
        if statusShown { FileHandle.standardError.write(Data("\n".utf8)); statusShown = false }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The live status line (terminal only); returns false when not on a terminal.
    @discardableResult
    public func status(_ line: String) -> Bool {
        guard interactive, !quiet else { return false }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        statusShown = true
        return true
    }
}
