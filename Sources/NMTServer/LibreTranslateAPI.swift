// LibreTranslate's API, as its app.py defines it: POST /translate, GET /languages, POST /detect,
// GET /health — the requests its clients (libretranslatepy, Weblate, LibreTranslate-aio, …) send and
// the responses and error messages they expect.

import Foundation
import Hummingbird
import NMT

struct LibreTranslateAPI: Sendable {
    let models: ServedModels
    let limits: ServerLimits
    let keys: APIKeys?

    /// POST /translate: `q` (a text or a list), `source` (a code, or "auto"), `target`, `format`
    /// ("text" or "html"), `alternatives`, `api_key` → `{"translatedText", "alternatives"?,
    /// "detectedLanguage"?}`, lists for a list `q`.
    func translate(_ fields: RequestFields) async throws -> Response {
        try keys?.check(try fields.string("api_key"))
        guard let (texts, isList) = try fields.texts("q") else { throw APIError.badRequest("Invalid request: missing q parameter") }
        let source = try fields.requiredString("source"), target = try fields.requiredString("target")
        let alternatives = max(0, try fields.int("alternatives") ?? 0)
        if alternatives > limits.alternativesLimit {
            throw APIError.badRequest("Invalid request: alternatives parameter must be <= \(limits.alternativesLimit)")
        }
        if isList { try limits.checkTextCount(texts.count) }
        try limits.checkCharacters(texts)
        let detected = source == "auto" ? models.detect(target: target).first : nil
        let sourceCode = detected?.language ?? source
        guard models.languages.contains(sourceCode) else { throw APIError.badRequest("\(sourceCode) is not supported") }
        guard models.languages.contains(target) else { throw APIError.badRequest("\(target) is not supported") }
        let format = try fields.string("format") ?? "text"
        guard format == "text" || format == "html" else { throw APIError.badRequest("\(format) format is not supported") }
        guard let model = models.model(source: sourceCode, target: target) else {
            throw APIError.badRequest("\(LanguageNames.name(of: target)) (\(target)) is not available as a target language from \(LanguageNames.name(of: sourceCode)) (\(sourceCode))")
        }
        guard alternatives < model.beam || alternatives == 0 else {
            throw APIError.badRequest("Invalid request: alternatives parameter must be <= \(model.beam - 1) (this model's beam is \(model.beam))")
        }

        var translated: [String], others: [[String]]
        if format == "html" {
            // Markup is kept as it is; the text between tags is translated (no alternatives, as LibreTranslate).
            let documents = texts.map(HTMLText.init)
            let results = try await model.translate(documents.flatMap(\.texts), count: 1)
            var next = 0
            translated = documents.map { document in
                defer { next += document.texts.count }
                return document.assemble(results[next ..< next + document.texts.count].map(\.best))
            }
            others = texts.map { _ in [] }
        } else {
            let results = try await model.translate(texts, count: alternatives + 1)
            translated = results.map(\.best)
            others = results.map { result in
                var unique: [String] = []
                for (text, _) in result.hypotheses.dropFirst() where text != result.best && !unique.contains(text) { unique.append(text) }
                return Array(unique.prefix(alternatives))
            }
        }
        var body: [String: Any] = ["translatedText": isList ? translated : translated[0]]
        if alternatives > 0 { body["alternatives"] = isList ? others : others[0] }
        if let detected {
            let language: [String: Any] = ["confidence": detected.confidence, "language": detected.language]
            body["detectedLanguage"] = isList ? Array(repeating: language, count: texts.count) : language
        }
        return JSONResponse.make(body)
    }

    /// GET /languages: every language code served, with the codes it translates into.
    func languages() -> Response {
        JSONResponse.make(models.languages.map { code in
            ["code": code, "name": LanguageNames.name(of: code), "targets": models.targets(of: code)] as [String: Any]
        })
    }

    /// POST /detect: `q` → candidate languages, most likely first. Without a language identifier,
    /// these are the served source languages with equal confidence.
    func detect(_ fields: RequestFields) throws -> Response {
        try keys?.check(try fields.string("api_key"))
        guard let (texts, _) = try fields.texts("q") else { throw APIError.badRequest("Invalid request: missing q parameter") }
        try limits.checkCharacters(texts)
        return JSONResponse.make(models.detect(target: nil).map { ["confidence": $0.confidence, "language": $0.language] as [String: Any] })
    }
}

/// API keys from a file (one per line; blank lines and '#' comments skipped).
struct APIKeys: Sendable {
    let keys: Set<String>

    init(path: String) throws {
        let text = try readTextFile(path: path, maximumBytes: 16 << 20, what: "API key file")
        keys = Set(text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") })
        if keys.isEmpty { throw NMTError("\(path): no API keys in it (one per line)") }
    }

    func check(_ key: String?) throws {
        guard let key else { throw APIError(.forbidden, "Invalid API key: this server needs an api_key") }
        guard keys.contains(key) else { throw APIError(.forbidden, "Invalid API key") }
    }
}

extension ServerLimits {
    /// LibreTranslate's batch_limit: texts in one request.
    func checkTextCount(_ count: Int) throws {
        if count > batchLimit { throw APIError.badRequest("Invalid request: request (\(count)) exceeds text limit (\(batchLimit))") }
    }

    /// LibreTranslate's char_limit (characters are Unicode scalars), over all of a request's texts.
    func checkCharacters(_ texts: [String]) throws {
        let characters = texts.reduce(0) { $0 + $1.unicodeScalars.count }  // as Python's len
        if characters > charLimit { throw APIError.badRequest("Invalid request: request (\(characters)) exceeds text limit (\(charLimit))") }
    }
}
