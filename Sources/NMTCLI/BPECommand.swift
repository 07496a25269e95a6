// nmt bpe learn | apply | decode: byte-pair encoding in nmt's lossless raw-text format (default)
// or subword-nmt's format (pre-tokenized text, "@@ " joins).

import ArgumentParser
import Foundation
import NMT

enum BPEFormat: String, ExpressibleByArgument, CaseIterable {
    case nmt
    case subwordNMT = "subword-nmt"
}

struct BPECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpe",
        abstract: "Learn, apply and undo byte-pair encoding.",
        subcommands: [Learn.self, Apply.self, Decode.self]
    )

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn BPE merges from one or more text files (jointly).",
            discussion: "Example: nmt bpe learn --merges 8000 -o codes train.en train.es"
        )
        @Option(help: "Number of merges.") var merges = 8000
        @Option(help: "Word representation: nmt (raw text, lossless) or subword-nmt (tokenized text).") var format = BPEFormat.nmt
        @Option(help: "Stop when the best pair is rarer than this.") var minFrequency = 2
        @Option(help: "nmt format: share of character occurrences covered by the character inventory; rarer characters are spelled in byte tokens.")
        var characterCoverage = 0.9999
        @Option(name: .shortAndLong, help: "Codes file to write.") var output: String
        @Argument(help: "Training text files.") var files: [String]

        func run() throws {
            try reportingErrors {
                try checkOption("--merges", merges, .closed(1, 1e7))
                try checkOption("--min-frequency", minFrequency, .closed(1, 1e18))
                try checkOption("--character-coverage", characterCoverage, .above(0, upTo: 1))
                let text: String
                switch format {
                case .nmt:
                    text = try BPETokenizer.learn(files: files, merges: merges, minFrequency: minFrequency,
                                                  characterCoverage: characterCoverage).codesText
                case .subwordNMT:
                    text = SubwordNMT.codesText(try SubwordNMT.learn(files: files, merges: merges, minFrequency: minFrequency))
                }
                try writeFileAtomically(output, contents: text)
            }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Segment text with learned codes (the format is read from the codes file).",
            discussion: "Example: nmt bpe apply --codes codes < train.en > train.bpe.en"
        )
        @Option(help: "Codes file from `nmt bpe learn` (either format).") var codes: String
        @Option(help: "BPE-dropout probability (Provilkov et al. 2020); 0 is plain BPE.") var dropout = 0.0
        @Option(help: "Seed for BPE-dropout.") var seed: UInt64 = 1
        @Option(help: "Threads (default: all cores).") var threads: Int?
        @Option(name: .shortAndLong, help: "Write here (atomically) instead of standard output.") var output: String?
        @Argument(help: "Input file (default: standard input).") var input: String?

        func run() throws {
            try reportingErrors {
                try checkOption("--dropout", dropout, .halfOpen(0, 1))
                try useThreads(threads)
                let reader = try input.map { try LineReader(path: $0) } ?? LineReader.standardInput()
                let segmenter = Segmenter(tokenizer: try loadTokenizer(path: codes), dropout: dropout, seed: seed)
                try withOutput(output) { sink in
                    try segmenter.run(reader: reader) { text in
                        try sink.write(text)
                        try sink.drain()
                    }
                }
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo BPE: turn `apply` output back into text.",
            discussion: "Example: nmt bpe decode --codes codes < out.bpe.es > out.es"
        )
        @Option(help: "Codes file the text was segmented with.") var codes: String
        @Option(name: .shortAndLong, help: "Write here (atomically) instead of standard output.") var output: String?
        @Argument(help: "Input file (default: standard input).") var input: String?

        func run() throws {
            try reportingErrors {
                let reader = try input.map { try LineReader(path: $0) } ?? LineReader.standardInput()
                let tokenizer = try loadTokenizer(path: codes)
                try withOutput(output) { sink in
                    while let line = try reader.nextString() {
                        switch tokenizer.decode(segmented: line) {
                        case .success(let text): try sink.write(text + "\n")
                        case .failure(let error): throw NMTError("\(reader.name):\(reader.lineNumber): \(error.message)")
                        }
                    }
                }
            }
        }
    }
}
