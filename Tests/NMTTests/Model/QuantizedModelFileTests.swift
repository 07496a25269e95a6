import Foundation
import Testing
@testable import NMT

/// A small saved float32 model and its int8 file (what `nmt quantize` writes).
func savedQuantizedModel(_ dir: TemporaryDirectory) throws -> (float32: String, int8: String) {
    let (path, _) = try savedTinyModel(dir)
    let loaded = try ModelFile.load(path, computeType: .int8)
    let int8 = dir.path("model.int8.safetensors")
    try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: loaded.step, to: int8)
    return (path, int8)
}

@Suite struct QuantizedModelFileTests {
    @Test func anInt8FileStoresI8MatricesWithF32ScalesAndSaysItsComputeType() throws {
        let dir = try TemporaryDirectory()
        let (_, int8) = try savedQuantizedModel(dir)
        let header = try SafeTensorsFile(path: int8).header
        #expect(header.metadata["compute_type"] == "int8")
        #expect(header.tensors["encoder.layers.0.fc1.weight"]?.dtype == .i8)
        #expect(header.tensors["encoder.layers.0.fc1.weight_scale"]?.dtype == .f32)
        #expect(header.tensors["encoder.layers.0.fc1.weight_scale"]?.shape == [32])
        #expect(header.tensors["embed_tokens.weight"]?.dtype == .i8)
        #expect(header.tensors["encoder.layers.0.fc1.bias"]?.dtype == .f32)
        #expect(header.tensors["decoder.layer_norm.weight"]?.dtype == .f32)
    }

    @Test func quantizingRoundTripsThroughTheFile() throws {
        let dir = try TemporaryDirectory()
        let (float32, int8) = try savedQuantizedModel(dir)
        let onLoad = try ModelFile.load(float32, computeType: .int8).model
        let fromFile = try ModelFile.load(int8, computeType: nil).model
        #expect(fromFile.computeType == .int8)
        for (name, q) in onLoad.quantized!.matrices {
            let r = fromFile.quantized!.matrices[name]!
            #expect(memcmp(q.values, r.values, q.rows * q.columns) == 0 && memcmp(q.scales, r.scales, q.rows * 4) == 0, "\(name)")
        }
        // Run in float32, an int8 file is dequantized: W = q / scale.
        let dequantized = try ModelFile.load(int8, computeType: .float32).model
        #expect(dequantized.computeType == .float32)
        let q = onLoad.quantized!.matrices["decoder.layers.0.fc2.weight"]!, w = dequantized.parameters.value("decoder.layers.0.fc2.weight")
        #expect((0..<(q.rows * q.columns)).allSatisfy { w.pointer[$0] == Float(q.values[$0]) / q.scales[$0 / q.columns] })
    }

    @Test func anInt8FileIsAboutAQuarterOfItsFloat32File() throws {
        let dir = try TemporaryDirectory()
        let (float32, int8) = try savedQuantizedModel(dir)
        let size = { (p: String) in try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int }
        // Metadata (vocabulary, codes) is a larger share of this tiny model than of a real one.
        #expect(Double(try size(int8) - 20_000) < 0.4 * Double(try size(float32) - 20_000))
    }

    func expectLoadError(_ path: String, contains fragment: String) {
        do {
            _ = try ModelFile.load(path, computeType: nil)
            Issue.record("loading \(path) should fail with '\(fragment)'")
        } catch let e as NMTError {
            #expect(e.message.hasPrefix(path), "\(e.message)")
            #expect(e.message.contains(fragment), "\(e.message)")
            #expect(!e.message.contains("\n"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func anInt8FileWithoutAScaleTensorIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (_, int8) = try savedQuantizedModel(dir)
        try rewriteHeader(int8) { h in h["decoder.layers.0.fc1.weight_scale"] = nil }
        expectLoadError(int8, contains: "tensor 'decoder.layers.0.fc1.weight_scale' is missing")
    }

    @Test func anInt8FileWithAScaleOfTheWrongShapeIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (_, int8) = try savedQuantizedModel(dir)
        try rewriteHeader(int8) { h in
            var t = h["encoder.layers.0.fc2.weight_scale"] as! [String: Any]
            t["shape"] = [4, 4]
            h["encoder.layers.0.fc2.weight_scale"] = t
        }
        expectLoadError(int8, contains: "tensor 'encoder.layers.0.fc2.weight_scale' has shape [4, 4], the config needs [16]")
    }

    @Test func anInt8FileWithFloatMatricesOrAnUnknownComputeTypeIsRejected() throws {
        let dir = try TemporaryDirectory()
        let (float32, _) = try savedQuantizedModel(dir)
        try rewriteHeader(float32) { h in
            var m = h["__metadata__"] as! [String: Any]
            m["compute_type"] = "int8"
            h["__metadata__"] = m
        }
        expectLoadError(float32, contains: "tensor 'embed_tokens.weight' has dtype F32; int8 model files store it as I8")
        let (other, _) = try savedTinyModel(dir, name: "other.safetensors")
        try rewriteHeader(other) { h in
            var m = h["__metadata__"] as! [String: Any]
            m["compute_type"] = "int4"
            h["__metadata__"] = m
        }
        expectLoadError(other, contains: "metadata compute_type is 'int4'")
    }

    @Test func averagingInt8FilesIsRefused() throws {
        let dir = try TemporaryDirectory()
        let (float32, int8) = try savedQuantizedModel(dir)
        #expect {
            try CheckpointAveraging.average([float32, int8], to: dir.path("average.safetensors"))
        } throws: { ($0 as? NMTError)?.message.contains("an int8 model cannot be averaged") == true }
        #expect(!FileManager.default.fileExists(atPath: dir.path("average.safetensors")))
    }
}
