// ServeConfiguration: what `nmt serve` runs — its models by language pair, each with its compute
// type, search options and threads, and the server's address and limits. It comes from flags (one
// model) or a YAML file (`--config serve.yaml`, keys spelled as the flags are); every value is
// checked before any model loads, errors naming the file, line and key.

import Foundation
import NMT
import Yams

/// One model the server offers, for one language pair.
public struct ServedModelSettings: Sendable, Equatable {
    /// The model file.
    public var model: String
    /// Language codes (ISO 639-1 as LibreTranslate uses them: "en", "es", "pt-BR").
    public var source: String
    public var target: String
    /// The OpenNMT-py REST API's `id` (100, 101, … in order, unless given).
    public var id: Int
    /// float32 or int8; nil: as the file is stored.
    public var computeType: ComputeType? = nil
    /// Search options as `nmt translate` takes them (nil: the model's own, then nmt's defaults).
    public var beam: Int? = nil
    public var lengthPenalty: Double? = nil
    public var maxLengthA: Double? = nil
    public var maxLengthB: Double? = nil
    /// Hypotheses the OpenNMT-py API returns per sentence.
    public var nbest = 1
    public var batchSize = 32
    public var maxTokens: Int? = nil
    /// Batches this model searches at once (nil: every thread).
    public var threads: Int? = nil
    /// Lexical shortlist: targets taken per source token (nil: the whole vocabulary), from
    /// `shortlistFile` (nil: the model's name with .shortlist), as `nmt translate --shortlist`.
    public var shortlist: Int? = nil
    public var shortlistFile: String? = nil

    public init(model: String, source: String, target: String, id: Int) {
        self.model = model
        self.source = source
        self.target = target
        self.id = id
    }
}

/// What one request may ask and how much the server holds.
public struct ServerLimits: Sendable, Equatable {
    /// Bytes of a request body (413 beyond).
    public var maxBodyBytes = 1 << 20
    /// Characters of one request's texts together (LibreTranslate's char_limit; 400 beyond).
    public var charLimit = 20_000
    /// Texts in one request's `q` list or OpenNMT-py array (LibreTranslate's batch_limit).
    public var batchLimit = 1_000
    /// Alternatives a request may ask for (at most the beam minus one).
    public var alternativesLimit = 4
    /// Sentences waiting for translation across all requests (503 with Retry-After beyond).
    public var maxQueue = 2_000
    /// How long the first sentence waits for others to share its batch (seconds).
    public var batchWait = 0.005
    /// Requests one client address may make per minute (429 beyond; nil: no limit).
    public var requestsPerMinute: Int? = nil
    /// Seconds to read a whole request (head and body) once it starts.
    public var requestTimeout = 30.0
    /// Seconds an open connection may stay silent.
    public var idleTimeout = 60.0
    public init() {}
}

