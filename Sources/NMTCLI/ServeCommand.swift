// nmt serve: translation over HTTP — LibreTranslate's and OpenNMT-py's APIs and a web page.

import ArgumentParser
import Foundation
import NMT
import NMTServer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve translations over HTTP (LibreTranslate's and OpenNMT-py's APIs, and a web page).",
        discussion: """
        Examples:
          nmt serve -m runs/en-es/average.safetensors --source en --target es
          nmt serve --config serve.yaml
        Binds 127.0.0.1:5000 unless --host/--port say otherwise. SIGTERM or Ctrl-C stops accepting,
        answers the requests in flight, and exits.
        """
    )

    @Option(name: [.customShort("m"), .long], help: "Model file (one model; or list several in --config).") var model: String?
    @Option(help: "The model's source language code (e.g. en).") var source: String?
    @Option(help: "The model's target language code (e.g. es).") var target: String?
    @Option(help: "YAML file: the models by language pair and the server's settings (keys as these flags).") var config: String?
    @Option(help: "Address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface).") var host: String?
    @Option(help: "Port (default 5000; 0: any free port).") var port: Int?
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "int8, float32, or auto: as the file is stored.") var computeType = ComputeTypeChoice.auto
    @Option(help: "Beam size (default 5, or the model's own).") var beam: Int?
    @Option(help: "Length penalty α (default 1, or the model's own).") var lengthPenalty: Double?
    @Option(help: "Hypotheses per sentence in OpenNMT-py API responses.") var nbest = 1
    @Option(help: "Sentences per batch.") var batchSize = 32
    @Option(help: "Source tokens per batch (instead of --batch-size).") var maxTokens: Int?
    @Option(help: "Lexical shortlist: output only from the K likeliest targets of each source token and the frequent ones ('nmt shortlist learn' makes the table; default: off).")
    var shortlist: Int?
    @Option(help: "The shortlist file (default: the model's name with .shortlist).") var shortlistFile: String?
    @Option(help: "File of API keys, one per line; requests must carry one as api_key.") var apiKeys: String?
    @Option(help: "Largest request body in bytes (default 1048576).") var maxBody: Int?
    @Option(help: "Characters a request's texts may have in all (default 20000).") var charLimit: Int?
    @Option(help: "Texts a request's list may have (default 1000).") var batchLimit: Int?
    @Option(help: "Alternatives a request may ask for (default 4).") var alternativesLimit: Int?
    @Option(help: "Sentences that may wait for translation; more get 503 (default 2000).") var maxQueue: Int?
    @Option(help: "Milliseconds a sentence waits for others to share its batch (default 5).") var batchWaitMs: Double?
    @Option(help: "Requests a client address may make per minute; more get 429 (default: no limit).") var requestsPerMinute: Int?
    @Option(help: "Seconds to receive a request's body (default 30).") var requestTimeout: Double?
    @Option(help: "Seconds a silent connection stays open (default 60).") var idleTimeout: Double?

    func run() throws {
        try reportingErrors {
            let configuration = try makeConfiguration()
            try useThreads(configuration.threads)
            let server = try TranslationServer(configuration, say: printError)
            // The server stops on SIGTERM/SIGINT itself (finishing requests in flight); it writes no files.
            for signalNumber in [SIGINT, SIGTERM] { signal(signalNumber, SIG_DFL) }
            nonisolated(unsafe) var failure: (any Error)?
            let done = DispatchSemaphore(value: 0)
            Task {
                do {
                    try await server.run { host, port in
                        let shown = host.contains(":") ? "[\(host)]" : host
                        printError("nmt: serving on http://\(shown):\(port) (LibreTranslate API at /, OpenNMT-py API at /translator, web page at /)")
                    }
                } catch { failure = error }
                done.signal()
            }
            done.wait()
            if let failure {
                throw NMTError("cannot serve on \(configuration.host):\(configuration.port): \(failure)")
            }
            printError("nmt: stopped")
        }
    }

    private func makeConfiguration() throws -> ServeConfiguration {
        var configuration = ServeConfiguration()
        if let config {
            guard model == nil && source == nil && target == nil else {
                throw NMTError("give either --config FILE (its models) or -m MODEL --source CODE --target CODE, not both")
            }
            configuration = try ServeConfiguration.read(config)
        } else {
            guard let model else { throw NMTError("no model: give -m MODEL --source CODE --target CODE, or --config FILE") }
            guard let source, let target else { throw NMTError("-m needs --source and --target: the language codes of the model's pair (e.g. en and es)") }
            var settings = ServedModelSettings(model: model, source: source, target: target, id: 100)
            settings.computeType = computeType.computeType
            settings.beam = beam
            settings.lengthPenalty = lengthPenalty
            settings.nbest = nbest
            settings.batchSize = batchSize
            settings.maxTokens = maxTokens
            settings.shortlist = shortlist
            settings.shortlistFile = shortlistFile
            configuration.models = [settings]
        }
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let threads { configuration.threads = threads }
        if let apiKeys { configuration.apiKeys = apiKeys }
        if let maxBody { configuration.limits.maxBodyBytes = maxBody }
        if let charLimit { configuration.limits.charLimit = charLimit }
        if let batchLimit { configuration.limits.batchLimit = batchLimit }
        if let alternativesLimit { configuration.limits.alternativesLimit = alternativesLimit }
        if let maxQueue { configuration.limits.maxQueue = maxQueue }
        if let batchWaitMs { configuration.limits.batchWait = batchWaitMs / 1000 }
        if let requestsPerMinute { configuration.limits.requestsPerMinute = requestsPerMinute }
        if let requestTimeout { configuration.limits.requestTimeout = requestTimeout }
        if let idleTimeout { configuration.limits.idleTimeout = idleTimeout }
        return configuration  // checked by the server
    }
}
