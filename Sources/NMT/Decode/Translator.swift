// Translator: text in, text out, over one loaded model — what `nmt translate`, validation BLEU and
// `nmt rescore` run, and what `nmt serve` shares across requests.
//
//   lines → BPE ids (truncated to the model, with a warning) → length-sorted batches (by sentences
//   or by source tokens) → a queue of batches that every worker takes from, largest first → beam
//   search (or forced scoring) → n-best hypotheses → detokenized text, in input order.
//
// Workers run whole batches with single-threaded kernels and a `DecodingWorkspace` of their own.
// Workspaces are kept between calls in a pool, so memory stays at what the largest batch needed
// however long the input; each call checks workspaces out, so several threads may translate with
// one Translator at once.

import Foundation
import Synchronization

/// The translation of one line: its n-best hypotheses, best first (none for an empty line).
public struct Translation: Sendable {
    public struct Candidate: Sendable {
        public var text: String
        public var tokens: [Int32]
        /// Σ log p / lp(|Y|).
        public var score: Double
        /// Σ log p over the tokens and </s>.
        public var logProbability: Double
        /// With `TranslationOptions.alignments`: the word alignment (WordAlignment.swift).
        public var alignment: String? = nil
    }
    public var candidates: [Candidate]

    /// The best hypothesis's text ("" for an empty line).
    public var text: String { candidates.first?.text ?? "" }

    /// The lines `nmt translate` prints for it: the text (with a tab and the score when `scores`),
    /// or with n-best lists Moses's `INDEX ||| hypothesis ||| score`, one per hypothesis. An
    /// alignment follows the text after " ||| ", as Marian prints it (`alignments`: the line has one).
    public func formatted(index: Int, nbest: Bool, scores: Bool, alignments: Bool = false) -> String {
        func text(_ candidate: Candidate?) -> String {
            (candidate?.text ?? "") + (alignments ? " ||| " + (candidate?.alignment ?? "") : "")
        }
        if nbest {
            if candidates.isEmpty { return "\(index) ||| \(text(nil)) ||| 0\n" }
            return candidates.map { "\(index) ||| \(text($0)) ||| \(String(format: "%.6f", $0.score))\n" }.joined()
        }
        guard let best = candidates.first else { return text(nil) + (scores ? "\t0\n" : "\n") }
        return text(best) + (scores ? "\t" + String(format: "%.6f", best.score) : "") + "\n"
    }
}

public final class Translator: @unchecked Sendable {
    public let model: Transformer
    public let tokenizer: any Tokenizer
    public let options: TranslationOptions
    /// With several models: all of them, searched as one (`model` is the first).
    public let ensemble: Ensemble?
    /// Under a shortlist, the model's output moments (each step's excluded mass).
    let outputMoments: OutputMoments?
    private let idleWorkspaces = Mutex<[DecodingWorkspace]>([])

    /// A translator of `model` as it is now: a Float32 model's matrices are packed for decoding here
    /// (`Transformer.forDecoding`), so later changes to its parameters need a new translator.
    public init(model: Transformer, tokenizer: any Tokenizer, options: TranslationOptions = TranslationOptions()) {
        self.model = model.forDecoding()
        self.tokenizer = tokenizer
        self.options = options
        ensemble = nil
        outputMoments = options.shortlist == nil ? nil : OutputMoments(of: self.model)
    }

    /// A translator of an ensemble of `models` (one vocabulary, `tokenizer`'s), weighted by
    /// `weights` (default 1/N each); one model is `init(model:)`.
    public init(models: [Transformer], weights: [Double]? = nil, tokenizer: any Tokenizer, options: TranslationOptions = TranslationOptions()) {
        let packed = models.map { $0.forDecoding() }
        model = packed[0]
        self.tokenizer = tokenizer
        self.options = options
        ensemble = packed.count > 1 ? Ensemble(members: packed, weights: weights) : nil
        outputMoments = options.shortlist == nil || ensemble != nil ? nil : OutputMoments(of: model)
    }

    /// Tokens a source or target sentence may have: positions minus </s> (or <s>) and one more.
    public var lengthLimit: Int { (ensemble?.config ?? model.config).maxPositions - 2 }

    // MARK: text