public struct ServeConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    /// 0: any free port (the server says which).
    public var port = 5000
    public var threads: Int? = nil
    /// A file of API keys, one per line ('#' comments); nil: no key needed.
    public var apiKeys: String? = nil
    public var limits = ServerLimits()
    public var models: [ServedModelSettings] = []
    public init() {}

    /// Checks every value; errors name `source` (a flag's or the file's name) and what is wrong.
    public func validate() throws {
        guard !models.isEmpty else { throw NMTError("no model to serve: give -m MODEL --source CODE --target CODE, or --config FILE with models") }
        try checkOption("--port", port, .closed(0, 65535))
        try checkOption("--threads", threads, .closed(1, 1024))
        try checkOption("--max-body", limits.maxBodyBytes, .closed(64, Double(1 << 30)), "bytes")
        try checkOption("--char-limit", limits.charLimit, .closed(1, 1e8))
        try checkOption("--batch-limit", limits.batchLimit, .closed(1, 1e6))
        try checkOption("--alternatives-limit", limits.alternativesLimit, .closed(0, 1000))
        try checkOption("--max-queue", limits.maxQueue, .closed(1, 1e7), "sentences")
        try checkOption("--batch-wait-ms", limits.batchWait * 1000, .closed(0, 10_000))
        try checkOption("--requests-per-minute", limits.requestsPerMinute, .closed(1, 1e9))
        try checkOption("--request-timeout", limits.requestTimeout, .closed(0.1, 86_400), "seconds")
        try checkOption("--idle-timeout", limits.idleTimeout, .closed(0.1, 86_400), "seconds")
        guard !host.isEmpty, host.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 }) else {
            throw NMTError("--host '\(host)' is not an address (like 127.0.0.1, 0.0.0.0 or ::1)")
        }
        var pairs = Set<String>(), ids = Set<Int>()
        for (i, m) in models.enumerated() {
            let name = models.count == 1 ? "" : "models[\(i)]: "
            for (flag, code) in [("--source", m.source), ("--target", m.target)] where !ServeConfiguration.isLanguageCode(code) {
                throw NMTError("\(name)\(flag) '\(code)' is not a language code (letters, like en, es or pt-BR)")
            }
            guard m.source != m.target else { throw NMTError("\(name)--source and --target are both '\(m.source)'") }
            guard pairs.insert("\(m.source)→\(m.target)").inserted else { throw NMTError("\(name)a second model for \(m.source) → \(m.target)") }
            guard ids.insert(m.id).inserted else { throw NMTError("\(name)id \(m.id) is already another model's") }
            guard !m.model.isEmpty else { throw NMTError("\(name)-m: the model path is empty") }
            try checkOption("\(name)--beam", m.beam, .closed(1, 1000))
            try checkOption("\(name)--nbest", m.nbest, .closed(1, Double(m.beam ?? 1000)), "at most the beam")
            try checkOption("\(name)--threads", m.threads, .closed(1, 1024))
            try checkOption("\(name)--batch-size", m.batchSize, .closed(1, 1e6))
            try checkOption("\(name)--max-tokens", m.maxTokens, .closed(1, 1e9))
            try Shortlist.checkOptions(size: m.shortlist, file: m.shortlistFile, name: name)
        }
    }

    static func isLanguageCode(_ code: String) -> Bool {
        (1...16).contains(code.utf8.count) && code.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0 == "-" || $0 == "_") }
    }

    // MARK: YAML

    /// The configuration in the YAML text of `path` (keys as the flags are named; `models` a list).
    public static func read(_ path: String) throws -> ServeConfiguration {
        try parse(try readTextFile(path: path, maximumBytes: 1 << 20, what: "config"), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> ServeConfiguration {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw NMTError("\(path): not YAML: \(String(describing: error).split(whereSeparator: \.isNewline).first ?? "")")
        }
        guard let mapping = root?.mapping else { throw NMTError("\(path):1: expected key: value lines with a models list") }
        var config = ServeConfiguration()
        let fields = YAMLFields(mapping, path: path, known: ["host", "port", "threads", "api-keys", "max-body", "char-limit", "batch-limit",
                                                             "alternatives-limit", "max-queue", "batch-wait-ms", "requests-per-minute",
                                                             "request-timeout", "idle-timeout", "models"])
        try fields.checkKeys()
        config.host = try fields.string("host") ?? config.host
        config.port = try fields.int("port") ?? config.port
        config.threads = try fields.int("threads")
        config.apiKeys = try fields.string("api-keys")
        config.limits.maxBodyBytes = try fields.int("max-body") ?? config.limits.maxBodyBytes
        config.limits.charLimit = try fields.int("char-limit") ?? config.limits.charLimit
        config.limits.batchLimit = try fields.int("batch-limit") ?? config.limits.batchLimit
        config.limits.alternativesLimit = try fields.int("alternatives-limit") ?? config.limits.alternativesLimit
        config.limits.maxQueue = try fields.int("max-queue") ?? config.limits.maxQueue
        config.limits.batchWait = try fields.double("batch-wait-ms").map { $0 / 1000 } ?? config.limits.batchWait
        config.limits.requestsPerMinute = try fields.int("requests-per-minute")
        config.limits.requestTimeout = try fields.double("request-timeout") ?? config.limits.requestTimeout
        config.limits.idleTimeout = try fields.double("idle-timeout") ?? config.limits.idleTimeout
        guard let list = fields.node("models") else { throw NMTError("\(path): no models: list the models to serve under 'models:'") }
        guard let items = list.sequence else { throw NMTError("\(path):\(fields.line(of: list)): models must be a list of '- model: FILE' entries") }
        for (i, item) in items.enumerated() {
            guard let entry = item.mapping else { throw NMTError("\(path):\(fields.line(of: item)): models[\(i)] must be a mapping (model:, source:, target:, …)") }
            let m = YAMLFields(entry, path: path, known: ["model", "source", "target", "id", "compute-type", "beam", "length-penalty",
                                                         "max-len-a", "max-len-b", "nbest", "batch-size", "max-tokens", "threads",
                                                         "shortlist", "shortlist-file"])
            try m.checkKeys()
            guard let model = try m.string("model"), let source = try m.string("source"), let target = try m.string("target") else {
                throw NMTError("\(path):\(fields.line(of: item)): models[\(i)] needs model, source and target")
            }
            var settings = ServedModelSettings(model: resolve(model, relativeTo: path), source: source, target: target, id: try m.int("id") ?? 100 + i)
            if let type = try m.string("compute-type"), type != "auto" {
                guard let value = ComputeType(rawValue: type) else {
                    throw NMTError("\(path):\(m.line(of: "compute-type")): compute-type '\(type)' must be float32, int8 or auto")
                }
                settings.computeType = value
            }
            settings.beam = try m.int("beam")
            settings.lengthPenalty = try m.double("length-penalty")
            settings.maxLengthA = try m.double("max-len-a")
            settings.maxLengthB = try m.double("max-len-b")
            settings.nbest = try m.int("nbest") ?? 1
            settings.batchSize = try m.int("batch-size") ?? 32
            settings.maxTokens = try m.int("max-tokens")
            settings.threads = try m.int("threads")
            settings.shortlist = try m.int("shortlist")
            settings.shortlistFile = try m.string("shortlist-file").map { resolve($0, relativeTo: path) }
            config.models.append(settings)
        }
        return config
    }

    /// A path in a config file is relative to the file's folder.
    private static func resolve(_ file: String, relativeTo configPath: String) -> String {
        if file.hasPrefix("/") || configPath.hasPrefix("/dev/") { return file }
        let folder = (configPath as NSString).deletingLastPathComponent
        return folder.isEmpty ? file : (folder as NSString).appendingPathComponent(file)
    }
}

