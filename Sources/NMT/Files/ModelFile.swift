// The model file: one safetensors file that holds everything translation needs — the weights
// under fairseq's names, the config, the vocabulary and the tokenizer — in `__metadata__`:
//   format = "nmt-transformer", format_version = "1", config (JSON), vocab (JSON array, index = id),
//   tokenizer (its kind: "subword-nmt"; absent for nmt's own BPE, the default, so those files read
//   as every nmt version wrote them), bpe (the tokenizer's data: its codes file text), step;
//   source_vocab (JSON array) when the source side has a vocabulary of its own (then `vocab` is
//   the target's).
// A quantized file (`nmt quantize`) also says compute_type = "int8": its matrices (QuantizedWeights)
// are I8 [out, in] tensors, each with an F32 [out] `<name>_scale` beside it; the rest stays F32.

import Foundation

public struct LoadedModel {
    public var model: Transformer
    public var tokenizer: any Tokenizer
    public var step: Int
    public var metadata: [String: String]
    /// Weights that are NaN or infinite (a diverged run's checkpoint): its translations are garbage.
    public var nonFiniteWeights: Int

    /// The translation settings the file carries (an imported model's), if any.
    public var translationDefaults: TranslationDefaults? {
        metadata[TranslationDefaults.metadataKey].flatMap { try? JSONDecoder().decode(TranslationDefaults.self, from: Data($0.utf8)) }
    }
}

public enum ModelFile {
    public static let format = "nmt-transformer"
    public static let formatVersion = "1"

    public static func save(_ model: Transformer, tokenizer: any Tokenizer, step: Int, to path: String,
                            extraMetadata: [String: String] = [:]) throws {
        let store = model.parameters
        var metadata = extraMetadata
        metadata["format"] = format
        metadata["format_version"] = formatVersion
        metadata["config"] = String(decoding: try JSONEncoder.sorted.encode(model.config), as: UTF8.self)
        metadata["vocab"] = String(decoding: try JSONEncoder.sorted.encode(tokenizer.vocabulary.tokens), as: UTF8.self)
        if tokenizer.hasSeparateVocabularies {
            metadata["source_vocab"] = String(decoding: try JSONEncoder.sorted.encode(tokenizer.sourceVocabulary.tokens), as: UTF8.self)
        }
        if tokenizer.kind != .nmtBPE { metadata["tokenizer"] = tokenizer.kind.rawValue }
        metadata["bpe"] = tokenizer.data
        metadata["step"] = String(step)
        metadata["nmt_version"] = nmtVersion
        var tensors: [SafeTensors.Tensor] = []
        for entry in store.entries {
            if let q = model.quantized?.matrices[entry.name] {
                tensors.append(SafeTensors.Tensor(name: entry.name, dtype: .i8, shape: entry.shape, bytes: UnsafeRawPointer(q.values)))
                tensors.append(SafeTensors.Tensor(name: QuantizedWeights.scaleName(entry.name), shape: [q.rows], floats: q.scales))
            } else {
                tensors.append(SafeTensors.Tensor(name: entry.name, shape: entry.shape, floats: store.values + entry.offset))
            }
        }
        if model.quantized != nil { metadata["compute_type"] = ComputeType.int8.rawValue }
        try SafeTensors.write(path: path, tensors: tensors, metadata: metadata)
    }

    /// The metadata keys `save` writes itself.
    public static let writtenKeys: Set<String> = ["format", "format_version", "config", "vocab", "source_vocab", "tokenizer", "bpe", "step",
                                                   "nmt_version", "compute_type"]

    /// A file's metadata other than what `save` writes (averaged_from, …): what a copy keeps.
    public static func userMetadata(_ metadata: [String: String]) -> [String: String] {
        metadata.filter { !writtenKeys.contains($0.key) }
    }

