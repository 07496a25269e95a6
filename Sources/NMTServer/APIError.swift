// APIError: a request the server refuses or cannot serve — an HTTP status and a one-line message,
// sent as LibreTranslate does, `{"error": "…"}` (the OpenNMT-py routes add `"status": "error"`).

import Foundation
import Hummingbird

struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    /// Seconds a client should wait before trying again (503, 429).
    var retryAfter: Int? = nil

    init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }

    /// The JSON response; `openNMT` adds OpenNMT-py's `"status": "error"`.
    func response(openNMT: Bool = false) -> Response {
        var body: [String: String] = ["error": message]
        if openNMT { body["status"] = "error" }
        var response = JSONResponse.make(body, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// JSON bodies: objects and arrays of strings, numbers and nested values, encoded with sorted keys
/// so responses are byte-stable.
enum JSONResponse {
    static func make(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
