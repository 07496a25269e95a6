// One writer per run directory: `nmt train` holds an exclusive flock(2) on OUT/.lock for its
// whole run. A second trainer on the same --out fails at once, naming the holder's PID (written
// into the lock file). The kernel releases the lock when the process ends, however it ends, so a
// crashed run never leaves a stale lock behind.

import Foundation

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
            throw NMTError("--out \(directory) is in use by another nmt train (PID \(holder)); wait for it to finish or choose another --out")
        }
        self.fd = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit { close(fd) }  // releases the lock
}
