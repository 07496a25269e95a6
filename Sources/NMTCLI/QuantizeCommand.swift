// nmt quantize: a float32 model file into an int8 one (CTranslate2's scheme, see WeightMatrix).

import ArgumentParser
import Foundation
import NMT

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's matrices to int8 (one scale per row) for faster, smaller decoding.",
        discussion: "Example: nmt quantize -m runs/en-es/average.safetensors -o runs/en-es/average.int8.safetensors"
    )

    @Option(name: [.customShort("m"), .long], help: "Float32 model file.") var model: String
    @Option(name: .shortAndLong, help: "Int8 model file to write (atomically).") var output: String

    func run() throws {
        try reportingErrors {
            let source = URL(fileURLWithPath: model).resolvingSymlinksInPath().path
            guard source != URL(fileURLWithPath: output).resolvingSymlinksInPath().path else {
                throw NMTError("-o \(output) is the input model; write the int8 model to another file")
            }
            if try ModelFile.storedComputeType(SafeTensorsFile(path: model).header, path: model) == .int8 {
                throw NMTError("\(model) is already int8")
            }
            let loaded = try ModelFile.load(model, computeType: .int8)
            if loaded.nonFiniteWeights > 0 {
                throw NMTError("\(model) has \(loaded.nonFiniteWeights) weights that are NaN or infinite (saved by a diverged run?); quantize an earlier checkpoint")
            }
            try ModelFile.save(loaded.model, tokenizer: loaded.tokenizer, step: loaded.step, to: output,
                               extraMetadata: ModelFile.userMetadata(loaded.metadata))
            let before = try FileManager.default.attributesOfItem(atPath: model)[.size] as? Int ?? 0
            let after = try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int ?? 0
            printError(String(format: "nmt: wrote %@: int8, %.1f MB (%.2f× the %.1f MB float32 file)", output,
                              Double(after) / 1e6, Double(after) / Double(max(before, 1)), Double(before) / 1e6))
        }
    }
}