/// The values of one YAML mapping, read with errors that name the file, line and key.
private struct YAMLFields {
    let mapping: Node.Mapping
    let path: String
    let known: [String]

    init(_ mapping: Node.Mapping, path: String, known: [String]) {
        self.mapping = mapping
        self.path = path
        self.known = known
    }

    func checkKeys() throws {
        var seen = Set<String>()
        for (key, _) in mapping {
            let name = key.string ?? "?"
            guard known.contains(name) else {
                throw NMTError("\(path):\(line(of: key)): unknown key '\(name)' (known: \(known.joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else { throw NMTError("\(path):\(line(of: key)): key '\(name)' is given twice") }
        }
    }

    func node(_ key: String) -> Node? { mapping.first { $0.key.string == key }?.value }
    func line(of node: Node) -> Int { node.mark?.line ?? 1 }
    func line(of key: String) -> Int { node(key).map(line(of:)) ?? 1 }

    func string(_ key: String) throws -> String? {
        guard let value = node(key) else { return nil }
        guard let text = value.scalar?.string else { throw NMTError("\(path):\(line(of: value)): \(key) must be text") }
        return text
    }

    func int(_ key: String) throws -> Int? {
        guard let value = node(key) else { return nil }
        guard let text = value.scalar?.string, let number = Int(text) else {
            throw NMTError("\(path):\(line(of: value)): \(key) must be a whole number, not '\(value.scalar?.string ?? "a list or mapping")'")
        }
        return number
    }

    func double(_ key: String) throws -> Double? {
        guard let value = node(key) else { return nil }
        guard let text = value.scalar?.string, let number = Double(text), number.isFinite else {
            throw NMTError("\(path):\(line(of: value)): \(key) must be a number, not '\(value.scalar?.string ?? "a list or mapping")'")
        }
        return number
    }
}
