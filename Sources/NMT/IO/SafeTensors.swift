// safetensors (Hugging Face's format): 8-byte little-endian header length N, N bytes of JSON
// {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}, …},
// then the raw little-endian tensor data (offsets are relative to its start).
//
// The reader trusts nothing: every size is checked against the file's real size before anything
// is allocated or read, offsets must lie inside the data section and not overlap, and every
// failure is one line naming the file and what is wrong.

import Foundation

public struct SafeTensorsHeader {
    public struct TensorInfo: Equatable {
        public var dtype: String
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

public enum SafeTensors {
    /// Writes F32 tensors (in the given order) and metadata, atomically.
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
                             metadata: [String: String]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        try writeFileAtomically(path) { fd in
            try withUnsafeBytes(of: &length) { try writeAll(fd, $0, name: path) }
            try json.withUnsafeBytes { try writeAll(fd, $0, name: path) }
            for t in tensors {
                // Float32 is stored little-endian, which is this machine's order.
                try writeAll(fd, UnsafeRawBufferPointer(start: t.data, count: t.shape.reduce(1, *) * 4), name: path)
            }
        }
    }

    /// Reads and validates the header.
    public static func readHeader(path: String) throws -> SafeTensorsHeader {
        func fail(_ what: String) -> NMTError { NMTError("\(path): not a valid model file: \(what)") }
        let handle = try openForReading(path)
        defer { try? handle.close() }
        let fileSize = try fileLength(path)
        guard fileSize >= 8 else { throw fail("file is \(fileSize) bytes, shorter than the 8-byte header length") }
        let lengthBytes = try handle.read(upToCount: 8) ?? Data()
        guard lengthBytes.count == 8 else { throw fail("cannot read the header length") }
        let headerLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength >= 2, headerLength <= UInt64(fileSize - 8) else {
            throw fail("header length \(headerLength) does not fit in a file of \(fileSize) bytes")
        }
        guard let headerData = try handle.read(upToCount: Int(headerLength)), headerData.count == Int(headerLength) else {
            throw fail("truncated header")
        }
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let root = object as? [String: Any] else {
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
            guard let dtype = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype") }
            let known = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"]
            guard known.contains(dtype) else { throw fail("tensor '\(name)' has unknown dtype '\(dtype)'") }
            guard dtype == "F32" else { throw fail("tensor '\(name)' has dtype \(dtype); nmt reads F32 only") }
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
            guard end - begin == elements * 4 else {
                throw fail("tensor '\(name)' has \(end - begin) bytes but shape \(shape) of F32 needs \(elements * 4)")
            }
            tensors[name] = .init(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = tensors.sorted { $0.value.begin < $1.value.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.value.begin < a.value.end {
            throw fail("tensors '\(a.key)' and '\(b.key)' overlap")
        }
        return SafeTensorsHeader(metadata: metadata, tensors: tensors, dataStart: dataStart, dataSize: dataSize)
    }

    /// Reads one tensor's data (already validated by `readHeader`) into `destination`.
    public static func readTensor(path: String, header: SafeTensorsHeader, name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let info = header.tensors[name] else { throw NMTError("\(path): not a valid model file: tensor '\(name)' is missing") }
        let handle = try openForReading(path)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(header.dataStart + info.begin))
        let count = info.end - info.begin
        guard let data = try handle.read(upToCount: count), data.count == count else {
            throw NMTError("\(path): not a valid model file: tensor '\(name)' is truncated")
        }
        data.withUnsafeBytes { UnsafeMutableRawPointer(destination).copyMemory(from: $0.baseAddress!, byteCount: count) }
    }

    static func openForReading(_ path: String) throws -> FileHandle {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw NMTError("cannot open \(path): \(exists ? "permission denied" : "No such file or directory")")
        }
        return handle
    }

    static func fileLength(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw NMTError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw NMTError("cannot read \(path): not a regular file") }
        return Int(info.st_size)
    }
}
