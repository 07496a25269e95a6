// nmt rescore: forced-decoding log-probabilities of given translations.

import ArgumentParser
import Foundation
import NMT

struct RescoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rescore",
        abstract: "Print log p(target | source) and the target length (</s> counted) for each pair.",
        discussion: "Example: nmt rescore -m model.safetensors --src test.en --tgt test.es > scores.tsv"
    )

    @Option(name: [.customShort("m"), .long], help: "Model file.") var model: String
    @Option(help: "Source sentences.") var src: String
    @Option(help: "Target sentences (one per source line).") var tgt: String
    @Option(help: "Sentences per batch.") var batchSize = 64
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            try useThreads(threads)
            let loaded = try loadModel(model)
            if try ModelFile.storedComputeType(SafeTensorsFile(path: model).header, path: model) == .int8 {
                printError("nmt: \(model) is int8; rescoring with its dequantized float32 weights")
            }
            let sources = try readLines(path: src), targets = try readLines(path: tgt)
            guard sources.count == targets.count else {
                throw NMTError("\(src) has \(sources.count) lines but \(tgt) has \(targets.count)")
            }
            try checkOption("--batch-size", batchSize, .closed(1, 1e6))
            var options = TranslationOptions()
            options.batchSize = batchSize
            let scores = Translator(model: loaded.model, tokenizer: loaded.tokenizer, options: options).rescore(sources: sources, targets: targets)
            let sink = try OutputSink.standardOutput()
            for s in scores { try sink.write(String(format: "%.6f", s.logProbability) + "\t\(s.tokens)\n") }
            try sink.drain()
        }
    }
}
