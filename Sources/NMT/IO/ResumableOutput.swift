// ResumableOutput: a long job's output file that survives being stopped — kill -9, SIGTERM, a
// full disk, a power cut — and continues where it stopped when the same command runs again.
//
//   PATH.partial   the output so far (never under PATH until complete)
//   PATH.progress  {"job": …, "lines": N, "bytes": B}: the first N input lines are done and their
//                  output is the first B bytes of PATH.partial — written (atomically) only after
//                  those bytes are on disk (fsync)
//
// A run that finds PATH.progress for the same job truncates PATH.partial to B bytes (dropping
// whatever a stopped run wrote after its last record) and continues at input line N; a record of
// another job (other input, model or options) is refused rather than mixed in. `finish` renames
// PATH.partial to PATH and removes the record, so PATH only ever holds a complete output, equal
// to an uninterrupted run's.

import Foundation

public final class ResumableOutput {
    public let path: String
    /// Input lines done before this run: the caller skips them.
    public let resumedLines: Int
    private let job: String
    private let fd: Int32
    private var bytes: Int
    private var buffer: [UInt8] = []

    struct Progress: Codable {
        var job: String
        var lines: Int
        var bytes: Int
    }

    public var partialPath: String { path + ".partial" }
    public var progressPath: String { path + ".progress" }

    /// Opens the output of `job` (a description of everything the output depends on), resuming a
    /// stopped run of the same job.
    public init(path: String, job: String) throws {
        self.path = path
        self.job = job
        let partial = path + ".partial", progressFile = path + ".progress"
        var resumed = Progress(job: job, lines: 0, bytes: 0)
        if FileManager.default.fileExists(atPath: progressFile) {
            let text = try readTextFile(path: progressFile, maximumBytes: 1 << 20)
            guard let record = try? JSONDecoder().decode(Progress.self, from: Data(text.utf8)) else {
                throw NMTError("\(progressFile):1: not a progress record; remove it and \(partial) to start over")
            }
            guard record.job == job else {
                throw NMTError("\(progressFile): a run with other input, model or options stopped here; finish it with its own command, "
                               + "or remove \(progressFile) and \(partial) to start over")
            }
            resumed = record
        }
        fd = open(partial, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw NMTError("cannot write \(partial): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) >= resumed.bytes else {
            close(fd)
            throw NMTError("\(partial) is shorter than \(progressFile) records; remove both to start over")
        }
        if ftruncate(fd, off_t(resumed.bytes)) != 0 || lseek(fd, off_t(resumed.bytes), SEEK_SET) < 0 {
            let message = String(cString: strerror(errno))
            close(fd)
            throw NMTError("cannot write \(partial): \(message)")
        }
        bytes = resumed.bytes
        resumedLines = resumed.lines
    }

    deinit { close(fd) }

    public func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
    }

    /// Makes everything written so far durable and records that it is the output of the first
    /// `lines` input lines.
    public func checkpoint(lines: Int) throws {
        try writeAll(fd, buffer, name: partialPath)
        bytes += buffer.count
        buffer.removeAll(keepingCapacity: true)
        if fsync(fd) != 0 { throw NMTError("cannot write \(partialPath): \(String(cString: strerror(errno)))") }
        let record = try JSONEncoder().encode(Progress(job: job, lines: lines, bytes: bytes))
        try writeFileAtomically(progressPath, contents: String(decoding: record, as: UTF8.self) + "\n")
    }

    /// After the last checkpoint: the output becomes `path` and the record goes.
    public func finish(lines: Int) throws {
        try checkpoint(lines: lines)
        if rename(partialPath, path) != 0 { throw NMTError("cannot write \(path): \(String(cString: strerror(errno)))") }
        unlink(progressPath)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dirFD >= 0 { fsync(dirFD); close(dirFD) }
    }
}
