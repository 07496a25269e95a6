// RequestFields: the parameters of a LibreTranslate request, from a JSON object or a form
// (application/x-www-form-urlencoded body, and the query string), as Flask's `request.values`
// and `get_json()` give them to LibreTranslate. Anything malformed is a 400 naming what is wrong.

import Foundation
import Hummingbird
import NMT

struct RequestFields {
    private var values: [String: Any]

    init(values: [String: Any]) { self.values = values }

    /// The fields of `body` (and of the query string for forms).
    init(request: Request, body: ByteBuffer) throws {
        let bytes = Array(body.readableBytesView)
        if bytes.withUnsafeBufferPointer(firstInvalidUTF8Offset) != nil {
            throw APIError.badRequest("Invalid request: the body is not valid UTF-8")
        }
        let type = request.headers[.contentType]?.lowercased() ?? ""
        let first = bytes.first { !(($0 == 0x20) || ($0 == 0x0A) || ($0 == 0x0D) || ($0 == 0x09)) }
        if type.contains("json") || (type.isEmpty && first == UInt8(ascii: "{")) {
            values = try RequestFields.jsonObject(Data(bytes))
        } else if type.isEmpty || type.hasPrefix("application/x-www-form-urlencoded") || type.hasPrefix("text/plain") {
            values = [:]
            for (name, value) in try RequestFields.form(String(decoding: bytes, as: UTF8.self)) { values[name] = value }
        } else {
            throw APIError(.unsupportedMediaType, "Invalid request: send JSON (application/json) or a form (application/x-www-form-urlencoded), not \(type)")
        }
        if !(type.contains("json") || (type.isEmpty && first == UInt8(ascii: "{"))), let query = request.uri.query {
            for (name, value) in try RequestFields.form(query) where values[name] == nil { values[name] = value }
        }
    }

    /// A JSON object (anything else is "Invalid JSON format", as LibreTranslate says).
    static func jsonObject(_ data: Data) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]), let dictionary = object as? [String: Any] else {
            throw APIError.badRequest("Invalid JSON format")
        }
        return dictionary
    }

    /// JSON of any shape (the OpenNMT-py API's array).
    static func json(_ data: Data) throws -> Any {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw APIError.badRequest("Invalid JSON format")
        }
        return object
    }

    /// name=value pairs of a URL-encoded form ('+' is a space; %XX bytes must form UTF-8).
    static func form(_ text: String) throws -> [(String, String)] {
        try text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) throws -> String {
                guard let value = s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw APIError.badRequest("Invalid request: a form field is not valid percent-encoded UTF-8")
                }
                return value
            }
            return (try decode(parts[0]), try decode(parts.count > 1 ? parts[1] : ""))
        }
    }

    /// A text field (numbers are accepted as their text); nil when absent or empty.
    /// A string field that must be there ("Invalid request: missing NAME parameter", as LibreTranslate says).
    func requiredString(_ name: String) throws -> String {
        guard let value = try string(name) else { throw APIError.badRequest("Invalid request: missing \(name) parameter") }
        return value
    }

    func string(_ name: String) throws -> String? {
        switch values[name] {
        case nil, is NSNull: return nil
        case let text as String: return text.isEmpty ? nil : text
        case let number as NSNumber: return number.stringValue
        default: throw APIError.badRequest("Invalid request: \(name) must be a string")
        }
    }

    /// A whole-number field (a JSON number or its text).
    func int(_ name: String) throws -> Int? {
        guard let value = values[name], !(value is NSNull) else { return nil }
        if let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) { return exact }
        if let text = value as? String {
            if text.isEmpty { return nil }
            if let n = Int(text.trimmingCharacters(in: .whitespaces)) { return n }
        }
        throw APIError.badRequest("Invalid request: \(name) parameter is not a number")
    }

    /// `q`: one text, or (JSON only) a list of texts; nil when missing or empty.
    func texts(_ name: String) throws -> (texts: [String], isList: Bool)? {
        switch values[name] {
        case nil, is NSNull: return nil
        case let text as String: return text.isEmpty ? nil : ([text], false)
        case let list as [Any]:
            guard !list.isEmpty else { return nil }
            let texts = list.compactMap { $0 as? String }
            guard texts.count == list.count else { throw APIError.badRequest("Invalid request: \(name) must be a string or a list of strings") }
            return (texts, true)
        default: throw APIError.badRequest("Invalid request: \(name) must be a string or a list of strings")
        }
    }
}
