// nmt shortlist learn: a lexical shortlist for a model from a parallel corpus (Shortlist.swift),
// which `nmt translate --shortlist K` reads.

import ArgumentParser
import Foundation
import NMT

struct ShortlistCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shortlist",
        abstract: "Lexical shortlists: the likeliest target tokens of each source token, for faster decoding.",
        subcommands: [Learn.self]
    )

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "learn",
            abstract: "Learn a model's shortlist from parallel text (IBM Model 1 over the model's tokens).",
            discussion: "Example: nmt shortlist learn -m runs/en-es/average.safetensors --src train.en --tgt train.es\nthen: nmt translate -m runs/en-es/average.safetensors --shortlist 50"
        )

        @Option(name: [.customShort("m"), .long], help: "The model whose tokenizer segments the text.") var model: String
        @Option(help: "Source side of the parallel text.") var src: String
        @Option(help: "Target side, line by line with --src.") var tgt: String
        @Option(name: .shortAndLong, help: "Shortlist file to write (default: the model's name with .shortlist, where translate looks).") var output: String?
        @Option(help: "Target tokens kept per source token (translate --shortlist takes up to this many).") var best = 100
        @Option(help: "Most frequent target tokens, always allowed.") var frequent = 100
        @Option(help: "EM iterations of IBM Model 1.") var iterations = 5
        @Option(help: "Read at most this many line pairs (memory grows with the distinct token pairs they hold: about 0.2 GB for 30k Bible verses).") var maxLines = 100_000

        func run() throws {
            try reportingErrors {
                try checkOption("--best", best, .closed(1, 100_000))
                try checkOption("--frequent", frequent, .closed(0, 1_000_000))
                try checkOption("--iterations", iterations, .closed(1, 100))
                try checkOption("--max-lines", maxLines, .closed(1, 1e9))
                let loaded = try loadModel(model, computeType: nil)
                let (sourceLines, targetLines) = (try ParallelCorpus.countLines(src), try ParallelCorpus.countLines(tgt))
                guard sourceLines == targetLines else {
                    throw NMTError("\(src) has \(sourceLines) lines but \(tgt) has \(targetLines); the files must be aligned line by line")
                }
                let start = Date()
                let tokenizer = loaded.tokenizer
                var sourceEncoder = tokenizer.makeEncoder(for: .source), targetEncoder = tokenizer.makeEncoder(for: .target)
                let sources = try LineReader(path: src), targets = try LineReader(path: tgt)
                var pairs: [(source: [Int32], target: [Int32])] = []
                while pairs.count < maxLines, let s = try sources.nextString(), let t = try targets.nextString() {
                    pairs.append((sourceEncoder.encode(s), targetEncoder.encode(t)))
                }
                let table = Shortlist.learn(pairs: pairs, sourceVocabularySize: tokenizer.sourceVocabulary.count,
                                            targetVocabularySize: tokenizer.vocabulary.count, best: best, frequent: frequent,
                                            iterations: iterations, vocabularyChecksum: Shortlist.checksum(of: tokenizer))
                let path = output ?? Shortlist.defaultPath(forModel: model)
                try writeFileAtomically(path, contents: table.text())
                printError(String(format: "nmt: wrote %@: %d best targets of each of %d source tokens, %d frequent ones, of %d target tokens, from %d line pairs (%.1f s)",
                                  path, best, table.best.count, table.frequent.count, table.targetVocabularySize, pairs.count, Date().timeIntervalSince(start)))
            }
        }
    }
}
