// LineReader: streams a file (or stdin) line by line with bounded memory.
//
// Lines end at "\n". A "\r" just before it — a Windows (CRLF) line end — is dropped, as Python's
// universal newlines (and so sacreBLEU and subword-nmt on stdin) do; any other "\r" is text. A
// final line without "\n" still counts. `keepCarriageReturns` reads lines byte for byte instead.
// A UTF-8 byte order mark (EF BB BF) at the start of the input is dropped — text from editors that
// write one reads as the same text without (training and validation text, codes, configs,
// translate input) — unless `keepsByteOrderMark` (`nmt score`, which reads as sacreBLEU does:
// Python's utf-8 codec keeps it as U+FEFF, part of the first word; and raw bytes).
// Reads in 1 MiB chunks, so a multi-GB file is never held whole; a single line longer than the
// buffer grows it (up to `maximumLineLength`). On a pipe, `read` returns what is available, so lines
// are delivered as soon as they arrive.

import Foundation

public final class LineReader {
    public let name: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0, end = 0
    private var atEOF = false
    private let keepCarriageReturns: Bool
    private let keepsByteOrderMark: Bool
    /// 1-based number of the line most recently returned.
    public private(set) var lineNumber = 0
    /// Bytes of the lines read so far (newlines included).
    public private(set) var bytesRead = 0
    /// True once the input's last line has been returned and it had no "\n".
    public private(set) var endedWithoutNewline = false

    /// Opens `path` for reading; throws a one-line error naming it if it cannot.
    public convenience init(path: String, keepCarriageReturns: Bool = false, keepsByteOrderMark: Bool = false) throws {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            throw NMTError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw NMTError("cannot read \(path): it is a directory")
        }
        self.init(fileDescriptor: fd, name: path, ownsDescriptor: true, keepCarriageReturns: keepCarriageReturns, keepsByteOrderMark: keepsByteOrderMark)
    }

    public init(fileDescriptor: Int32, name: String, ownsDescriptor: Bool = false, keepCarriageReturns: Bool = false,
                keepsByteOrderMark: Bool = false) {
        self.fd = fileDescriptor
        self.keepCarriageReturns = keepCarriageReturns
        self.keepsByteOrderMark = keepsByteOrderMark
        self.name = name
        self.ownsDescriptor = ownsDescriptor
        capacity = 1 << 20
        buffer = .allocate(capacity: capacity)
    }

    public static func standardInput(keepsByteOrderMark: Bool = false) -> LineReader {
        LineReader(fileDescriptor: 0, name: "<stdin>", keepsByteOrderMark: keepsByteOrderMark)
    }

    /// `line` without a leading byte order mark when it is the input's first line (see above).
    private func withoutByteOrderMark(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard !keepsByteOrderMark, lineNumber == 0, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF else { return line }
        return UnsafeBufferPointer(rebasing: line[3...])
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// True when a complete line is already buffered (no read needed to return it).
    public var hasBufferedLine: Bool {
        start < end && memchr(buffer + start, 0x0A, end - start) != nil
    }

    /// Calls `body` with the bytes of the next line (without "\n"); returns false at end of input.
    /// The bytes are valid only inside `body`.
    @discardableResult
    public func nextLine<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R? {
        while true {
            if start < end, let newline = memchr(buffer + start, 0x0A, end - start) {
                let position = UnsafeMutablePointer<UInt8>(newline.assumingMemoryBound(to: UInt8.self)) - buffer
                let crlf = !keepCarriageReturns && position > start && buffer[position - 1] == 0x0D
                let line = withoutByteOrderMark(UnsafeBufferPointer(start: buffer + start, count: position - start - (crlf ? 1 : 0)))
                bytesRead += position + 1 - start
                start = position + 1
                lineNumber += 1
                return try body(line)
            }
            if atEOF {
                if start < end {
                    let line = withoutByteOrderMark(UnsafeBufferPointer(start: buffer + start, count: end - start))
                    bytesRead += end - start
                    start = end
                    lineNumber += 1
                    endedWithoutNewline = true
                    return try body(line)
                }
                return nil
            }
            try fill()
        }
    }

    /// The next line as a String, validated as UTF-8 (error names file:line and byte offset).
    public func nextString() throws -> String? {
        let number = lineNumber + 1
        return try nextLine { try decodeUTF8Line($0, file: name, line: number) }
    }

    /// The next window of lines made by `line` (given each line's bytes, valid only inside it): up
    /// to `size` lines, fewer when the input pauses — a pipe with no complete line buffered — so
    /// output can follow input promptly; nil at the end of the input.
    public func nextWindow<T>(size: Int, _ line: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> [T]? {
        var window: [T] = []
        while window.count < size {
            guard let value = try nextLine(line) else { break }
            window.append(value)
            if !hasBufferedLine { break }
        }
        return window.isEmpty ? nil : window
    }

    /// The longest line read (bytes): far beyond any sentence, so reaching it means the input is
    /// not line-oriented text (/dev/zero, a binary file) and is refused before memory runs out.
    public static let maximumLineLength = 1 << 28

    /// Reads more input, compacting or growing the buffer first.
    private func fill() throws {
        if start > 0 {
            if start < end { memmove(buffer, buffer + start, end - start) }
            end -= start
            start = 0
        }
        if end == capacity {
            guard capacity < LineReader.maximumLineLength else {
                throw NMTError("\(name):\(lineNumber + 1): line longer than \(LineReader.maximumLineLength >> 20) MiB (not a text file?)")
            }
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        while true {
            let n = read(fd, buffer + end, capacity - end)
            if n > 0 { end += n; return }
            if n == 0 { atEOF = true; return }
            if errno == EINTR { continue }
            throw NMTError("cannot read \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// Every remaining line as validated Strings (for small files: references, validation sets).
    public func readAllStrings() throws -> [String] {
        var lines: [String] = []
        while let line = try nextString() { lines.append(line) }
        return lines
    }
}

/// All lines of a small UTF-8 text file; errors name the file (and line for bad UTF-8).
public func readLines(path: String, keepsByteOrderMark: Bool = false) throws -> [String] {
    try LineReader(path: path, keepsByteOrderMark: keepsByteOrderMark).readAllStrings()
}

/// A whole small UTF-8 file, byte for byte (line ends included), validated like `readLines`;
/// a pipe works too. `maximumBytes`: larger input is refused (with `what` the file is) before it
/// is all read.
public func readTextFile(path: String, maximumBytes: Int = .max, what: String = "file") throws -> String {
    let reader = try LineReader(path: path, keepCarriageReturns: true)
    var text = ""
    while let line = try reader.nextString() {
        text += line
        if !reader.endedWithoutNewline { text += "\n" }
        if text.utf8.count > maximumBytes {
            throw NMTError("\(path): larger than \(maximumBytes >> 20) MB, too large for a \(what)")
        }
    }
    return text
}

/// The bytes of a file (or a pipe), read once, all of them.
public func readFileBytes(path: String) throws -> [UInt8] {
    let reader = try LineReader(path: path, keepCarriageReturns: true, keepsByteOrderMark: true)
    var bytes: [UInt8] = []
    while try reader.nextLine({ bytes.append(contentsOf: $0) }) != nil {
        if !reader.endedWithoutNewline { bytes.append(0x0A) }
    }
    return bytes
}
