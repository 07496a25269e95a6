// ServedModel: one loaded model behind the server — its Translator (shared by every request), the
// queue that batches concurrent requests' sentences, and the one function both APIs translate
// texts with.

import Foundation
import NMT

final class ServedModel: Sendable {
    let settings: ServedModelSettings
    let translator: Translator
    /// The same model recording alignment attention (for /attention; the weights are shared).
    let attentionTranslator: Translator
    let queue: SentenceQueue
    let loadSeconds: Double

    /// Loads `settings.model` and starts its queue; errors name the file.
    init(_ settings: ServedModelSettings, limits: ServerLimits, metrics: ServerMetrics) throws {
        let start = Date()
        let loaded = try ModelFile.load(settings.model, computeType: settings.computeType, forDecoding: true)
        var options = TranslationOptions(for: loaded, beam: settings.beam, lengthPenalty: settings.lengthPenalty,
                                         maxLengthA: settings.maxLengthA, maxLengthB: settings.maxLengthB)
        // Every request's alternatives come from one search: the whole beam is kept as the n-best
        // (the n-best list is cut from the finished beam, so the best is the same for any nbest).
        options.search.nbest = options.search.beam
        options.batchSize = settings.batchSize
        options.maxTokens = settings.maxTokens
        try options.validate(for: loaded.model.config)
        if let size = settings.shortlist {
            options.shortlist = (try Shortlist.forModel(settings.model, tokenizer: loaded.tokenizer, file: settings.shortlistFile).table, size)
        }
        guard settings.nbest <= options.search.beam else {
            throw NMTError("\(settings.model): nbest \(settings.nbest) must be at most the beam (\(options.search.beam))")
        }
        self.settings = settings
        translator = Translator(model: loaded.model, tokenizer: loaded.tokenizer, options: options)
        var attentionOptions = options
        attentionOptions.search.nbest = 1
        attentionOptions.alignments = .soft
        attentionTranslator = Translator(model: translator.model, tokenizer: loaded.tokenizer, options: attentionOptions)
        let pair = "\(settings.source)-\(settings.target)"
        queue = SentenceQueue(translator: translator, workers: settings.threads ?? Threads.count, capacity: limits.maxQueue,
                              batchWait: limits.batchWait) { report in
            metrics.recordBatch(pair: pair, sentences: report.sentences, waiting: report.waitingAfter, seconds: report.seconds)
        }
        loadSeconds = Date().timeIntervalSince(start)
    }

    var pair: String { "\(settings.source)-\(settings.target)" }
    var beam: Int { translator.options.search.beam }

    /// One text's translations: the best first, then the next hypotheses; each with its score
    /// (Σ log p / lp, summed over the pieces of a line cut at sentence ends; 0 for a blank text).
    struct Result {
        var hypotheses: [(text: String, score: Double)]
        var best: String { hypotheses.first?.text ?? "" }
    }

    /// Translations of `texts` with `count` hypotheses each (at most the beam), line by line —
    /// each line what `nmt translate` gives for it.
    func translate(_ texts: [String], count: Int) async throws -> [Result] {
        var encoder = translator.tokenizer.makeEncoder(for: .source)
        let segments = TextSegments(texts, encoder: &encoder, limit: translator.lengthLimit)
        let found = try await queue.translate(segments.sources, empty: segments.blank)
        let tokenizer = translator.tokenizer
        var results = [Result](repeating: Result(hypotheses: []), count: texts.count)
        for k in 0 ..< max(1, min(count, beam)) {
            // Piece i's k-th hypothesis (its last when it has fewer; none for a blank piece).
            let texts = segments.assemble { i in
                let list = found[i]
                return list.isEmpty ? "" : tokenizer.decode(list[min(k, list.count - 1)].tokens)
            }
            let scores = segments.textPieces.map { pieces in
                pieces.reduce(0.0) { total, i in found[i].isEmpty ? total : total + found[i][min(k, found[i].count - 1)].score }
            }
            for t in texts.indices { results[t].hypotheses.append((texts[t], scores[t])) }
        }
        return results
    }
}
