// PageBuffer: Float memory straight from the system (mmap), page-aligned, whose pages can be given
// back while the buffer is kept. Reserving is cheap — only touched pages become resident — so a
// buffer can be sized for the worst case and cost what is used; `discard` returns what a part no
// longer needs (a decoding cache slot whose hypothesis ended). Arenas take their blocks from here
// too: glibc serves blocks below its adaptive mmap threshold (up to 32 MB) from a heap it does
// not give back, so freed blocks would otherwise stay resident.

import Foundation

public enum PageMemory {
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// Floats in one page.
    public static var pageFloats: Int { pageSize / 4 }

    /// `count` floats of zeroed memory, page-aligned. When the system refuses (a memory limit,
    /// `ulimit -v`), the process ends with `outOfMemory`'s one line, never a trap.
    public static func allocate(_ count: Int, for what: String = "the model's working memory") -> UnsafeMutablePointer<Float> {
        guard let raw = mmap(nil, max(count, 1) * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            outOfMemory(bytes: max(count, 1) * 4, for: what)
        }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    /// Ends the process for an allocation the system refused: "nmt: error: cannot allocate N MB
    /// for WHAT" on stderr, the temporary file being written removed, exit status 1. (Memory that
    /// is not there cannot be unwound into an error at every place that needs it; this ends the
    /// run the way any other error does.)
    public static func outOfMemory(bytes: Int, for what: String) -> Never {
        let reason = String(cString: strerror(errno))
        let megabytes = (Double(bytes) / 1_048_576).rounded(.up)
        StandardStreams.writeError("nmt: error: cannot allocate \(Int(megabytes)) MB for \(what): \(reason) (a memory limit? see ulimit -v)\n")
        TemporaryFiles.removeInFlight()
        _exit(1)
    }

    public static func deallocate(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        munmap(UnsafeMutableRawPointer(p), max(count, 1) * 4)
    }

    /// Gives the whole pages inside [p, p + count) back to the system: their contents are lost and
    /// they read as zeros when next touched.
    public static func discard(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let start = (Int(bitPattern: p) + pageSize - 1) / pageSize * pageSize
        let end = (Int(bitPattern: p) + count * 4) / pageSize * pageSize
        if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }
}

/// A reusable page-aligned buffer that grows to the largest size asked for.
public final class PageBuffer: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init() {
        capacity = PageMemory.pageFloats
        pointer = PageMemory.allocate(capacity)
    }

    deinit { PageMemory.deallocate(pointer, capacity) }

    /// At least `count` floats (contents undefined: zeros or earlier data).
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            PageMemory.deallocate(pointer, capacity)
            capacity = (count + PageMemory.pageFloats - 1) / PageMemory.pageFloats * PageMemory.pageFloats
            pointer = PageMemory.allocate(capacity)
        }
        return pointer
    }

    /// Gives every page back (the buffer stays reserved).
    public func discardAll() { PageMemory.discard(pointer, capacity) }
}
