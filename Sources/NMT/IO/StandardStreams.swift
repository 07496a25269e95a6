// The process's standard streams, made safe to write to whatever they are connected to.
//
// nmt is run in pipes (`… | head -3`), with streams closed (`2>&-`), onto full disks
// (`> /dev/full`) and under file-size limits. None of these may kill it or lose data silently:
// SIGPIPE and SIGXFSZ are ignored, so such writes fail with EPIPE / EFBIG and are reported as
// errors (stdout) or dropped (stderr: messages for people, never worth stopping a run for); a
// closed descriptor 0, 1 or 2 is reopened on /dev/null first, so no file nmt opens later can take
// its number and receive stray output.

import Foundation

public enum StandardStreams {
    /// True when nmt was started with standard output closed: writing output is then an error.
    nonisolated(unsafe) public private(set) static var outputWasClosed = false

    /// Call first thing in `main`.
    public static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 && errno == EBADF {
            let null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd { dup2(null, fd); close(null) }
            if fd == 1 { outputWasClosed = true }
        }
    }

    /// Writes `text` to standard error; a failure (closed, broken or full) is ignored.
    public static func writeError(_ text: String) {
        try? writeAll(2, Array(text.utf8), name: "<stderr>")
    }

    /// Writes `text` to standard output, or throws a one-line error (closed, broken pipe, full disk).
    public static func writeOutput(_ text: String) throws {
        try checkOutputOpen()
        try writeAll(1, Array(text.utf8), name: "<stdout>")
    }

    /// Throws when standard output was closed at start (its writes would vanish into /dev/null).
    public static func checkOutputOpen() throws {
        if outputWasClosed { throw NMTError("cannot write <stdout>: standard output is closed") }
    }
}