    /// The compute type a file's weights are stored in (files without `compute_type` are float32).
    public static func storedComputeType(_ header: SafeTensorsHeader, path: String) throws -> ComputeType {
        guard let text = header.metadata["compute_type"] else { return .float32 }
        guard let type = ComputeType(rawValue: text) else {
            throw NMTError("\(path): not a valid model file: metadata compute_type is '\(text)', expected float32 or int8")
        }
        return type
    }

    /// Reads and validates the header and metadata of an open file without loading weights.
    public static func readDescription(_ file: SafeTensorsFile) throws -> (config: TransformerConfig, tokenizer: any Tokenizer, step: Int,
                                                                           computeType: ComputeType) {
        let path = file.path, header = file.header
        func fail(_ what: String) -> NMTError { NMTError("\(path): not a valid model file: \(what)") }
        let m = header.metadata
        guard m["format"] == format else { throw fail("metadata format is '\(m["format"] ?? "missing")', expected '\(format)'") }
        guard m["format_version"] == formatVersion else { throw fail("unsupported format_version '\(m["format_version"] ?? "missing")'") }
        guard let configText = m["config"], let config = try? JSONDecoder().decode(TransformerConfig.self, from: Data(configText.utf8)) else {
            throw fail("metadata 'config' is missing or not a valid config")
        }
        guard let stepText = m["step"], let step = Int(stepText), step >= 0 else { throw fail("metadata 'step' is missing or not a number ≥ 0") }
        guard let kind = m["tokenizer"].map(TokenizerKind.init(rawValue:)) ?? .nmtBPE else {
            throw fail("metadata 'tokenizer' is '\(m["tokenizer"]!)', expected one of \(TokenizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let bpe = m["bpe"] else { throw fail("metadata 'bpe' is missing") }
        let tokenizer: any Tokenizer
        do { tokenizer = try kind.tokenizer(data: bpe, source: "\(path) (bpe metadata)") } catch let e as NMTError { throw fail(e.message) }
        guard let vocabText = m["vocab"], let vocab = try? JSONDecoder().decode([String].self, from: Data(vocabText.utf8)) else {
            throw fail("metadata 'vocab' is missing or not a JSON array")
        }
        guard vocab == tokenizer.vocabulary.tokens else { throw fail("metadata 'vocab' does not match the vocabulary of its BPE codes") }
        guard config.vocabularySize == vocab.count else { throw fail("config vocabularySize \(config.vocabularySize) but the vocabulary has \(vocab.count) tokens") }
        if tokenizer.hasSeparateVocabularies {
            guard let text = m["source_vocab"], let sourceVocab = try? JSONDecoder().decode([String].self, from: Data(text.utf8)),
                  sourceVocab == tokenizer.sourceVocabulary.tokens else {
                throw fail("metadata 'source_vocab' is missing or does not match the tokenizer's source vocabulary")
            }
            guard !config.sharedEmbeddings, config.sourceVocabulary == sourceVocab.count else {
                throw fail("config sourceVocabularySize \(config.sourceVocabularySize.map(String.init) ?? "(none)") but the source vocabulary has \(sourceVocab.count) tokens")
            }
        } else {
            guard config.sourceVocabularySize == nil else { throw fail("config sourceVocabularySize but the tokenizer has one vocabulary") }
        }
        do { try config.validate() } catch let e as NMTError { throw fail(e.message) }
        // Bound the layout by what the header holds before building it (a hostile config could ask for billions of layers).
        guard config.encoderLayers + config.decoderLayers <= header.tensors.count else {
            throw fail("config has \(config.encoderLayers)+\(config.decoderLayers) layers but the file holds only \(header.tensors.count) tensors")
        }
        let computeType = try storedComputeType(header, path: path)
        var expected: [(name: String, shape: [Int], dtype: SafeTensorsDType)] = []
        for (name, shape) in TransformerWeights.layout(config) {
            if computeType == .int8 && shape.count == 2 {
                expected.append((name, shape, .i8))
                expected.append((QuantizedWeights.scaleName(name), [shape[0]], .f32))
            } else {
                expected.append((name, shape, .f32))
            }
        }
        for (name, shape, dtype) in expected {
            guard let info = header.tensors[name] else { throw fail("tensor '\(name)' is missing") }
            guard info.shape == shape else { throw fail("tensor '\(name)' has shape \(info.shape), the config needs \(shape)") }
            guard info.dtype == dtype else {
                throw fail("tensor '\(name)' has dtype \(info.dtype.rawValue); \(computeType.rawValue) model files store it as \(dtype.rawValue)")
            }
        }
        if header.tensors.count != expected.count {
            let extra = Set(header.tensors.keys).subtracting(expected.map(\.name)).sorted()
            throw fail("unexpected tensor '\(extra.first ?? "?")'")
        }
        guard config.maxPositions <= 1 << 20 else { throw fail("maxPositions \(config.maxPositions) is unreasonably large") }
        return (config, tokenizer, step, computeType)
    }

    /// Loads a model file: everything is read from one open file, straight into the parameter store
    /// (and int8 matrices into QuantizedWeights). `computeType` is what the model runs in: a float32
    /// file is quantized on load for int8, an int8 file dequantized for float32; nil follows the file.
    /// `forDecoding`: the model only decodes and scores (never trains or is saved), so a float32
    /// model's matrices are packed for decoding and their memory in the store given back.
    public static func load(_ path: String, computeType: ComputeType? = .float32, forDecoding: Bool = false) throws -> LoadedModel {
        try load(SafeTensorsFile(path: path), computeType: computeType, forDecoding: forDecoding)
    }

    /// Loads a model from a file already open (it may have been replaced on disk since).
    public static func load(_ file: SafeTensorsFile, computeType: ComputeType? = .float32, forDecoding: Bool = false) throws -> LoadedModel {
        let path = file.path
        let (config, tokenizer, step, stored) = try readDescription(file)
        let store = ParameterStore(entries: TransformerWeights.layout(config))
        var quantized: QuantizedWeights?
        var nonFinite = 0
        func countNonFinite() { for i in 0..<store.count where !store.values[i].isFinite { nonFinite += 1 } }
        if stored == .int8 {
            let q = QuantizedWeights(config: config, forDecoding: computeType != .float32)
            for entry in store.entries {
                if let matrix = q.matrices[entry.name] {
                    try file.read(entry.name, into: UnsafeMutableRawPointer(matrix.values))
                    let scaleName = QuantizedWeights.scaleName(entry.name)
                    try file.readFloats(scaleName, into: matrix.scales)
                    for r in 0..<matrix.rows where !(matrix.scales[r].isFinite && matrix.scales[r] > 0) {
                        throw NMTError("\(path): not a valid model file: tensor '\(scaleName)' has scale \(matrix.scales[r]) in row \(r); scales must be positive")
                    }
                } else {
                    try file.readFloats(entry.name, into: store.values + entry.offset)
                }
            }
            countNonFinite()
            if computeType == .float32 { q.dequantize(into: store) } else { q.pack(); quantized = q }
        } else {
            for entry in store.entries { try file.readFloats(entry.name, into: store.values + entry.offset) }
            countNonFinite()
            if computeType == .int8 {
                let q = QuantizedWeights(quantizing: store, config: config, forDecoding: true)
                // The Float32 matrices are not read again: give their memory back.
                for entry in store.entries where q.matrices[entry.name] != nil { PageMemory.discard(store.values + entry.offset, entry.count) }
                quantized = q
            }
        }
        var packed: PackedWeights?
        if forDecoding && quantized == nil {
            let p = PackedWeights(packing: store, config: config)
            // As for int8: the Float32 matrices are not read again.
            for entry in store.entries where p.matrices[entry.name] != nil { PageMemory.discard(store.values + entry.offset, entry.count) }
            packed = p
        }
        let model = try Transformer(config: config, quantized: quantized, packed: packed, parameters: store)
        return LoadedModel(model: model, tokenizer: tokenizer, step: step, metadata: file.header.metadata, nonFiniteWeights: nonFinite)
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
