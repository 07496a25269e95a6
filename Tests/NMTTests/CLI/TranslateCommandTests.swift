import Foundation
import Testing
@testable import NMT

/// A saved small random model (untrained: its outputs are arbitrary but deterministic).
func savedRandomModel(_ dir: TemporaryDirectory, name: String = "model.safetensors", seed: UInt64 = 3) throws -> String {
    let config = TransformerConfig(vocabularySize: englishTokenizer.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                   encoderLayers: 1, decoderLayers: 1, maxPositions: 40)
    let model = try Transformer(config: config)
    model.initialize(seed: seed)
    let path = dir.path(name)
    try ModelFile.save(model, tokenizer: englishTokenizer, step: Int(seed), to: path)
    return path
}

@Suite struct TranslateCommandTests {
    @Test func keepsLineCountAndOrderWithEmptyLongAndInvalidLines() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        var input: [UInt8] = []
        input += Array("the house\n\n".utf8)
        input += Array(String(repeating: "word ", count: 2000).utf8) + [0x0A]  // 10,000 characters
        input += Array("bad ".utf8) + [0xFF, 0xFE] + Array(" bytes\n".utf8)
        input += Array("a\n\nthe spirit of god moved\n".utf8)
        let r = try runNMT(["translate", "-m", model, "--beam", "2", "--max-len-b", "5"], stdin: Data(input))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 8)  // 7 lines + the final newline
        #expect(lines[1] == "" && lines[5] == "")
        #expect(r.stderr.contains("line 3:") && r.stderr.contains("truncated"))
        #expect(r.stderr.contains("line 4: invalid UTF-8 replaced by U+FFFD"))
    }

    @Test func outputDoesNotDependOnBatchingOrOrder() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let lines = ["in the beginning", "god", "and the earth was without form and void", "light", "darkness was upon the face of the deep"]
        let together = try runNMT(["translate", "-m", model, "--beam", "3", "--max-len-b", "6"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        let oneByOne = try runNMT(["translate", "-m", model, "--beam", "3", "--max-len-b", "6", "--batch-size", "1"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(together.stdout == oneByOne.stdout)
        #expect(together.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == lines.count + 1)
    }

    @Test func nbestPrintsSortedListsInMosesFormat() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--beam", "4", "--nbest", "3", "--max-len-b", "5"], stdin: Data("the house\nof god\n".utf8))
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 6)
        var previous: (Int, Double)? = nil
        for line in lines {
            let fields = line.components(separatedBy: " ||| ")
            #expect(fields.count == 3)
            let index = Int(fields[0])!, score = Double(fields[2])!
            if let (i, s) = previous, i == index { #expect(score <= s) }
            previous = (index, score)
        }
        #expect(lines.prefix(3).allSatisfy { $0.hasPrefix("0 ||| ") } && lines.suffix(3).allSatisfy { $0.hasPrefix("1 ||| ") })
    }

    @Test func scoresFollowATab() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--greedy", "--scores", "--max-len-b", "4"], stdin: Data("the house\n".utf8))
        let fields = r.stdout.dropLast().split(separator: "\t", omittingEmptySubsequences: false)
        #expect(fields.count == 2 && Double(fields[1]) != nil)
    }

    @Test func aMissingModelIsAnError() throws {
        let r = try runNMT(["translate", "-m", "/nonexistent.safetensors"], stdin: Data("x\n".utf8))
        #expect(r.status != 0 && r.stderr == "nmt: error: cannot open /nonexistent.safetensors: No such file or directory\n")
    }
}