    /// Translations of `lines` in input order; empty and blank lines give empty translations.
    /// `prefixes` (one per line, or none): target text each translation must start with. `warn`
    /// hears about lines truncated to the model (numbered from `firstLineNumber`).
    public func translate(_ lines: [String], prefixes: [String]? = nil, firstLineNumber: Int = 1,
                          warn: (String) -> Void = { _ in }) -> [Translation] {
        var encoder = tokenizer.makeEncoder(for: .source), prefixEncoder = tokenizer.makeEncoder(for: .target)
        let sources = lines.enumerated().map { encode($1, lineNumber: firstLineNumber + $0, encoder: &encoder, warn: warn) }
        let contexts = lines.indices.map { i in
            SentenceContext(prefix: prefixes.map { encodePrefix($0[i], lineNumber: firstLineNumber + i, encoder: &prefixEncoder, warn: warn) } ?? [],
                            line: firstLineNumber - 1 + i)
        }
        return translate(ids: sources, contexts: contexts, empty: lines.map(Translator.isBlank))
    }

    /// Where the target prefixes of a stream's lines come from.
    public enum PrefixSource {
        /// Each input line is `source<TAB>prefix` (a line without a tab has no prefix).
        case afterTab
        /// Line i of this reader is line i's prefix.
        case lines(LineReader)
    }

    /// Translates a stream: reads a window of lines (full, or whatever arrived before the input
    /// paused), translates it, and hands its translations to `window` with the lines' indices
    /// (0-based; they pick the lines' sampling streams), so output can follow input promptly on
    /// endless pipes. Invalid UTF-8 is replaced by U+FFFD with a warning. `skipping`: lines to pass
    /// over first (a resumed run's); `selecting`: which lines to translate (a shard's) — the others
    /// are read and passed over.
    public func translate(stream reader: LineReader, prefixes: PrefixSource? = nil, skipping: Int = 0, selecting: ((Int) -> Bool)? = nil,
                          warn: (String) -> Void, window: (_ lines: [Int], _ translations: [Translation]) throws -> Void) throws {
        var encoder = tokenizer.makeEncoder(for: .source), prefixEncoder = tokenizer.makeEncoder(for: .target)
        func nextPrefix(_ lineNumber: Int) throws -> String {
            guard case .lines(let file) = prefixes else { return "" }
            guard let text = try file.nextString() else {
                throw NMTError("\(file.name):\(file.lineNumber + 1): no prefix for input line \(lineNumber) (the prefix file has \(file.lineNumber) lines)")
            }
            return text
        }
        while reader.lineNumber < skipping, try reader.nextLine({ _ in }) != nil { _ = try nextPrefix(reader.lineNumber) }
        while let lines = try reader.nextWindow(size: max(options.batchSize * 8, 256), { bytes -> (index: Int, ids: [Int32], empty: Bool, prefix: [Int32])? in
            let lineNumber = reader.lineNumber
            var prefix = try nextPrefix(lineNumber)
            if let selecting, !selecting(lineNumber - 1) { return nil }
            if firstInvalidUTF8Offset(bytes) != nil { warn("line \(lineNumber): invalid UTF-8 replaced by U+FFFD") }
            var line = String(decoding: bytes, as: UTF8.self)
            if case .afterTab = prefixes, let tab = line.firstIndex(of: "\t") {
                (line, prefix) = (String(line[..<tab]), String(line[line.index(after: tab)...]))
            }
            return (lineNumber - 1, encode(line, lineNumber: lineNumber, encoder: &encoder, warn: warn), Translator.isBlank(line),
                    encodePrefix(prefix, lineNumber: lineNumber, encoder: &prefixEncoder, warn: warn))
        }) {
            let chosen = lines.compactMap { $0 }
            let contexts = chosen.map { SentenceContext(prefix: $0.prefix, line: $0.index) }
            try window(chosen.map(\.index), translate(ids: chosen.map(\.ids), contexts: contexts, empty: chosen.map(\.empty)))
        }
    }

