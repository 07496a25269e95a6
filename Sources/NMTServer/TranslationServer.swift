// TranslationServer: `nmt serve` — the models of a ServeConfiguration behind HTTP (Hummingbird 2 on
// SwiftNIO): LibreTranslate's API at the root, OpenNMT-py's under /translator, a web page at /,
// Prometheus metrics at /metrics. Handlers parse and check a request, hand its sentences to the
// model's SentenceQueue and await them; the searches run on the queue's thread and the model's
// workers, never on the event loops.
//
// Limits: request bodies (413), characters and texts per request (400), API keys (403), requests
// per client per minute (429), the sentences waiting (503 with Retry-After), connections, a
// silent connection's idle timeout (which also bounds slow request heads) and the time to read a
// body (408). SIGTERM or SIGINT stops accepting connections, answers every request in flight and
// returns (exit 0).

import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NMT

public final class TranslationServer: Sendable {
    public let configuration: ServeConfiguration
    let models: ServedModels
    let metrics = ServerMetrics()
    let keys: APIKeys?
    let clients: ClientRateLimiter?

    /// Checks `configuration` and loads its models; `say` hears a line per model loaded.
    public init(_ configuration: ServeConfiguration, say: (String) -> Void) throws {
        try configuration.validate()
        self.configuration = configuration
        keys = try configuration.apiKeys.map(APIKeys.init(path:))
        clients = configuration.limits.requestsPerMinute.map(ClientRateLimiter.init(perMinute:))
        models = try ServedModels(configuration, metrics: metrics) { model in
            let shortlist = model.settings.shortlist.map { ", shortlist \($0)" } ?? ""
            say("nmt: \(model.pair) (id \(model.settings.id)): \(model.settings.model), \(model.translator.model.computeType.rawValue), beam \(model.beam)\(shortlist)")
        }
    }

    /// Serves until SIGTERM or SIGINT; `listening` hears the address once the socket is bound.
    public func run(listening: @escaping @Sendable (_ host: String, _ port: Int) -> Void) async throws {
        let limits = configuration.limits
        let libre = LibreTranslateAPI(models: models, limits: limits, keys: keys)
        let openNMT = OpenNMTAPI(models: models, limits: limits)
        let attention = AttentionAPI(models: models, limits: limits, keys: keys)
        let router = Router(context: ServerContext.self)
        router.add(middleware: ResponseMiddleware(metrics: metrics, clients: clients))

        router.get("/") { _, _ in WebPage.response }
        router.get("/health") { _, _ in JSONResponse.make(["status": "ok"]) }
        router.get("/languages") { _, _ in libre.languages() }
        router.post("/translate") { request, context in
            try await libre.translate(RequestFields(request: request, body: try await self.body(of: request)))
        }
        router.post("/attention") { request, context in
            try await attention.attention(RequestFields(request: request, body: try await self.body(of: request)))
        }
        router.post("/detect") { request, context in
            try libre.detect(RequestFields(request: request, body: try await self.body(of: request)))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.metrics.render())))
        }
        router.get("/translator/health") { _, _ in JSONResponse.make(["status": "ok"]) }
        router.get("/translator/models") { _, _ in openNMT.listModels() }
        router.post("/translator/translate") { request, context in
            try await openNMT.translate(RequestFields.json(Data(try await self.body(of: request).readableBytesView)))
        }

        var logger = Logger(label: "nmt-serve")
        logger.logLevel = .error
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(limits.idleTimeout * 1000)))),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "nmt",
                                                    availableConnectionsDelegate: MaximumAvailableConnections(1024)),
            onServerRunning: { channel in
                listening(self.configuration.host, channel.localAddress?.port ?? self.configuration.port)
            },
            logger: logger
        )
        defer { models.stop() }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// The request's body, at most `maxBodyBytes` (413), read within `requestTimeout` (408).
    private func body(of request: Request) async throws -> ByteBuffer {
        let limits = configuration.limits
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxBodyBytes {
            throw APIError(.contentTooLarge, "Request body of \(length) bytes exceeds the limit of \(limits.maxBodyBytes) bytes")
        }
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await request.body.collect(upTo: limits.maxBodyBytes)
                } catch where error is NIOTooManyBytesError || (error as? HTTPError)?.status == .contentTooLarge {
                    throw APIError(.contentTooLarge, "Request body exceeds the limit of \(limits.maxBodyBytes) bytes")
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(limits.requestTimeout * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let body = try await group.next() ?? nil else {
                throw APIError(.requestTimeout, "Request body not received within \(limits.requestTimeout) seconds")
            }
            return body
        }
    }
}

/// The request context: Hummingbird's core storage and the client's address.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "-"
    }

    /// Bodies are read (and bounded) by the server itself.
    var maxUploadSize: Int { .max }
}
