import Foundation
import Testing
@testable import NMT

/// A safetensors file with the given JSON header and `dataBytes` zero bytes of data.
func safetensorsFile(_ dir: TemporaryDirectory, header: String, dataBytes: Int) throws -> String {
    var bytes = [UInt8](repeating: 0, count: 8)
    let json = Array(header.utf8)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
    return try dir.write("t.safetensors", bytes: bytes + json + [UInt8](repeating: 0, count: dataBytes))
}

@Suite struct SafeTensorsTests {
    @Test func theHeaderParsesI8BF16AndF16TensorsWithTheirSizes() throws {
        let dir = try TemporaryDirectory()
        let path = try safetensorsFile(dir, header: """
            {"q":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]},"h":{"dtype":"F16","shape":[3],"data_offsets":[6,12]},\
            "b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},"s":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}
            """, dataBytes: 24)
        let header = try SafeTensorsFile(path: path).header
        #expect(header.tensors["q"] == .init(dtype: .i8, shape: [2, 3], begin: 0, end: 6))
        #expect(header.tensors["h"] == .init(dtype: .f16, shape: [3], begin: 6, end: 12))
        #expect(header.tensors["b"] == .init(dtype: .bf16, shape: [2], begin: 12, end: 16))
        #expect(header.tensors["s"]?.dtype == .f32)
    }

    @Test func aTensorWhoseBytesDoNotMatchItsDtypeIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = try safetensorsFile(dir, header: #"{"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,12]}}"#, dataBytes: 12)
        #expect(throws: NMTError("\(path): not a valid model file: tensor 'b' has 12 bytes but shape [3] of BF16 needs 6")) {
            try SafeTensorsFile(path: path)
        }
    }

    @Test func readingANonF32TensorAsFloatsIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = try safetensorsFile(dir, header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, dataBytes: 4)
        var floats = [Float](repeating: 0, count: 4)
        #expect(throws: NMTError("\(path): tensor 'q' has dtype I8; nmt reads it as F32 only")) {
            try floats.withUnsafeMutableBufferPointer { try SafeTensorsFile(path: path).readFloats("q", into: $0.baseAddress!) }
        }
    }

    @Test func anUnsupportedDtypeIsNamed() throws {
        let dir = try TemporaryDirectory()
        let path = try safetensorsFile(dir, header: #"{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 8)
        #expect(throws: NMTError("\(path): not a valid model file: tensor 'x' has dtype F64; nmt reads F32, F16, BF16 and I8")) {
            try SafeTensorsFile(path: path)
        }
    }

    @Test func typedTensorsRoundTripThroughAFile() throws {
        let dir = try TemporaryDirectory()
        let q: [Int8] = [-127, 0, 5, 127]
        let s: [Float] = [0.5, 2]
        let path = dir.path("typed.safetensors")
        try q.withUnsafeBytes { qb in
            try s.withUnsafeBufferPointer { sb in
                try SafeTensors.write(path: path, tensors: [SafeTensors.Tensor(name: "q", dtype: .i8, shape: [2, 2], bytes: qb.baseAddress!),
                                                            SafeTensors.Tensor(name: "s", shape: [2], floats: sb.baseAddress!)],
                                      metadata: ["compute_type": "int8"])
            }
        }
        let file = try SafeTensorsFile(path: path)
        #expect(file.header.tensors["q"]?.dtype == .i8 && file.header.metadata["compute_type"] == "int8")
        var back = [Int8](repeating: 0, count: 4)
        try back.withUnsafeMutableBytes { try file.read("q", into: $0.baseAddress!) }
        #expect(back == q)
    }

    /// Metadata text round-trips every Unicode scalar: a sample of every plane, and the BOM-like,
    /// format, separator and combining characters — each alone, after an escaped character (where
    /// JSONSerialization loses U+FEFF) and at the start of a value.
    @Test func metadataTextRoundTripsEveryUnicodeScalar() throws {
        var scalars: [Unicode.Scalar] = [0xFEFF, 0xFFFE, 0xFFFF, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x2060, 0x00AD, 0x0300,
                                         0x0301, 0x034F, 0x180E, 0x3000, 0x0085, 0x00A0, 0x0000, 0x0009, 0x000A, 0x000D, 0x001F, 0x007F,
                                         0x1F600, 0xE0001, 0x10FFFF].compactMap(Unicode.Scalar.init)
        for value in stride(from: 0, through: 0x10FFFF, by: 251) { if let u = Unicode.Scalar(value) { scalars.append(u) } }
        var metadata: [String: String] = [:]
        for (i, u) in scalars.enumerated() {
            let c = String(u)
            metadata["k\(i)"] = c + "\"" + c + "\n" + c + "\\" + c + " [\"" + c + "\"]"
        }
        let dir = try TemporaryDirectory()
        let path = dir.path("text.safetensors")
        let one: [Float] = [1]
        try one.withUnsafeBufferPointer { try SafeTensors.write(path: path, tensors: [("t", [1], $0.baseAddress!)], metadata: metadata) }
        let back = try SafeTensorsFile(path: path).header.metadata
        let lost = metadata.filter { key, value in back[key].map { Array($0.unicodeScalars) } != Array(value.unicodeScalars) }
        #expect(lost.isEmpty, "\(lost.count) values changed, e.g. \(lost.first.map { Array($0.value.unicodeScalars).map { String($0.value, radix: 16) } } ?? [])")
    }

    /// A header listing a million empty tensors is refused before its JSON is parsed (which would
    /// take gigabytes).
    @Test func aHeaderWithTooManyTensorsIsRefusedBeforeParsing() throws {
        var header = "{"
        for i in 0..<150_000 { header += "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}," }
        header += "\"__metadata__\":{}}"
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8)
        let dir = try TemporaryDirectory()
        let path = try dir.write("many.safetensors", bytes: bytes)
        do { _ = try SafeTensorsFile(path: path); Issue.record("loaded") } catch let e as NMTError {
            #expect(e.message.contains("header lists 150000 tensors; nmt model files hold at most 100,000"), "\(e.message)")
        }
    }
}
