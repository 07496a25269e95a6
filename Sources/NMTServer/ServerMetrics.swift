// ServerMetrics: what `/metrics` shows, in Prometheus's text format (swift-prometheus): requests by
// route and status, request latency, sentences translated, batch sizes and queue depth per
// language pair.

import Foundation
import Prometheus

final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private static let latencyBuckets: [Duration] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000].map { .milliseconds($0) }
    private static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    private static func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "nmt", metricName: metric, unitName: unit, helpText: help)
    }

    /// A finished request: its route (the matched pattern, so labels stay few) and status.
    func recordRequest(route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.name("http_requests", unit: "total", "HTTP requests answered"),
                             labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.name("http_request_duration", unit: "seconds", "Time from a request's arrival to its response"),
                                       labels: [("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    /// One search of gathered sentences.
    func recordBatch(pair: String, sentences: Int, waiting: Int, seconds: Double) {
        registry.makeCounter(descriptor: Self.name("sentences_translated", unit: "total", "Sentences translated"),
                             labels: [("pair", pair)]).increment(by: Int64(sentences))
        registry.makeValueHistogram(descriptor: Self.name("batch_sentences", "Sentences searched together (from every request waiting)"),
                                    labels: [("pair", pair)], buckets: Self.batchBuckets).record(Double(sentences))
        setQueueDepth(pair: pair, waiting: waiting)
    }

    func setQueueDepth(pair: String, waiting: Int) {
        registry.makeGauge(descriptor: Self.name("queue_sentences", "Sentences waiting to be translated"), labels: [("pair", pair)]).set(Double(waiting))
    }

    /// The text exposition format.
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
