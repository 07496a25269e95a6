// RegularFile: the check made before a file that must be a regular file is opened — opening a
// FIFO blocks until a writer appears, so the kind is read with stat() first and anything else is
// refused in one line that says what the path is.

import Foundation

/// Throws unless `path` names a regular file (symbolic links followed).
public func requireRegularFile(_ path: String) throws {
    var info = stat()
    guard stat(path, &info) == 0 else { throw NMTError("cannot open \(path): \(String(cString: strerror(errno)))") }
    let kind: String
    switch info.st_mode & S_IFMT {
    case S_IFREG: return
    case S_IFDIR: kind = "a directory"
    case S_IFIFO: kind = "a FIFO (named pipe)"
    case S_IFSOCK: kind = "a socket"
    case S_IFCHR, S_IFBLK: kind = "a device"
    default: kind = "not a regular file"
    }
    throw NMTError("cannot read \(path): it is \(kind); give a regular file")
}
