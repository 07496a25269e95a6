// The run directory of `nmt train` (--out): checked before any work, created when the run starts,
// and locked for its whole run.
//
// One writer per run directory: `nmt train` holds an exclusive flock(2) on OUT/.lock for its
// whole run. A second trainer on the same --out fails at once, naming the holder's PID (written
// into the lock file). The kernel releases the lock when the process ends, however it ends, so a
// crashed run never leaves a stale lock behind.

import Foundation

enum RunDirectory {
    /// The output directory exists and is writable, or can be created (checked before any work).
    static func checkWritable(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw NMTError("\(TrainingOptions.flag(.outputDirectory)) \(directory) exists and is not a directory") }
            guard access(directory, W_OK) == 0 else { throw NMTError("output directory \(directory) is not writable") }
            return
        }
        var ancestor = URL(fileURLWithPath: directory).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) { ancestor.deleteLastPathComponent() }
        guard isDirectory.boolValue else { throw NMTError("cannot create output directory \(directory): \(ancestor.path) is not a directory") }
        guard access(ancestor.path, W_OK) == 0 else { throw NMTError("cannot create output directory \(directory): \(ancestor.path) is not writable") }
    }

    /// Creates the directory (mkdir -p) and checks that a file can be written in it; returns the
    /// directories it created, outermost first.
    @discardableResult
    static func create(_ directory: String) throws -> [String] {
        // mkdir -p, with the system's own reason when it fails; what it created is removed again
        // (deepest first) when it fails part way or the directory is not writable.
        var path = directory.hasPrefix("/") ? "" : "."
        var created: [String] = []
        func undo() { for p in created.reversed() { rmdir(p) } }
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) == 0 {
                created.append(path)
            } else if errno != EEXIST {
                let reason = String(cString: strerror(errno))
                undo()
                throw NMTError("cannot create output directory \(directory): \(reason)")
            }
        }
        let probe = directory + "/.write-test-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            undo()
            throw NMTError("output directory \(directory) is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
        return created
    }
}

public final class RunDirectoryLock {
    public let path: String
    private let fd: Int32

    /// Takes the lock of `directory` (which must exist), or throws naming the process holding it.
    public init(directory: String) throws {
        path = directory + "/.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NMTError("cannot lock \(directory): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let reason = errno == EWOULDBLOCK ? nil : String(cString: strerror(errno))
            var bytes = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &bytes, bytes.count, 0)
            close(fd)
            if let reason { throw NMTError("cannot lock \(directory): \(reason)") }
            let holder = n > 0 ? String(decoding: bytes[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw NMTError("\(TrainingOptions.flag(.outputDirectory)) \(directory) is in use by another nmt train (PID \(holder)); wait for it to finish or choose another \(TrainingOptions.flag(.outputDirectory))")
        }
        self.fd = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit { close(fd) }  // releases the lock
}
