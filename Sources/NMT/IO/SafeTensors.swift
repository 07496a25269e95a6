// safetensors (Hugging Face's format): 8-byte little-endian header length N, N bytes of JSON
// {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}, …},
// then the raw little-endian tensor data (offsets are relative to its start).
//
// The reader opens a file once and trusts nothing: every size is checked against the file's real
// size before anything is allocated or read, offsets must lie inside the data section and not
// overlap, and every failure is one line naming the file and what is wrong.

import Foundation

public struct SafeTensorsHeader {
    public struct TensorInfo: Equatable {
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        public var begin: Int
        public var end: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }
    public var metadata: [String: String]
    public var tensors: [String: TensorInfo]
    /// File offset where the data section starts (8 + N).
    public var dataStart: Int
    public var dataSize: Int
}

/// The element types nmt reads (safetensors names them so); others are refused by name.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i8 = "I8"

    public var size: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i8: return 1
        }
    }
}

/// A safetensors file opened once: its validated header, and tensor data read from the same open
/// file (a file replaced on disk while it is read — a checkpoint rotated by a running trainer —
/// cannot mix two versions).
public final class SafeTensorsFile {
    public let path: String
    public let header: SafeTensorsHeader
    private let fd: Int32

    /// Opens `path` and reads and validates its header.
    public init(path: String) throws {
        self.path = path
        try requireRegularFile(path)
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw NMTError("cannot open \(path): \(String(cString: strerror(errno)))") }
        do {
            header = try SafeTensorsFile.readHeader(fd: fd, path: path)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Reads tensor `name`'s bytes (already validated by the header) into `destination`.
    public func read(_ name: String, into destination: UnsafeMutableRawPointer) throws {
        guard let info = header.tensors[name] else { throw NMTError("\(path): not a valid model file: tensor '\(name)' is missing") }
        guard SafeTensorsFile.readFully(fd, into: destination, count: info.end - info.begin, at: header.dataStart + info.begin) else {
            throw NMTError("\(path): not a valid model file: tensor '\(name)' is truncated")
        }
    }

    /// `count` bytes at `offset` into `destination` (retrying short reads); false at end of file or on error.
    private static func readFully(_ fd: Int32, into destination: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
        var done = 0
        while done < count {
            let n = pread(fd, destination + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Reads an F32 tensor into `destination` (its element count is the header's).
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        if let info = header.tensors[name], info.dtype != .f32 {
            throw NMTError("\(path): tensor '\(name)' has dtype \(info.dtype.rawValue); nmt reads it as F32 only")
        }
        try read(name, into: UnsafeMutableRawPointer(destination))
    }

    private static func readHeader(fd: Int32, path: String) throws -> SafeTensorsHeader {
        func fail(_ what: String) -> NMTError { NMTError("\(path): not a valid model file: \(what)") }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw NMTError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw NMTError("cannot read \(path): not a regular file") }
        let fileSize = Int(info.st_size)
        guard fileSize >= 8 else { throw fail("file is \(fileSize) bytes, shorter than the 8-byte header length") }
        func readExactly(_ count: Int, at offset: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            let complete = bytes.withUnsafeMutableBytes { readFully(fd, into: $0.baseAddress!, count: count, at: offset) }
            return complete ? bytes : nil
        }
        guard let lengthBytes = readExactly(8, at: 0) else { throw fail("cannot read the header length") }
        let headerLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength >= 2, headerLength <= UInt64(fileSize - 8) else {
            throw fail("header length \(headerLength) does not fit in a file of \(fileSize) bytes")
        }
        // Bounded before the JSON is parsed (a parsed header costs ~60× its size): safetensors caps
        // headers at 100 MB; a model has a few hundred tensors, so 100,000 "dtype" keys is hostile.
        guard headerLength <= 100_000_000 else { throw fail("header of \(headerLength) bytes exceeds safetensors' 100 MB limit") }
        guard let headerBytes = readExactly(Int(headerLength), at: 8) else { throw fail("truncated header") }
        let tensorCount = headerBytes.withUnsafeBufferPointer { bytes -> Int in
            var count = 0, i = 0
            let key: [UInt8] = Array("\"dtype\"".utf8)
            while i + key.count <= bytes.count {
                if bytes[i] == 0x22 && bytes[i + 1] == 0x64 && bytes[(i + 2)..<(i + key.count)].elementsEqual(key[2...]) { count += 1 }
                i += 1
            }
            return count
        }
        guard tensorCount <= 100_000 else { throw fail("header lists \(tensorCount) tensors; nmt model files hold at most 100,000") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)), let root = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = fileSize - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: SafeTensorsHeader.TensorInfo] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("metadata value '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                let known = ["F64", "I64", "I32", "I16", "U8", "BOOL"]
                throw fail(known.contains(dtypeName) ? "tensor '\(name)' has dtype \(dtypeName); nmt reads F32, F16, BF16 and I8"
                                                     : "tensor '\(name)' has unknown dtype '\(dtypeName)'")
            }
            guard let shapeValues = info["shape"] as? [Any], shapeValues.count <= 8 else { throw fail("tensor '\(name)' has no valid shape") }
            var shape: [Int] = []
            var elements = 1
            for dimension in shapeValues {
                guard let n = dimension as? Int, n >= 0 else { throw fail("tensor '\(name)' has a bad dimension \(dimension)") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, product <= dataSize else { throw fail("tensor '\(name)' shape \(shapeValues) is larger than the file") }
                shape.append(n)
                elements = product
            }
            guard let offsets = info["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = offsets[0] as? Int, let end = offsets[1] as? Int else {
                throw fail("tensor '\(name)' has no valid data_offsets")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data section")
            }
            guard end - begin == elements * dtype.size else {
                throw fail("tensor '\(name)' has \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(elements * dtype.size)")
            }
            tensors[name] = .init(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        // The metadata's text again, by JSONDecoder: JSONSerialization (swift-corelibs-foundation)
        // drops a U+FEFF that follows an escape sequence in a string — a BPE character line of
        // the codes ("\"<U+FEFF>\"") would lose its character.
        if !metadata.isEmpty, let exact = try? JSONDecoder().decode(MetadataSection.self, from: Data(headerBytes)).metadata {
            metadata = exact
        }
        let sorted = tensors.sorted { $0.value.begin < $1.value.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.value.begin < a.value.end {
            throw fail("tensors '\(a.key)' and '\(b.key)' overlap")
        }
        return SafeTensorsHeader(metadata: metadata, tensors: tensors, dataStart: dataStart, dataSize: dataSize)
    }
}

public enum SafeTensors {
    /// A tensor to write: its raw little-endian bytes, element type and shape.
    public struct Tensor {
        public var name: String
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        public var bytes: UnsafeRawPointer

        public init(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: UnsafeRawPointer) {
            (self.name, self.dtype, self.shape, self.bytes) = (name, dtype, shape, bytes)
        }

        public init(name: String, shape: [Int], floats: UnsafePointer<Float>) {
            self.init(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawPointer(floats))
        }

        var byteCount: Int { shape.reduce(1, *) * dtype.size }
    }

    /// Writes tensors (in the given order) and metadata, atomically.
    public static func write(path: String, tensors: [Tensor], metadata: [String: String]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        try writeFileAtomically(path) { fd in
            try withUnsafeBytes(of: &length) { try writeAll(fd, $0, name: path) }
            try json.withUnsafeBytes { try writeAll(fd, $0, name: path) }
            // Every type is stored little-endian, which is this machine's order.
            for t in tensors { try writeAll(fd, UnsafeRawBufferPointer(start: t.bytes, count: t.byteCount), name: path) }
        }
    }

    /// Writes F32 tensors (in the given order) and metadata, atomically.
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
                             metadata: [String: String]) throws {
        try write(path: path, tensors: tensors.map { Tensor(name: $0.name, shape: $0.shape, floats: $0.data) }, metadata: metadata)
    }
}

/// The `__metadata__` object of a header, read by JSONDecoder.
private struct MetadataSection: Decodable {
    var metadata: [String: String]
    enum CodingKeys: String, CodingKey { case metadata = "__metadata__" }
}
