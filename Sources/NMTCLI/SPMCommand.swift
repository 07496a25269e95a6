// nmt spm encode | decode: SentencePiece models, as sentencepiece's spm_encode and spm_decode.

import ArgumentParser
import Foundation
import NMT

struct SPMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spm",
        abstract: "Segment text with a SentencePiece model, or undo it (byte-identical to sentencepiece).",
        subcommands: [Encode.self, Decode.self]
    )

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each line's pieces (or ids) separated by spaces, as spm_encode does.",
            discussion: "Example: nmt spm encode --model source.spm < test.en > test.pieces.en"
        )
        @Option(help: "SentencePiece model (.spm or .model).") var model: String
        @Flag(help: "Print the model's ids instead of pieces.") var ids = false
        @Option(name: .shortAndLong, help: "Write here (atomically) instead of standard output.") var output: String?
        @Argument(help: "Input file (default: standard input).") var input: String?

        func run() throws {
            try reportingErrors {
                let sp = try SentencePiece(path: model)
                let reader = try input.map { try LineReader(path: $0) } ?? LineReader.standardInput()
                try withOutput(output) { sink in
                    while let line = try reader.nextString() {
                        let encoded = sp.encode(line)
                        try sink.write((ids ? encoded.map { String($0.id) } : encoded.map(\.piece)).joined(separator: " ") + "\n")
                    }
                }
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn lines of pieces (or ids) separated by spaces back into text, as spm_decode does.",
            discussion: "Example: nmt spm decode --model target.spm < out.pieces.es > out.es"
        )
        @Option(help: "SentencePiece model (.spm or .model).") var model: String
        @Flag(help: "Read ids instead of pieces.") var ids = false
        @Option(name: .shortAndLong, help: "Write here (atomically) instead of standard output.") var output: String?
        @Argument(help: "Input file (default: standard input).") var input: String?

        func run() throws {
            try reportingErrors {
                let sp = try SentencePiece(path: model)
                let reader = try input.map { try LineReader(path: $0) } ?? LineReader.standardInput()
                try withOutput(output) { sink in
                    while let line = try reader.nextString() {
                        let fields = line.split(separator: " ").map(String.init)
                        if ids {
                            let values = try fields.map { field -> Int in
                                guard let id = Int(field), id >= 0, id < sp.model.pieces.count else {
                                    throw NMTError("\(reader.name):\(reader.lineNumber): '\(field)' is not an id of \(model) (0–\(sp.model.pieces.count - 1))")
                                }
                                return id
                            }
                            try sink.write(sp.decode(ids: values) + "\n")
                        } else {
                            try sink.write(sp.decode(pieces: fields) + "\n")
                        }
                    }
                }
            }
        }
    }
}
