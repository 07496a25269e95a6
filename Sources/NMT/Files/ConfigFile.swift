// ConfigFile: training options as YAML (the convention of Marian and OpenNMT), through Yams. Keys
// are the long flag names (`max-tokens: 8192`); a file holds any subset, the rest keep their
// defaults, and flags given on the command line override it. Unknown keys and values of the wrong
// type are one-line errors naming the file, line and key.

import Foundation
import Yams

public enum ConfigFile {
    /// Options read from the YAML text of `path` (what it leaves out keeps its default).
    public static func read(_ path: String) throws -> TrainingOptions {
        // A file, or a stream (`--config <(…)`); a directory, invalid UTF-8 or a size no config
        // has are refused with the reason.
        return try parse(try readTextFile(path: path, maximumBytes: 16 << 20, what: "config"), path: path)
    }

    /// Options from YAML `text` (named `path` in errors) over the defaults.
    public static func parse(_ text: String, path: String) throws -> TrainingOptions {
        let base = TrainingOptions()
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw NMTError("\(path):\(describe(error, text: text))")
        }
        guard let root else { return base }  // an empty file
        guard let mapping = root.mapping else {
            throw NMTError("\(path):\(root.mark?.line ?? 1): expected option: value lines, like max-tokens: 4096")
        }
        // Each key known, once; remember its line for errors in its value.
        var lines: [String: Int] = [:]
        for (key, _) in mapping {
            let line = key.mark?.line ?? 1
            guard let name = key.string, TrainingOptions.CodingKeys(rawValue: name) != nil else {
                throw NMTError("\(path):\(line): unknown option '\(key.string ?? "?")'\(suggestion(for: key.string ?? ""))")
            }
            guard lines[name] == nil else { throw NMTError("\(path):\(line): option '\(name)' is given twice") }
            lines[name] = line
        }
        // The file's values over the base's, decoded as one value (so types are checked by Codable).
        guard let baseMapping = try Yams.compose(yaml: try yaml(base))?.mapping else {
            throw NMTError("internal error: cannot represent the options as YAML")
        }
        var merged: [(Node, Node)] = baseMapping.filter { lines[$0.key.string ?? ""] == nil }.map { ($0.key, $0.value) }
        merged += mapping.map { ($0.key, $0.value) }
        do {
            return try YAMLDecoder().decode(TrainingOptions.self, from: Node.mapping(Node.Mapping(merged)))
        } catch let error as DecodingError {
            throw NMTError(describe(error, path: path, lines: lines, mapping: mapping))
        }
    }

    /// The YAML of `options`: one `key: value` line per option in declaration order (absent
    /// optionals left out), numbers in their shortest exact form (0.1, not 1.00000001490116e-1).
    public static func yaml(_ options: TrainingOptions) throws -> String {
        let fields = encodedFields(options)
        return TrainingOptions.CodingKeys.allCases.compactMap { key in
            fields[key.rawValue].map { "\(key.rawValue): \(plain($0))\n" }
        }.joined()
    }

    /// A JSON value as YAML: strings that YAML reads back as the same text lose their quotes.
    private static func plain(_ json: String) -> String {
        guard json.hasPrefix("\""), json.hasSuffix("\""), json.count >= 3 else { return json }
        let text = json.dropFirst().dropLast()
        let safe = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_./-".contains($0)) }
        let first = text.first!
        let special = ["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(text.lowercased())
        return safe && (first.isLetter || first == "/" || first == "." || first == "_") && !special ? String(text) : json
    }

    /// Writes `options` to `path` atomically, with a header saying how to run it again.
    public static func write(_ options: TrainingOptions, to path: String) throws {
        let text = "# nmt \(nmtVersion) training configuration; run it again with: nmt train --config \((path as NSString).lastPathComponent)\n"
            + (try yaml(options))
        try writeFileAtomically(path, contents: text)
    }

    /// "LINE: message" for a YAML syntax error in `text`.
    private static func describe(_ error: YamlError, text: String) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "\(mark.line): invalid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams marks the mapping; the line people need is the key's second appearance.
            let key = duplicates.first ?? "?"
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .filter { $0.element.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") }.map { $0.offset + 1 }
            return "\(lines.count > 1 ? lines[1] : context.mark.line): option '\(key)' is given twice"
        default:
            return "1: invalid YAML: \(String(describing: error).split(separator: "\n").first ?? "")"
        }
    }

    private static func describe(_ error: DecodingError, path: String, lines: [String: Int], mapping: Node.Mapping) -> String {
        let context: DecodingError.Context
        let expected: String
        switch error {
        case .typeMismatch(let type, let c): context = c; expected = typeName(type)
        case .valueNotFound(let type, let c): context = c; expected = typeName(type)
        case .dataCorrupted(let c): context = c; expected = ""
        case .keyNotFound(let key, let c): return "\(path): option '\(key.stringValue)' is missing (\(c.debugDescription))"
        @unknown default: return "\(path): \(error)"
        }
        guard let key = context.codingPath.first?.stringValue else { return "\(path): \(context.debugDescription)" }
        let given = mapping[key].flatMap { $0.scalar?.string } ?? ""
        var wanted = expected
        switch TrainingOptions.CodingKeys(rawValue: key) {
        case .preset: wanted = "one of " + TrainingOptions.Preset.allCases.map(\.rawValue).joined(separator: ", ")
        case .activation: wanted = "one of " + Activation.allCases.map(\.rawValue).joined(separator: ", ")
        case .schedule: wanted = "one of " + LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")
        case .freeze: wanted = "a list of " + TrainingOptions.FrozenPart.allCases.map(\.rawValue).joined(separator: ", ")
        case .bestMetric: wanted = "one of " + TrainingOptions.BestMetric.allCases.map(\.rawValue).joined(separator: ", ")
        case .adamBetas: wanted = "a list of two numbers, like [0.9, 0.98]"
        default: if wanted.isEmpty { wanted = "a valid value" }
        }
        let shown = given.isEmpty ? "" : ", got '\(given)'"
        return "\(path):\(lines[key] ?? 1): option '\(key)' expects \(wanted)\(shown)"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type, is Int?.Type, is UInt64?.Type: return "a whole number"
        case is Double.Type, is Float.Type, is Double?.Type, is Float?.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type, is String?.Type: return "a path or word"
        case is [Float].Type: return "a list of two numbers, like [0.9, 0.98]"
        default: return ""
        }
    }

    /// " (did you mean 'x'?)" for the known option nearest to `name` by edit distance, if close.
    private static func suggestion(for name: String) -> String {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let current = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        let candidates = TrainingOptions.CodingKeys.allCases.map { ($0.rawValue, distance(Array(name), Array($0.rawValue))) }
        guard let best = candidates.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return "" }
        return " (did you mean '\(best.0)'?)"
    }
}
