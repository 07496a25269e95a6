import Foundation
import Testing
@testable import NMT

/// A small saved model for file tests (vocabulary from the English test tokenizer).
func savedTinyModel(_ dir: TemporaryDirectory, name: String = "model.safetensors", seed: UInt64 = 1) throws -> (String, Transformer) {
    let config = TransformerConfig(vocabularySize: englishTokenizer.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                   encoderLayers: 1, decoderLayers: 1, maxPositions: 64)
    let model = try Transformer(config: config)
    model.initialize(seed: seed)
    let path = dir.path(name)
    try ModelFile.save(model, tokenizer: englishTokenizer, step: 42, to: path)
    return (path, model)
}

/// Rewrites the JSON header of a saved file (keeping the data), for corruption tests.
func rewriteHeader(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as! [String: Any]
    edit(&header)
    let json = try JSONSerialization.data(withJSONObject: header)
    var out = Data()
    var newLength = UInt64(json.count)
    out.append(Data(bytes: &newLength, count: 8))
    out.append(json)
    out.append(data.subdata(in: (8 + length)..<data.count))
    try out.write(to: URL(fileURLWithPath: path))
}

@Suite struct ModelFileTests {
    @Test func saveThenLoadIsBitIdentical() throws {
        let dir = try TemporaryDirectory()
        let (path, model) = try savedTinyModel(dir)
        let loaded = try ModelFile.load(path)
        #expect(loaded.model.config == model.config)
        #expect(loaded.step == 42)
        #expect(loaded.tokenizer.vocabulary == englishTokenizer.vocabulary)
        #expect(memcmp(loaded.model.parameters.values, model.parameters.values, model.parameters.count * 4) == 0)
        #expect(loaded.metadata["format"] == "nmt-transformer")
    }

    @Test func headerUsesFairseqNamesAndPyTorchShapes() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        let header = try SafeTensorsFile(path: path).header
        #expect(header.tensors["embed_tokens.weight"]?.shape == [englishTokenizer.vocabulary.count, 16])
        #expect(header.tensors["encoder.layers.0.fc1.weight"]?.shape == [32, 16])
        #expect(header.tensors["decoder.layers.0.encoder_attn.k_proj.bias"]?.shape == [16])
        #expect(header.tensors["decoder.layer_norm.weight"] != nil)
        #expect(header.dataStart % 8 == 0)
    }

    func expectLoadError(_ path: String, contains fragment: String) {
        do {
            _ = try ModelFile.load(path)
            Issue.record("loading \(path) should fail with '\(fragment)'")
        } catch let e as NMTError {
            #expect(e.message.hasPrefix(path) || e.message.hasPrefix("cannot open \(path)"), "\(e.message)")
            #expect(e.message.contains(fragment), "\(e.message)")
            #expect(!e.message.contains("\n"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func truncatedFileIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        expectLoadError(path, contains: "outside the")
        try data.prefix(5).write(to: URL(fileURLWithPath: path))
        expectLoadError(path, contains: "shorter than the 8-byte header length")
    }

    @Test func hugeHeaderLengthIsRejectedWithoutAllocating() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bad", bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + Array("{}".utf8))
        expectLoadError(path, contains: "does not fit")
    }

    @Test func invalidJSONIsRejected() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bad", bytes: [5, 0, 0, 0, 0, 0, 0, 0] + Array("{oops".utf8))
        expectLoadError(path, contains: "not a JSON object")
    }

    @Test func unknownDtypeIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        try rewriteHeader(path) { h in
            var t = h["encoder.layers.0.fc1.bias"] as! [String: Any]
            t["dtype"] = "Q7"
            h["encoder.layers.0.fc1.bias"] = t
        }
        expectLoadError(path, contains: "unknown dtype 'Q7'")
    }

    @Test func overlappingOrOutOfRangeOffsetsAreRejected() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        try rewriteHeader(path) { h in
            var t = h["encoder.layers.0.fc1.bias"] as! [String: Any]
            t["data_offsets"] = [0, 128]  // overlaps embed_tokens at offset 0
            h["encoder.layers.0.fc1.bias"] = t
        }
        expectLoadError(path, contains: "overlap")
        let (other, _) = try savedTinyModel(dir, name: "other.safetensors")
        try rewriteHeader(other) { h in
            var t = h["encoder.layers.0.fc1.bias"] as! [String: Any]
            t["data_offsets"] = [1 << 40, (1 << 40) + 128]
            h["encoder.layers.0.fc1.bias"] = t
        }
        expectLoadError(other, contains: "outside the")
    }

    @Test func missingTensorOrWrongShapeIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        try rewriteHeader(path) { h in h["decoder.layers.0.fc2.weight"] = nil }
        expectLoadError(path, contains: "tensor 'decoder.layers.0.fc2.weight' is missing")
        let (other, _) = try savedTinyModel(dir, name: "other.safetensors")
        try rewriteHeader(other) { h in
            var t = h["encoder.layers.0.fc1.bias"] as! [String: Any]
            t["shape"] = [8, 4]
            h["encoder.layers.0.fc1.bias"] = t
        }
        expectLoadError(other, contains: "tensor 'encoder.layers.0.fc1.bias' has shape [8, 4], the config needs [32]")
    }

    @Test func badMetadataIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (path, _) = try savedTinyModel(dir)
        try rewriteHeader(path) { h in
            var m = h["__metadata__"] as! [String: Any]
            m["config"] = "{\"dModel\": 16}"
            h["__metadata__"] = m
        }
        expectLoadError(path, contains: "metadata 'config'")
        let (hostile, _) = try savedTinyModel(dir, name: "hostile.safetensors")
        try rewriteHeader(hostile) { h in
            var m = h["__metadata__"] as! [String: Any]
            var config = try! JSONSerialization.jsonObject(with: Data((m["config"] as! String).utf8)) as! [String: Any]
            config["encoderLayers"] = 1_000_000_000
            m["config"] = String(decoding: try! JSONSerialization.data(withJSONObject: config), as: UTF8.self)
            h["__metadata__"] = m
        }
        expectLoadError(hostile, contains: "layers but the file holds only")
    }

    @Test func missingFileIsAnError() {
        expectLoadError("/nonexistent/model.safetensors", contains: "No such file")
    }
}
