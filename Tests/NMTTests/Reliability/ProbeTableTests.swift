import Foundation
import Testing
@testable import NMT

/// Issue 37's probe as a table: hostile files and options, each given to the command a careful
/// operator would try them with. Every row ends with exit status 1, exactly one `nmt: error:` line
/// naming what is wrong, and no output file.
@Suite struct ProbeTableTests {
    struct Case: CustomStringConvertible {
        let name: String
        /// Arguments; MODEL, OUT and FILE are replaced by the paths the case prepares.
        let arguments: [String]
        /// What the error line must contain.
        let reason: String
        var description: String { name }
    }

    /// The model file of a safetensors header edited by `edit` (its data kept as it was).
    static func editedHeader(of model: String, to path: String, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: model))
        let length = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as! [String: Any]
        edit(&header)
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        for i in 0..<8 { out.append(UInt8((UInt64(json.count) >> (8 * UInt64(i))) & 0xFF)) }
        try (out + json + data.subdata(in: (8 + length)..<data.count)).write(to: URL(fileURLWithPath: path))
    }

    /// Writes the file a case reads (FILE) from a valid model (MODEL) and returns its path.
    static func prepare(_ name: String, model: String, dir: TemporaryDirectory) throws -> String {
        let file = dir.path(name)
        let bytes: Data
        switch name {
        case "empty model": bytes = Data()
        case "random bytes": bytes = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })
        case "truncated data":
            let whole = try Data(contentsOf: URL(fileURLWithPath: model))
            bytes = whole.prefix(whole.count - 100)
        case "shape changed":
            try editedHeader(of: model, to: file) { h in
                var t = h["decoder.layers.0.fc1.weight"] as! [String: Any]
                t["shape"] = [32, 15]
                h["decoder.layers.0.fc1.weight"] = t
            }
            return file
        case "dtype changed":
            try editedHeader(of: model, to: file) { h in
                var t = h["decoder.layers.0.fc1.bias"] as! [String: Any]
                t["dtype"] = "F16"
                h["decoder.layers.0.fc1.bias"] = t
            }
            return file
        case "offsets outside the data":
            try editedHeader(of: model, to: file) { h in
                var t = h["decoder.layers.0.fc1.bias"] as! [String: Any]
                t["data_offsets"] = [1 << 40, (1 << 40) + 128]
                h["decoder.layers.0.fc1.bias"] = t
            }
            return file
        case "no config":
            try editedHeader(of: model, to: file) { h in
                var m = h["__metadata__"] as! [String: String]
                m["config"] = nil
                h["__metadata__"] = m
            }
            return file
        case "heads do not divide the width":
            try editedHeader(of: model, to: file) { h in
                var m = h["__metadata__"] as! [String: String]
                m["config"] = m["config"]!.replacingOccurrences(of: "\"heads\":2", with: "\"heads\":3")
                h["__metadata__"] = m
            }
            return file
        case "broken YAML": bytes = Data("max-steps: [\n".utf8)
        case "unknown YAML key": bytes = Data("max-stepz: 5\n".utf8)
        case "YAML value of the wrong type": bytes = Data("max-steps: many\n".utf8)
        case "codes that are not UTF-8": bytes = Data([0xFF, 0xFE, 0x41, 0x0A])
        default: fatalError("no such case \(name)")
        }
        try bytes.write(to: URL(fileURLWithPath: file))
        return file
    }

    static let cases: [Case] = [
        Case(name: "empty model", arguments: ["translate", "-m", "FILE"], reason: "not a valid model file"),
        Case(name: "random bytes", arguments: ["translate", "-m", "FILE"], reason: "not a valid model file"),
        Case(name: "truncated data", arguments: ["translate", "-m", "FILE"], reason: "not a valid model file"),
        Case(name: "shape changed", arguments: ["translate", "-m", "FILE"], reason: "decoder.layers.0.fc1.weight"),
        Case(name: "dtype changed", arguments: ["quantize", "-m", "FILE", "-o", "OUT"], reason: "decoder.layers.0.fc1.bias"),
        Case(name: "offsets outside the data", arguments: ["rescore", "-m", "FILE", "--src", "FILE", "--tgt", "FILE"], reason: "not a valid model file"),
        Case(name: "no config", arguments: ["translate", "-m", "FILE"], reason: "config"),
        Case(name: "heads do not divide the width", arguments: ["translate", "-m", "FILE"], reason: "heads"),
        Case(name: "broken YAML", arguments: ["train", "--config", "FILE"], reason: "FILE:2: invalid YAML"),
        Case(name: "unknown YAML key", arguments: ["train", "--config", "FILE"], reason: "FILE:1: unknown option 'max-stepz'"),
        Case(name: "YAML value of the wrong type", arguments: ["train", "--config", "FILE"], reason: "FILE:1: option 'max-steps' expects a whole number"),
        Case(name: "codes that are not UTF-8", arguments: ["bpe", "apply", "--codes", "FILE", "-o", "OUT"], reason: "FILE:1: invalid UTF-8"),
        Case(name: "a beam wider than the vocabulary", arguments: ["translate", "-m", "MODEL", "--beam", "100000"], reason: "--beam 100000"),
    ]

    @Test(arguments: cases)
    func aHostileInputEndsWithOneErrorLineAndNoOutput(_ c: Case) throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let file = c.arguments.contains("FILE") ? try Self.prepare(c.name, model: model, dir: dir) : ""
        let out = dir.path("out")
        let arguments = c.arguments.map { $0 == "FILE" ? file : $0 == "MODEL" ? model : $0 == "OUT" ? out : $0 }
        let r = try runNMT(arguments, stdin: Data("a b c\n".utf8))
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("nmt: error:") }
        #expect(r.status == 1 && errors.count == 1, "\(c.name): exit \(r.status), \(r.stderr.prefix(300))")
        let reason = c.reason.replacingOccurrences(of: "FILE", with: file).replacingOccurrences(of: "MODEL", with: model)
        #expect(r.stderr.contains(reason), "\(c.name): \(r.stderr.prefix(300))")
        #expect(!FileManager.default.fileExists(atPath: out), "\(c.name): an output was left")
    }
}
