// Atomic file writes: write to a temporary file in the same directory, fsync, rename.
// A crash or an error never leaves a half-written file under the final name, and an existing
// file is replaced only by a complete new one.
//
// Temporary files are named ".NAME.tmp-PID-RANDOM" beside their destination. A write that fails
// removes its own; one cut short by a signal (training: a second one) is removed by the signal
// handler (`TemporaryFiles.removeInFlight`); one left by kill -9 or a power cut is recognised by
// its PID no longer running and removed by the next write into that directory.

import Foundation

public enum TemporaryFiles {
    /// The temporary name for a file about to become `path`.
    static func name(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        return directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The PID in an nmt temporary file's name, or nil if `name` is not one.
    static func writerPID(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let fields = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, UInt32(fields[1]) != nil else { return nil }
        return pid
    }

    /// Removes the temporary files in `directory` whose writer is no longer running; returns their names.
    @discardableResult
    public static func removeStale(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed: [String] = []
        for name in names {
            guard let pid = writerPID(name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed.sorted()
    }

    /// The temporary file being written now, as a C string a signal handler can read (empty: none).
    nonisolated(unsafe) private static let inFlight: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: Int(PATH_MAX) + 1)
        p.initialize(repeating: 0, count: Int(PATH_MAX) + 1)
        return p
    }()

    static func setInFlight(_ path: String?) {
        inFlight[0] = 0
        guard let path else { return }
        let bytes = Array(path.utf8)
        guard bytes.count < Int(PATH_MAX) else { return }
        for (i, b) in bytes.enumerated().dropFirst() { inFlight[i] = CChar(bitPattern: b) }
        inFlight[bytes.count] = 0
        inFlight[0] = CChar(bitPattern: bytes[0])  // last: a handler never sees a half-copied name
    }

    /// For signal handlers (async-signal-safe): removes the temporary file being written, if any.
    public static func removeInFlight() {
        if inFlight[0] != 0 { unlink(inFlight) }
    }
}

public func writeFileAtomically(_ path: String, _ write: (Int32) throws -> Void) throws {
    // A device or pipe (-o /dev/stdout, a FIFO) is written in place: renaming over it would replace it.
    var info = stat()
    if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw NMTError("cannot write \(path): it is a directory") }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw NMTError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try write(fd)
        return
    }
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    StopSignal.installRemovingTemporaries()
    TemporaryFiles.removeStale(in: directory.isEmpty ? "." : directory)
    let temporary = TemporaryFiles.name(for: path)
    TemporaryFiles.setInFlight(temporary)
    defer { TemporaryFiles.setInFlight(nil) }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    if fd < 0 { throw NMTError("cannot write \(path): \(String(cString: strerror(errno)))") }
    do {
        try write(fd)
        if fsync(fd) != 0 { throw NMTError("cannot write \(path): \(String(cString: strerror(errno)))") }
        close(fd)
    } catch {
        close(fd)
        unlink(temporary)
        throw error
    }
    try rename(temporary, over: path)
    // Make the rename itself durable.
    let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY)
    if dirFD >= 0 { fsync(dirFD); close(dirFD) }
}

/// Makes `destination` name the same file as `source`, atomically (hard link, then rename).
public func replaceAtomically(link source: String, as destination: String) throws {
    let temporary = TemporaryFiles.name(for: destination)
    TemporaryFiles.setInFlight(temporary)
    defer { TemporaryFiles.setInFlight(nil) }
    if Foundation.link(source, temporary) != 0 {
        // No hard links here: copy instead.
        try? FileManager.default.removeItem(atPath: temporary)
        do { try FileManager.default.copyItem(atPath: source, toPath: temporary) } catch {
            unlink(temporary)
            throw NMTError("cannot write \(destination): \(error.localizedDescription)")
        }
    }
    try rename(temporary, over: destination)
}

private func rename(_ temporary: String, over path: String) throws {
    if Foundation.rename(temporary, path) != 0 {
        let message = String(cString: strerror(errno))
        unlink(temporary)
        throw NMTError("cannot write \(path): \(message)")
    }
}

public func writeFileAtomically(_ path: String, contents: String) throws {
    try writeFileAtomically(path) { fd in try writeAll(fd, Array(contents.utf8), name: path) }
}

/// Writes every byte (retrying short writes), or throws naming `name`.
public func writeAll(_ fd: Int32, _ bytes: [UInt8], name: String) throws {
    try bytes.withUnsafeBytes { try writeAll(fd, $0, name: name) }
}

public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw NMTError("cannot write \(name): \(String(cString: strerror(errno)))")
        }
        offset += n
    }
}
