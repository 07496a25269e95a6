// Atomic file writes: write to a temporary file in the same directory, fsync, rename.
// A crash or an error never leaves a half-written file under the final name, and an existing
// file is replaced only by a complete new one.

import Foundation

public func writeFileAtomically(_ path: String, _ write: (Int32) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
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
    if rename(temporary, path) != 0 {
        let message = String(cString: strerror(errno))
        unlink(temporary)
        throw NMTError("cannot write \(path): \(message)")
    }
    // Make the rename itself durable.
    let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY)
    if dirFD >= 0 { fsync(dirFD); close(dirFD) }
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
