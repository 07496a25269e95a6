// Checkpoint averaging (Vaswani et al. 2017 average the last checkpoints): the element-wise mean
// of every tensor, accumulated in Double, reading one input at a time (memory ≈ two models).
// Inputs must agree on config, vocabulary and tensor shapes; the metadata (tokenizer, step) comes
// from the newest input.

import Foundation

public enum CheckpointAveraging {
    /// The `count` numbered checkpoints (checkpoint-STEP.safetensors) with the highest steps, oldest first.
    public static func newestCheckpoints(in directory: String, count: Int) throws -> [String] {
        guard let steps = Checkpointer.numberedSteps(in: directory) else { throw NMTError("cannot read directory \(directory)") }
        guard !steps.isEmpty else { throw NMTError("\(directory) has no numbered checkpoints (checkpoint-STEP.safetensors)") }
        return steps.suffix(count).map { "\(directory)/checkpoint-\($0).safetensors" }
    }

    /// Averages the newest `count` numbered checkpoints of a run directory, which a trainer may be
    /// writing to: all of them are opened before any is read, and if the trainer pruned one between
    /// listing and opening, the directory is listed again. An open file reads whole even if it is
    /// replaced or deleted meanwhile, so the average is of `count` complete checkpoints.
    public static func averageNewest(in directory: String, count: Int, to output: String) throws -> [Int] {
        var attempts = 0
        while true {
            let paths = try newestCheckpoints(in: directory, count: count)
            var opened: [SafeTensorsFile] = []
            do {
                for path in paths { opened.append(try SafeTensorsFile(path: path)) }
            } catch where attempts < 10 && !paths.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) {
                attempts += 1
                continue
            }
            return try average(opened, to: output)
        }
    }

    public static func average(_ files: [String], to output: String) throws -> (steps: [Int], path: String) {
        (try average(files.map { try SafeTensorsFile(path: $0) }, to: output), output)
    }

    private static func average(_ opened: [SafeTensorsFile], to output: String) throws -> [Int] {
        let files = opened.map(\.path)
        var sum: [Double] = []
        var reference: (path: String, config: TransformerConfig, vocabulary: Vocabulary)? = nil
        var newest: LoadedModel? = nil
        var newestPath = ""
        var steps: [Int] = []
        for file in opened {
            let path = file.path
            if try ModelFile.storedComputeType(file.header, path: path) == .int8 {
                throw NMTError("\(path): an int8 model cannot be averaged; average the float32 checkpoints, then run nmt quantize")
            }
            let loaded = try ModelFile.load(file)
            if let reference {
                if let d = firstDifference(reference.config, loaded.model.config) {
                    throw NMTError("cannot average \(reference.path) and \(path): different config (\(d.key): \(d.a) in the first vs \(d.b) in the second)")
                }
                if reference.vocabulary != loaded.tokenizer.vocabulary {
                    let i = (0..<min(reference.vocabulary.count, loaded.tokenizer.vocabulary.count)).first { reference.vocabulary.tokens[$0] != loaded.tokenizer.vocabulary.tokens[$0] } ?? min(reference.vocabulary.count, loaded.tokenizer.vocabulary.count)
                    throw NMTError("cannot average \(reference.path) and \(path): different vocabularies (first difference at id \(i))")
                }
            } else {
                reference = (path, loaded.model.config, loaded.tokenizer.vocabulary)
                sum = [Double](repeating: 0, count: loaded.model.parameters.count)
            }
            let values = loaded.model.parameters.values
            for i in 0..<sum.count { sum[i] += Double(values[i]) }
            steps.append(loaded.step)
            if newest == nil || loaded.step >= newest!.step {
                newest = loaded
                newestPath = path
            }
        }
        guard let newest else { throw NMTError("nothing to average") }
        let n = Double(files.count)
        let values = newest.model.parameters.values
        for i in 0..<sum.count { values[i] = Float(sum[i] / n) }
        try ModelFile.save(newest.model, tokenizer: newest.tokenizer, step: newest.step, to: output,
                           extraMetadata: ["averaged_from": files.joined(separator: ","), "metadata_from": newestPath])
        return steps
    }
}