@Suite struct AverageCheckpointsTests {
    @Test func averageOfThreeCheckpointsIsTheirElementwiseMean() throws {
        let dir = try TemporaryDirectory()
        let paths = try (1...3).map { try savedRandomModel(dir, name: "checkpoint-\($0).safetensors", seed: UInt64($0)) }
        let r = try runNMT(["average-checkpoints", "--dir", dir.url.path, "--last", "3", "-o", dir.path("avg.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        let models = try paths.map { try ModelFile.load($0).model }
        let average = try ModelFile.load(dir.path("avg.safetensors"))
        #expect(average.step == 3)
        for i in 0..<average.model.parameters.count {
            let mean = (Double(models[0].parameters.values[i]) + Double(models[1].parameters.values[i]) + Double(models[2].parameters.values[i])) / 3
            #expect(average.model.parameters.values[i] == Float(mean))
        }
    }

    @Test func mismatchedModelsAreRefusedNamingBothFiles() throws {
        let dir = try TemporaryDirectory()
        let a = try savedRandomModel(dir, name: "a.safetensors")
        let config = TransformerConfig(vocabularySize: englishTokenizer.vocabulary.count, dModel: 16, ffnDim: 48, heads: 2,
                                       encoderLayers: 1, decoderLayers: 1, maxPositions: 40)
        let other = try Transformer(config: config)
        other.initialize(seed: 1)
        let b = dir.path("b.safetensors")
        try ModelFile.save(other, tokenizer: englishTokenizer, step: 1, to: b)
        let r = try runNMT(["average-checkpoints", "--inputs", a, b, "-o", dir.path("avg.safetensors")])
        #expect(r.status != 0)
        #expect(r.stderr == "nmt: error: cannot average \(a) and \(b): different config (ffnDim: 32 in the first vs 48 in the second)\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("avg.safetensors")))
    }
}

@Suite struct RescoreCommandTests {
    @Test func rescorePrintsForcedLogProbabilityAndLength() throws {
        let dir = try TemporaryDirectory()
        let modelPath = try savedRandomModel(dir)
        let src = try dir.write("src", "the house\nof god\n"), tgt = try dir.write("tgt", "la casa\nde dios\n")
        let r = try runNMT(["rescore", "-m", modelPath, "--src", src, "--tgt", tgt])
        #expect(r.status == 0)
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(rows.count == 2)
        let model = try ModelFile.load(modelPath)
        var encoder = model.tokenizer.makeEncoder(for: .source)
        let expected = forcedLogProbability(model.model, source: encoder.encode("the house"), target: encoder.encode("la casa"))
        #expect(abs(Double(rows[0][0])! - expected) < 1e-4)
        #expect(Int(rows[0][1])! == encoder.encode("la casa").count + 1)
    }

    @Test func mismatchedLineCountsAreAnError() throws {
        let dir = try TemporaryDirectory()
        let modelPath = try savedRandomModel(dir)
        let src = try dir.write("src", "a\nb\n"), tgt = try dir.write("tgt", "a\n")
        let r = try runNMT(["rescore", "-m", modelPath, "--src", src, "--tgt", tgt])
        #expect(r.status != 0 && r.stderr == "nmt: error: \(src) has 2 lines but \(tgt) has 1\n")
    }
}

@Suite struct QuantizeCommandTests {
    @Test func quantizeWritesAnInt8FileThatTranslateRunsAndNamesItsKernel() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let int8 = dir.path("model.int8.safetensors")
        let q = try runNMT(["quantize", "-m", model, "-o", int8])
        #expect(q.status == 0, "\(q.stderr)")
        #expect(try SafeTensorsFile(path: int8).header.metadata["compute_type"] == "int8")
        let input = Data("in the beginning\nthe earth\n".utf8)
        let fromFile = try runNMT(["translate", "-m", int8, "--beam", "2", "--max-len-b", "5"], stdin: input)
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let kernel: String
        switch Int8Kernel.product {
        case .vnni: kernel = "computing in int8 (nmt's AVX512-VNNI kernel"
        case .avx2: kernel = "computing in int8 (nmt's AVX2 kernel"
        case .oneDNN: kernel = "computing in int8 (oneDNN"
        }
        #expect(fromFile.stderr.contains(kernel), "\(fromFile.stderr)")
        let onLoad = try runNMT(["translate", "-m", model, "--compute-type", "int8", "--beam", "2", "--max-len-b", "5"], stdin: input)
        #expect(onLoad.stdout == fromFile.stdout)
        let float32 = try runNMT(["translate", "-m", model, "--beam", "2", "--max-len-b", "5"], stdin: input)
        #expect(float32.stderr.contains("computing in float32 (nmt's row-independent product"))
    }

    @Test func int8DecodingWithoutVNNIUsesSevenBitActivationsAndSaysSo() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        // oneDNN's own switch: run as on a CPU with AVX2 only.
        let r = try runNMT(["translate", "-m", model, "--compute-type", "int8", "--beam", "2", "--max-len-b", "5"],
                           stdin: Data("in the beginning\nthe earth\n".utf8), environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("int8 (nmt's AVX2 kernel over weights packed at load for up to 8 rows, oneDNN")
                && r.stderr.contains("7-bit activations (no VNNI)"), "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 3)
    }

    @Test func quantizeRefusesAnInt8InputAndItsOwnInputAsOutput() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let same = try runNMT(["quantize", "-m", model, "-o", model])
        #expect(same.status != 0 && same.stderr.contains("is the input model"))
        let int8 = dir.path("model.int8.safetensors")
        _ = try runNMT(["quantize", "-m", model, "-o", int8])
        let again = try runNMT(["quantize", "-m", int8, "-o", dir.path("again.safetensors")])
        #expect(again.status != 0 && again.stderr.contains("is already int8"))
        #expect(!FileManager.default.fileExists(atPath: dir.path("again.safetensors")))
    }
}