    /// log p(target | source) of each pair by forced decoding (dropout off, no label smoothing) —
    /// Marian's scorer and fairseq's --score-reference. Both sides are truncated to the model.
    /// Batches are consecutive lines (`batchSize` each); a pair's score does not depend on its batch
    /// (`Compute.rowIndependent`).
    public func rescore(sources: [String], targets: [String]) -> [ForcedScore] {
        var sourceEncoder = tokenizer.makeEncoder(for: .source), targetEncoder = tokenizer.makeEncoder(for: .target)
        let pairs = zip(sources, targets).map {
            (source: Array(sourceEncoder.encode($0).prefix(lengthLimit)), target: Array(targetEncoder.encode($1).prefix(lengthLimit)))
        }
        var results = [ForcedScore](repeating: ForcedScore(logProbability: 0, tokens: 0), count: pairs.count)
        let batches = Batcher.batches(Array(pairs.indices), length: { max(pairs[$0].source.count, pairs[$0].target.count) },
                                      limit: .sentences(max(options.batchSize, 1)))
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            forEachBatch(batches, cost: { $0.reduce(0) { $0 + pairs[$1].source.count + pairs[$1].target.count } }) { indices, workspace in
                let batch = Batch(pairs: indices.map { pairs[$0] })
                let nll = model.score(batch, labelSmoothing: 0, compute: .rowIndependent, arena: workspace.batch).tokenNLL
                for (b, index) in indices.enumerated() {
                    var total = 0.0
                    for t in 0..<batch.targetLength { total += Double(nll[b * batch.targetLength + t]) }
                    out[index] = ForcedScore(logProbability: -total, tokens: pairs[index].target.count + 1)
                }
            }
        }
        return results
    }

    // MARK: token ids

    /// Searches hypotheses for token ids (without </s>), in input order; `empty` lines are skipped.
    /// `contexts`: each source's target prefix and line index (default: none, and its position).
    /// `workers`: batches searched at once (default `Threads.count`); a server runs a search per
    /// worker, each with `workers: 1` (single-threaded kernels throughout).
    public func search(_ sources: [[Int32]], contexts: [SentenceContext]? = nil, empty: [Bool]? = nil, workers: Int? = nil) -> [[Hypothesis]] {
        let wanted = sources.indices.filter { !(empty?[$0] ?? false) }
        var results = [[Hypothesis]](repeating: [], count: sources.count)
        let lengths = wanted.map { sources[$0].count }
        let batches = Batcher.batches(Batcher.byLength(lengths), length: { lengths[$0] }, limit: batchLimit(sentences: wanted.count, workers: workers)).map { $0.map { wanted[$0] } }
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            forEachBatch(batches, workers: workers, cost: { $0.count * sources[$0.last!].count },
                         memory: { self.searchMemory(sentences: $0.count, longest: sources[$0.last!].count) }) { indices, workspace in
                let batch = indices.map { sources[$0] }, batchContexts = indices.map { contexts?[$0] ?? SentenceContext(line: $0) }
                let found: [[Hypothesis]]
                if let ensemble {
                    found = beamSearch(model: ensemble, sources: batch, contexts: batchContexts, options: options.search, workspace: workspace)
                } else if let shortlist = options.shortlist {
                    let shortlisted = ShortlistedModel(model: model, shortlist: shortlist.table, size: shortlist.size, moments: outputMoments)
                    found = beamSearch(model: shortlisted, sources: batch, contexts: batchContexts, options: options.search, workspace: workspace)
                } else {
                    found = beamSearch(model: model, sources: batch, contexts: batchContexts, options: options.search, workspace: workspace)
                }
                for (i, index) in indices.enumerated() { out[index] = found[i] }
            }
        }
        return results
    }

    /// The batch limit for `sentences` sentences on `workers` workers: the options' batch size,
    /// evened so that the batches number a multiple of the workers — 100 sentences in batches of
    /// 32 on 2 workers are 4 batches of 25, not 32, 32, 32 and 4 (one worker searching two full
    /// batches while the other searches 4 sentences); too few for a full batch each are spread
    /// over the workers. Batch independence lets this change no output.
    func batchLimit(sentences: Int, workers: Int?) -> BatchLimit {
        let workers = max(1, workers ?? Threads.count)
        guard options.maxTokens == nil, workers > 1, sentences > 0 else { return options.batchLimit }
        let needed = (sentences + options.batchSize - 1) / options.batchSize
        let evened = (needed + workers - 1) / workers * workers
        return .sentences((sentences + evened - 1) / evened)
    }

    /// The search state of `sentences` sources of `longest` tokens, as it typically peaks: per
    /// decoder layer, keys and values of every hypothesis at as many positions as the source has
    /// (outputs run about as long as their sources), and of the source.
    func searchMemory(sentences: Int, longest: Int) -> Int {
        let perPosition = (ensemble?.members ?? [model]).reduce(0) { $0 + 2 * $1.config.decoderLayers * $1.config.dModel * 4 }
        return sentences * (max(options.search.beam, 1) + 1) * (longest + 1) * perPosition
    }

    private func translate(ids sources: [[Int32]], contexts: [SentenceContext], empty: [Bool]) -> [Translation] {
        zip(sources, search(sources, contexts: contexts, empty: empty)).map { source, list in
            Translation(candidates: list.map { hypothesis in
                var candidate = Translation.Candidate(text: tokenizer.decode(hypothesis.tokens), tokens: hypothesis.tokens, score: hypothesis.score,
                                                      logProbability: hypothesis.logProbability)
                if let format = options.alignments, let attention = hypothesis.attention {
                    candidate.alignment = WordAlignment.format(format, attention: attention, source: source, target: hypothesis.tokens,
                                                               sourceWords: { self.tokenizer.wordIndices($0, side: .source) },
                                                               targetWords: { self.tokenizer.wordIndices($0, side: .target) })
                }
                return candidate
            })
        }
    }

    /// A line with nothing to translate — empty, or only spaces, tabs and other white space —
    /// gives an empty line, as fairseq and Marian do.
    public static func isBlank(_ line: String) -> Bool {
        line.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }

    /// A target prefix's ids, cut to leave the search room for one token more.
    private func encodePrefix(_ text: String, lineNumber: Int, encoder: inout any TokenEncoder, warn: (String) -> Void) -> [Int32] {
        if text.isEmpty { return [] }
        let ids = encoder.encode(text)
        if ids.count < lengthLimit { return ids }
        warn("line \(lineNumber): prefix of \(ids.count) tokens, cut to \(lengthLimit - 1)")
        return Array(ids.prefix(lengthLimit - 1))
    }

    private func encode(_ line: String, lineNumber: Int, encoder: inout any TokenEncoder, warn: (String) -> Void) -> [Int32] {
        let ids = encoder.encode(line)
        if ids.count <= lengthLimit { return ids }
        warn("line \(lineNumber): \(ids.count) tokens, truncated to the model's \(lengthLimit)")
        return Array(ids.prefix(lengthLimit))
    }

    // MARK: batches and workers

    /// Runs `body` for every batch on `Threads.count` workers. Each worker takes whole batches from
    /// a shared queue, largest `cost` first (a workspace grows once to its final size, and the small
    /// batches at the end even out the workers), with single-threaded kernels — on the small
    /// per-step products of decoding that beats splitting every product across threads. A batch
    /// starts only while the `memory` of the batches in flight stays within the search-memory
    /// bound (or when none is in flight), so two of the largest batches do not peak together.
    private func forEachBatch(_ batches: [[Int]], workers requested: Int? = nil, cost: ([Int]) -> Int, memory: (([Int]) -> Int)? = nil,
                              _ body: ([Int], DecodingWorkspace) -> Void) {
        guard !batches.isEmpty else { return }
        let queue = batches.sorted { cost($0) > cost($1) }
        let needs = queue.map { memory?($0) ?? 0 }
        let budget = options.searchMemory ?? Int.max
        let next = Atomic<Int>(0)
        let inFlight = Gate()
        let workers = min(requested ?? Threads.count, queue.count)
        let workspaces = idleWorkspaces.withLock { idle in
            (0..<workers).map { _ in idle.popLast() ?? DecodingWorkspace() }
        }
        func work(_ w: Int) {
            while true {
                let taken = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if taken >= queue.count { break }
                inFlight.enter(needs[taken], budget: budget)
                body(queue[taken], workspaces[w])
                workspaces[w].releaseBatchMemory()
                inFlight.leave(needs[taken])
            }
        }
        // With one worker the batch's kernels use every thread instead, unless `workers` asked for one.
        if requested == 1 {
            Threads.serially { work(0) }
        } else {
            Threads.parallelFor(workers, work)
        }
        idleWorkspaces.withLock { $0.append(contentsOf: workspaces) }
    }
}

/// Bytes in flight under a bound: `enter` waits until `amount` fits (or nothing is in flight).
private final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var used = 0

    func enter(_ amount: Int, budget: Int) {
        condition.lock()
        while used > 0 && used + amount > budget { condition.wait() }
        used += amount
        condition.unlock()
    }

    func leave(_ amount: Int) {
        condition.lock()
        used -= amount
        condition.broadcast()
        condition.unlock()
    }
}
