// nmt translate: raw text in on stdin, translations out on stdout, one line per line.

import ArgumentParser
import Foundation
import NMT

extension LengthPenaltyStyle: ExpressibleByArgument {}

struct TranslateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Translate lines from standard input with beam search.",
        discussion: "Example: nmt translate -m runs/en-es/average.safetensors < test.en > test.hyp.es"
    )

    @Option(name: [.customShort("m"), .long], help: "Model file.") var model: String
    @Option(help: "Beam size (1: greedy).") var beam = 5
    @Option(help: "Length penalty α.") var lengthPenalty = 1.0
    @Option(help: "average: score/|Y|^α (fairseq, CTranslate2); gnmt: score/((5+|Y|)/6)^α.") var lengthPenaltyStyle = LengthPenaltyStyle.average
    @Option(help: "Print the N best hypotheses per line as 'INDEX ||| hypothesis ||| score'.") var nbest = 1
    @Option(help: "Maximum output length = a·source length + b.") var maxLenA = 1.5
    @Option(help: "Maximum output length = a·source length + b.") var maxLenB = 10.0
    @Option(help: "Sentences per batch.") var batchSize = 32
    @Option(help: "Source tokens per batch (instead of --batch-size).") var maxTokens: Int?
    @Flag(help: "Print the score after a tab.") var scores = false
    @Flag(help: "Greedy search (same as --beam 1).") var greedy = false
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            if let threads { guard threads >= 1 else { throw NMTError("--threads must be at least 1") }; Threads.set(threads) }
            guard beam >= 1, nbest >= 1, batchSize >= 1 else { throw NMTError("--beam, --nbest and --batch-size must be at least 1") }
            let loaded = try ModelFile.load(model)
            var options = SearchOptions()
            options.beam = greedy ? 1 : beam
            guard nbest <= options.beam else { throw NMTError("--nbest \(nbest) is larger than the beam \(options.beam)") }
            options.lengthPenalty = lengthPenalty
            options.lengthPenaltyStyle = lengthPenaltyStyle
            options.nbest = nbest
            options.maxLengthA = maxLenA
            options.maxLengthB = maxLenB
            let translator = StreamingTranslator(model: loaded.model, tokenizer: loaded.tokenizer, options: options,
                                                 batchSize: batchSize, maxTokens: maxTokens, printScores: scores)
            try translator.run(reader: LineReader.standardInput(), sink: OutputSink(fd: 1, name: "<stdout>"))
        }
    }
}

/// Reads windows of lines (full, or whatever arrived before the input paused), translates each
/// window sorted by length, and writes the results in input order, flushing after every window.
struct StreamingTranslator {
    let model: Transformer
    let tokenizer: BPETokenizer
    let options: SearchOptions
    let batchSize: Int
    let maxTokens: Int?
    let printScores: Bool

    func run(reader: LineReader, sink: OutputSink) throws {
        let window = max(batchSize * 8, 256)
        var encoder = tokenizer.encoder()
        let limit = model.config.maxPositions - 2
        var lineNumber = 0
        while true {
            var sources: [[Int32]] = []
            var empty: [Bool] = []
            while sources.count < window {
                let got: Bool = try reader.nextLine { bytes in
                    lineNumber += 1
                    if firstInvalidUTF8Offset(bytes) != nil {
                        printError("nmt: warning: line \(lineNumber): invalid UTF-8 replaced by U+FFFD")
                    }
                    var ids = encoder.encode(String(decoding: bytes, as: UTF8.self))
                    if ids.count > limit {
                        printError("nmt: warning: line \(lineNumber): \(ids.count) tokens, truncated to the model's \(limit)")
                        ids = Array(ids.prefix(limit))
                    }
                    sources.append(ids)
                    empty.append(bytes.isEmpty)
                    return true
                } ?? false
                if !got || !reader.hasBufferedLine { break }
            }
            if sources.isEmpty { break }
            let toTranslate = sources.indices.filter { !empty[$0] }
            var results = [[Hypothesis]](repeating: [], count: sources.count)
            for (i, r) in zip(toTranslate, translate(toTranslate.map { sources[$0] })) { results[i] = r }
            let firstIndex = lineNumber - sources.count
            for (i, list) in results.enumerated() {
                if options.nbest > 1 {
                    if list.isEmpty {
                        try sink.write("\(firstIndex + i) |||  ||| 0\n")
                        continue
                    }
                    for h in list {
                        try sink.write("\(firstIndex + i) ||| \(tokenizer.decode(h.tokens)) ||| \(String(format: "%.6f", h.score))\n")
                    }
                } else if let best = list.first {
                    try sink.write(tokenizer.decode(best.tokens) + (printScores ? "\t" + String(format: "%.6f", best.score) : "") + "\n")
                } else {
                    try sink.write(printScores ? "\t0\n" : "\n")
                }
            }
            try sink.drain()
        }
    }

    /// Length-sorted batches by sentence count or by source tokens.
    func translate(_ sources: [[Int32]]) -> [[Hypothesis]] {
        let order = sources.indices.sorted { sources[$0].count != sources[$1].count ? sources[$0].count < sources[$1].count : $0 < $1 }
        var batches: [[Int]] = []
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count {
                let count = end - start + 1
                if let maxTokens {
                    if count * (sources[order[end]].count + 1) > maxTokens { break }
                } else if count > batchSize { break }
                end += 1
            }
            batches.append(Array(order[start..<end]))
            start = end
        }
        return searchBatches(model: model, sources: sources, batches: batches, options: options)
    }
}
