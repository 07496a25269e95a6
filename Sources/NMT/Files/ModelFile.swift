// The model file: one safetensors file that holds everything translation needs — the weights
// under fairseq's names, the config, the vocabulary and the BPE codes — in `__metadata__`:
//   format = "nmt-transformer", format_version = "1", config (JSON), vocab (JSON array, index = id),
//   bpe (the codes file text), step.

import Foundation

public struct LoadedModel {
    public var model: Transformer
    public var tokenizer: BPETokenizer
    public var step: Int
    public var metadata: [String: String]
}

public enum ModelFile {
    public static let format = "nmt-transformer"
    public static let formatVersion = "1"

    public static func save(_ model: Transformer, tokenizer: BPETokenizer, step: Int, to path: String,
                            extraMetadata: [String: String] = [:]) throws {
        let store = model.parameters
        var metadata = extraMetadata
        metadata["format"] = format
        metadata["format_version"] = formatVersion
        metadata["config"] = String(decoding: try JSONEncoder.sorted.encode(model.config), as: UTF8.self)
        metadata["vocab"] = String(decoding: try JSONEncoder.sorted.encode(tokenizer.vocabulary.tokens), as: UTF8.self)
        metadata["bpe"] = tokenizer.codesText
        metadata["step"] = String(step)
        metadata["nmt_version"] = nmtVersion
        try SafeTensors.write(path: path, tensors: store.entries.map { ($0.name, $0.shape, UnsafePointer(store.values + $0.offset)) },
                              metadata: metadata)
    }

    /// Reads and validates the header and metadata of an open file without loading weights.
    public static func readDescription(_ file: SafeTensorsFile) throws -> (config: TransformerConfig, tokenizer: BPETokenizer, step: Int) {
        let path = file.path, header = file.header
        func fail(_ what: String) -> NMTError { NMTError("\(path): not a valid model file: \(what)") }
        let m = header.metadata
        guard m["format"] == format else { throw fail("metadata format is '\(m["format"] ?? "missing")', expected '\(format)'") }
        guard m["format_version"] == formatVersion else { throw fail("unsupported format_version '\(m["format_version"] ?? "missing")'") }
        guard let configText = m["config"], let config = try? JSONDecoder().decode(TransformerConfig.self, from: Data(configText.utf8)) else {
            throw fail("metadata 'config' is missing or not a valid config")
        }
        guard let stepText = m["step"], let step = Int(stepText) else { throw fail("metadata 'step' is missing or not a number") }
        guard let bpe = m["bpe"] else { throw fail("metadata 'bpe' is missing") }
        let tokenizer: BPETokenizer
        do { tokenizer = try BPETokenizer(codesText: bpe, source: "\(path) (bpe metadata)") } catch let e as NMTError { throw fail(e.message) }
        guard let vocabText = m["vocab"], let vocab = try? JSONDecoder().decode([String].self, from: Data(vocabText.utf8)) else {
            throw fail("metadata 'vocab' is missing or not a JSON array")
        }
        guard vocab == tokenizer.vocabulary.tokens else { throw fail("metadata 'vocab' does not match the vocabulary of its BPE codes") }
        guard config.vocabularySize == vocab.count else { throw fail("config vocabularySize \(config.vocabularySize) but the vocabulary has \(vocab.count) tokens") }
        do { try config.validate() } catch let e as NMTError { throw fail(e.message) }
        // Bound the layout by what the header holds before building it (a hostile config could ask for billions of layers).
        guard config.encoderLayers + config.decoderLayers <= header.tensors.count else {
            throw fail("config has \(config.encoderLayers)+\(config.decoderLayers) layers but the file holds only \(header.tensors.count) tensors")
        }
        let layout = TransformerWeights.layout(config)
        for (name, shape) in layout {
            guard let info = header.tensors[name] else { throw fail("tensor '\(name)' is missing") }
            guard info.shape == shape else { throw fail("tensor '\(name)' has shape \(info.shape), the config needs \(shape)") }
            guard info.dtype == .f32 else { throw fail("tensor '\(name)' has dtype \(info.dtype.rawValue); model weights are F32") }
        }
        if header.tensors.count != layout.count {
            let extra = Set(header.tensors.keys).subtracting(layout.map(\.name)).sorted()
            throw fail("unexpected tensor '\(extra.first ?? "?")'")
        }
        guard config.maxPositions <= 1 << 20 else { throw fail("maxPositions \(config.maxPositions) is unreasonably large") }
        return (config, tokenizer, step)
    }

    /// Loads a model file: everything is read from one open file, straight into the parameter store.
    public static func load(_ path: String) throws -> LoadedModel {
        let file = try SafeTensorsFile(path: path)
        let (config, tokenizer, step) = try readDescription(file)
        let model = try Transformer(config: config)
        for entry in model.parameters.entries {
            try file.readFloats(entry.name, into: model.parameters.values + entry.offset)
        }
        return LoadedModel(model: model, tokenizer: tokenizer, step: step, metadata: file.header.metadata)
    }
}

extension JSONEncoder {
    /// Keys sorted, so equal values always serialise to equal text.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
