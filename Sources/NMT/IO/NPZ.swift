// NPZ: numpy's `.npz` archives as Marian writes its models — a zip of stored (uncompressed) `.npy`
// entries: little-endian float32 arrays, and `special:model.yml` (int8: the model's options as
// YAML text). Read whole into memory. Anything else — a deflated archive (np.savez_compressed),
// zip64, another dtype, Fortran order, a truncated file — is a one-line error naming the file and
// the entry.

import Foundation

public struct NPZFile {
    public struct Entry {
        public var dtype: String      // numpy's descr: "<f4", "|i1", …
        public var shape: [Int]
        fileprivate var dataRange: Range<Int>
    }

    public let path: String
    public private(set) var entries: [String: Entry] = [:]
    private let bytes: [UInt8]

    public init(path: String) throws {
        try requireRegularFile(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NMTError("cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "No such file or directory")")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        self.bytes = bytes
        self.path = path
        func fail(_ what: String) -> NMTError { NMTError("\(path): not a valid .npz file: \(what)") }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // The end-of-central-directory record: the last one in the final 64 KiB + 22 bytes.
        guard bytes.count >= 22 else { throw fail("too short for a zip archive") }
        var eocd = -1
        for o in stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 65535), by: -1) where u32(o) == 0x0605_4B50 {
            eocd = o
            break
        }
        guard eocd >= 0 else { throw fail("no zip end-of-central-directory record (truncated, or not a zip archive)") }
        let count = u16(eocd + 10), directorySize = u32(eocd + 12), directoryStart = u32(eocd + 16)
        guard count != 0xFFFF && directoryStart != 0xFFFF_FFFF else { throw fail("zip64 archives are not supported") }
        guard directoryStart + directorySize <= eocd else { throw fail("the central directory lies outside the file (truncated?)") }
        var o = directoryStart
        for _ in 0..<count {
            guard o + 46 <= eocd, u32(o) == 0x0201_4B50 else { throw fail("a broken central directory entry at byte \(o)") }
            let method = u16(o + 10), compressed = u32(o + 20), size = u32(o + 24)
            let nameLength = u16(o + 28), extraLength = u16(o + 30), commentLength = u16(o + 32), localHeader = u32(o + 42)
            guard o + 46 + nameLength <= eocd else { throw fail("a broken central directory entry at byte \(o)") }
            let fileName = String(decoding: bytes[(o + 46)..<(o + 46 + nameLength)], as: UTF8.self)
            o += 46 + nameLength + extraLength + commentLength
            guard method == 0 else {
                throw fail("entry '\(fileName)' is compressed (method \(method)); save the model uncompressed (np.savez, as Marian does)")
            }
            guard compressed == size, compressed != 0xFFFF_FFFF else { throw fail("entry '\(fileName)' has inconsistent sizes") }
            guard localHeader + 30 <= bytes.count, u32(localHeader) == 0x0403_4B50 else { throw fail("entry '\(fileName)' has no local header") }
            let start = localHeader + 30 + u16(localHeader + 26) + u16(localHeader + 28)
            guard start + size <= bytes.count else { throw fail("entry '\(fileName)' runs past the end of the file (truncated?)") }
            let name = fileName.hasSuffix(".npy") ? String(fileName.dropLast(4)) : fileName
            entries[name] = try Self.array(bytes, start..<(start + size), name: name, fail: fail)
        }
    }

    /// An `.npy` entry's header: magic, version, header length, then a Python dict literal.
    private static func array(_ bytes: [UInt8], _ range: Range<Int>, name: String, fail: (String) -> NMTError) throws -> Entry {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard range.count >= 10, Array(bytes[range.lowerBound..<(range.lowerBound + 6)]) == magic else { throw fail("entry '\(name)' is not a .npy array") }
        let major = bytes[range.lowerBound + 6]
        let lengthBytes = major == 1 ? 2 : 4
        guard major >= 1 && major <= 3, range.count >= 8 + lengthBytes else { throw fail("entry '\(name)' has .npy version \(major)") }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[range.lowerBound + 8 + i]) << (8 * i) }
        let headerStart = range.lowerBound + 8 + lengthBytes
        guard headerStart + headerLength <= range.upperBound else { throw fail("entry '\(name)' has a truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        func value(_ key: String) -> Substring? {
            guard let k = header.range(of: "'\(key)'") else { return nil }
            return header[k.upperBound...].drop { $0 == ":" || $0 == " " }
        }
        guard let descr = value("descr"), descr.first == "'", let close = descr.dropFirst().firstIndex(of: "'") else {
            throw fail("entry '\(name)' has no dtype")
        }
        let dtype = String(descr[descr.index(after: descr.startIndex)..<close])
        guard let fortran = value("fortran_order"), fortran.hasPrefix("False") else { throw fail("entry '\(name)' is in Fortran order") }
        guard let shapeText = value("shape"), shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else {
            throw fail("entry '\(name)' has no shape")
        }
        let dimensions = shapeText[shapeText.index(after: shapeText.startIndex)..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var shape: [Int] = []
        for d in dimensions where !d.isEmpty {
            guard let n = Int(d), n >= 0 else { throw fail("entry '\(name)' has shape \(shapeText[...end])") }
            shape.append(n)
        }
        let dataStart = headerStart + headerLength
        let itemSize: Int
        switch dtype {
        case "<f4": itemSize = 4
        case "|i1", "|u1", "<i1", "|b1": itemSize = 1
        default: throw fail("entry '\(name)' has dtype \(dtype); Marian models hold float32 (<f4) arrays")
        }
        let elements = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        guard elements >= 0, elements <= (range.upperBound - dataStart) / itemSize, elements * itemSize == range.upperBound - dataStart else {
            throw fail("entry '\(name)' holds \(range.upperBound - dataStart) bytes, its shape \(shape) needs \(elements * itemSize)")
        }
        return Entry(dtype: dtype, shape: shape, dataRange: dataStart..<range.upperBound)
    }

    /// The float32 values of entry `name`, or an error naming it.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw NMTError("\(path): tensor '\(name)' is missing") }
        guard entry.dtype == "<f4" else { throw NMTError("\(path): tensor '\(name)' has dtype \(entry.dtype), expected float32 (<f4)") }
        return bytes[entry.dataRange].withUnsafeBytes { raw in
            (0..<(entry.dataRange.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
    }

    /// The raw bytes of entry `name` (Marian's `special:model.yml`).
    public func rawBytes(_ name: String) -> [UInt8]? {
        entries[name].map { Array(bytes[$0.dataRange]) }
    }
}
