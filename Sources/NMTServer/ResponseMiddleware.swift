// ResponseMiddleware: what every request goes through — the per-client rate limit, errors turned
// into JSON (`{"error": …}` with the status LibreTranslate uses), the CORS headers LibreTranslate
// sends, metrics, and one JSON access-log line on stderr.

import Foundation
import Hummingbird
import NMT
import Synchronization

struct ResponseMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let metrics: ServerMetrics
    let clients: ClientRateLimiter?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let openNMT = request.uri.path.hasPrefix("/translator")
        var response: Response
        do {
            if let clients, request.uri.path != "/health", !clients.admit(context.remoteAddress) {
                throw APIError(.tooManyRequests, "Slowdown: too many requests (\(clients.perMinute) per minute)", retryAfter: 60)
            }
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response(openNMT: openNMT)
        } catch let error as SentenceQueue.Refusal {
            switch error {
            case .full(let waiting, let capacity):
                response = APIError(.serviceUnavailable, "Server busy: \(waiting) sentences are waiting (at most \(capacity)); try again shortly",
                                    retryAfter: 1).response(openNMT: openNMT)
            case .stopped:
                response = APIError(.serviceUnavailable, "Server is shutting down", retryAfter: 5).response(openNMT: openNMT)
            }
        } catch let error as HTTPError {
            let message = error.status == .notFound ? "Not found: \(request.method) \(request.uri.path)"
                : error.status == .contentTooLarge ? "Request body too large" : (error.body ?? error.status.reasonPhrase)
            response = APIError(error.status, message).response(openNMT: openNMT)
        } catch is CancellationError {
            response = APIError(.serviceUnavailable, "Request cancelled").response(openNMT: openNMT)
        } catch {
            response = APIError(.internalServerError, "Cannot translate text: \(error)").response(openNMT: openNMT)
        }
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
        response.headers[.accessControlAllowMethods] = "GET, POST"
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(route: route, status: response.status.code, duration: elapsed)
        AccessLog.write(request: request, remote: context.remoteAddress, status: response.status.code, duration: elapsed)
        return response
    }
}

/// One JSON line per request on stderr.
enum AccessLog {
    static func write(request: Request, remote: String, status: Int, duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let entry: [String: Any] = [
            "time": Date().formatted(.iso8601), "remote": remote, "method": request.method.rawValue,
            "path": String(request.uri.path.prefix(200)), "status": status, "ms": (seconds * 1e4).rounded() / 10,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        StandardStreams.writeError(String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// Requests per client address in the current minute.
final class ClientRateLimiter: Sendable {
    let perMinute: Int
    private let counts = Mutex<(minute: Int, counts: [String: Int])>((0, [:]))

    init(perMinute: Int) { self.perMinute = perMinute }

    /// Counts a request from `client`; false when it is over the limit for this minute.
    func admit(_ client: String) -> Bool {
        let minute = Int(Date().timeIntervalSince1970 / 60)
        return counts.withLock { state in
            if state.minute != minute { state = (minute, [:]) }
            let count = state.counts[client, default: 0] + 1
            state.counts[client] = count
            return count <= perMinute
        }
    }
}
