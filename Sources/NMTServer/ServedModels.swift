// ServedModels: the loaded models by language pair and by OpenNMT-py id, and what LibreTranslate's
// /languages and /detect say about them.

import NMT

final class ServedModels: Sendable {
    let all: [ServedModel]
    /// Every language code served, source or target, in the order the models name them.
    let languages: [String]

    /// Loads every model of `configuration`; `progress` hears each as it loads.
    init(_ configuration: ServeConfiguration, metrics: ServerMetrics, progress: (ServedModel) -> Void) throws {
        var all: [ServedModel] = []
        for settings in configuration.models {
            let model = try ServedModel(settings, limits: configuration.limits, metrics: metrics)
            progress(model)
            all.append(model)
        }
        self.all = all
        var codes: [String] = []
        for m in all { for code in [m.settings.source, m.settings.target] where !codes.contains(code) { codes.append(code) } }
        languages = codes
    }

    func model(source: String, target: String) -> ServedModel? {
        all.first { $0.settings.source == source && $0.settings.target == target }
    }

    func model(id: Int) -> ServedModel? { all.first { $0.settings.id == id } }

    func targets(of source: String) -> [String] {
        all.filter { $0.settings.source == source }.map(\.settings.target)
    }

    /// Without a language identifier: the source languages served (those translating into
    /// `target`, when given), each with an equal share of 100 % confidence.
    func detect(target: String?) -> [(language: String, confidence: Double)] {
        var sources: [String] = []
        for m in all where target == nil || m.settings.target == target { if !sources.contains(m.settings.source) { sources.append(m.settings.source) } }
        let share = sources.isEmpty ? 0 : (100.0 / Double(sources.count) * 10).rounded() / 10
        return sources.map { ($0, share) }
    }

    /// Stops every queue once what is waiting is translated.
    func stop() { for m in all { m.queue.stop() } }
}
