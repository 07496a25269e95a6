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
                let segmenter = try Segmenter(codesPath: codes, dropout: dropout, seed: seed)
                try withOutput(output) { sink in
                    try segmenter.run(reader: reader, sink: sink)
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
                let tokenizer: BPETokenizer?
                if case .nmt(let t) = try loadCodes(codes) { tokenizer = t } else { tokenizer = nil }
                try withOutput(output) { sink in
                    while let line = try reader.nextString() {
                        if let tokenizer {
                            switch tokenizer.ids(pieces: line) {
                            case .success(let ids): try sink.write(tokenizer.decode(ids) + "\n")
                            case .failure(let error): throw NMTError("\(reader.name):\(reader.lineNumber): \(error.message)")
                            }
                        } else {
                            try sink.write(SubwordNMT.decode(line) + "\n")
                        }
                    }
                }
            }
        }
    }
}

/// A codes file of either format, read once (so a pipe works too); the first line tells which.
enum LoadedCodes {
    case nmt(BPETokenizer)
    case subwordNMT(SubwordNMT.Codes)
}

func loadCodes(_ path: String) throws -> LoadedCodes {
    let text = try readTextFile(path: path)
    guard !text.isEmpty else { throw NMTError("\(path):1: empty codes file") }
    if BPETokenizer.isCodesText(text) { return .nmt(try BPETokenizer(codesText: text, source: path)) }
    return .subwordNMT(try SubwordNMT.Codes(codesText: text, source: path))
}

/// Segments a stream in blocks of lines, each block split across threads; output keeps line order.
struct Segmenter {
    let nmt: BPETokenizer?
    let subword: SubwordNMT.Codes?
    let dropout: Double
    let seed: UInt64

    init(codesPath: String, dropout: Double, seed: UInt64) throws {
        switch try loadCodes(codesPath) {
        case .nmt(let tokenizer): (nmt, subword) = (tokenizer, nil)
        case .subwordNMT(let codes): (nmt, subword) = (nil, codes)
        }
        self.dropout = dropout
        self.seed = seed
    }

    func run(reader: LineReader, sink: OutputSink) throws {
        let blockSize = 8192
        let workers = dropout > 0 || subword != nil ? 1 : Threads.count
        var encoders = (0..<workers).map { _ in nmt?.encoder() }
        // Dropout draws from one generator in line order, so its output does not depend on threads.
        var rng = RandomGenerator(seed: seed)
        var block: [String] = []
        block.reserveCapacity(blockSize)
        var done = false
        while !done {
            block.removeAll(keepingCapacity: true)
            while block.count < blockSize, let line = try reader.nextString() {
                block.append(line)
                if !reader.hasBufferedLine { break }  // input paused (a pipe): don't wait to fill the block
            }
            if block.isEmpty { done = true; break }
            if nmt != nil, dropout == 0 {
                // Each worker writes its share of the block's lines as one UTF-8 buffer.
                var parts = [[UInt8]](repeating: [], count: workers)
                parts.withUnsafeMutableBufferPointer { out in
                    encoders.withUnsafeMutableBufferPointer { encs in
                        nonisolated(unsafe) let out = out, encs = encs
                        let lines = block
                        Threads.parallelFor(workers) { w in
                            let start = lines.count * w / workers, end = lines.count * (w + 1) / workers
                            for i in start..<end {
                                encs[w]!.appendPieces(of: lines[i], to: &out[w])
                                out[w].append(0x0A)
                            }
                        }
                    }
                }
                try sink.write(String(decoding: parts.joined(), as: UTF8.self))
                try sink.drain()
                continue
            }
            // BPE-dropout and the subword-nmt format: one thread, lines in order.
            var outputs = [String](repeating: "", count: block.count)
            for (i, line) in block.enumerated() {
                if let nmt {
                    outputs[i] = nmt.pieceText(encoders[0]!.encode(line, dropout: dropout, rng: &rng))
                } else {
                    outputs[i] = subword!.apply(line: line, dropout: dropout, rng: &rng)
                }
            }
            try sink.write(outputs.joined(separator: "\n") + "\n")
            try sink.drain()
        }
    }
}
