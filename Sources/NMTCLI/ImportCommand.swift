// nmt import marian: a Marian model (OPUS-MT's, or what Marian training writes) as an nmt model file.

import ArgumentParser
import Foundation
import NMT

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a model trained by another toolkit.",
        subcommands: [Marian.self]
    )

    struct Marian: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "marian",
            abstract: "Import a Marian Transformer: PATH is its decoder.yml or a directory holding one.",
            discussion: "Example: nmt import marian opus-mt-en-es/ -o en-es.safetensors"
        )
        @Argument(help: "decoder.yml, or a directory with one *decoder.yml.") var path: String
        @Option(name: .shortAndLong, help: "Model file to write (atomically).") var output: String
        @Option(name: .customLong("source-spm"), help: "SentencePiece model segmenting the source, with .yml vocabularies (default: source.spm beside decoder.yml).")
        var sourceSPM: String?
        @Option(name: .customLong("target-spm"), help: "SentencePiece model of the target, with .yml vocabularies (default: target.spm beside decoder.yml).")
        var targetSPM: String?

        func run() throws {
            try reportingErrors {
                let imported = try MarianImport.load(path, sourceSPM: sourceSPM, targetSPM: targetSPM)
                let defaults = String(decoding: try JSONEncoder().encode(imported.defaults), as: UTF8.self)
                try ModelFile.save(imported.model, tokenizer: imported.tokenizer, step: 0, to: output,
                                   extraMetadata: [TranslationDefaults.metadataKey: defaults, "imported_from": imported.sources.joined(separator: ",")])
                let c = imported.model.config
                let vocabulary = c.sharedEmbeddings ? "vocabulary \(c.vocabularySize)" : "vocabularies \(c.sourceVocabulary)/\(c.vocabularySize)"
                let tying = c.sharedEmbeddings && c.tiedOutput ? "tied embeddings" : c.tiedOutput ? "decoder-tied embeddings"
                    : c.sharedEmbeddings ? "source-tied embeddings" : "untied embeddings"
                printError("nmt: imported \(imported.sources[1]): \(c.encoderLayers)+\(c.decoderLayers) layers, dModel \(c.dModel), \(vocabulary), "
                           + "\(tying)\(c.embeddingNorm ? " with LayerNorm" : ""), \(c.preNorm ? "pre" : "post")-norm, \(c.activation.rawValue) → \(output)")
                if c.preNorm { printError("nmt: note: " + MarianImport.preNormNote) }
            }
        }
    }
}
