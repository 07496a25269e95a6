// TrainingStateFile: what a checkpoint needs beyond the model to continue exactly — Adam's moments
// and step, the position in the epoch, the random generators, and the validation history. Saved
// as a sibling safetensors file (moments as tensors, the rest as JSON metadata), atomically.

import Foundation

public struct TrainingProgress: Codable, Sendable, Equatable {
    public var step = 0
    public var epoch = 0
    public var batchInEpoch = 0
    public var dropoutRng: [UInt64]
    public var bpeDropoutRng: [UInt64]
    public var bestValue: Double?
    public var bestStep: Int?
    public var validationsWithoutImprovement = 0
    public var trainedSeconds = 0.0
    /// sha-free fingerprint of the data and options that must not change under a resume.
    public var fingerprint: String
    /// The options the run was saved with (absent in files of nmt before 0.2).
    public var options: TrainingOptions?
    /// The checksum of the weights saved beside this state (ParameterStore.checksum; absent in
    /// older files): a resume refuses a model file from another step or run.
    public var modelChecksum: String?
    /// The input files as resolved absolute paths when saved, by option (train-src, …): a resume
    /// from another working directory compares files, not spellings.
    public var inputFiles: [String: String]?
}

public enum TrainingStateFile {
    /// The state file that goes with a model checkpoint.
    public static func path(forCheckpoint model: String) -> String {
        model.hasSuffix(".safetensors") ? String(model.dropLast(".safetensors".count)) + ".state.safetensors" : model + ".state"
    }

    public static func save(_ progress: TrainingProgress, adam: Adam, to path: String) throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(progress), as: UTF8.self)
        try SafeTensors.write(path: path, tensors: [("adam.first_moment", [adam.count], UnsafePointer(adam.firstMoment)),
                                                    ("adam.second_moment", [adam.count], UnsafePointer(adam.secondMoment))],
                              metadata: ["format": "nmt-training-state", "progress": json, "adam_step": String(adam.step)])
    }

    /// The progress (and options) of a state file, without its moments.
    public static func progress(_ path: String) throws -> TrainingProgress {
        try progress(of: SafeTensorsFile(path: path))
    }

    public static func load(_ path: String, into adam: Adam) throws -> TrainingProgress {
        let file = try SafeTensorsFile(path: path)
        let progress = try progress(of: file)
        guard let stepText = file.header.metadata["adam_step"], let adamStep = Int(stepText) else {
            throw NMTError("\(path): not a valid training-state file")
        }
        for name in ["adam.first_moment", "adam.second_moment"] {
            guard file.header.tensors[name]?.shape == [adam.count] else {
                throw NMTError("\(path): training state does not match the model (\(name) has shape \(file.header.tensors[name]?.shape ?? []), expected [\(adam.count)])")
            }
        }
        try file.readFloats("adam.first_moment", into: adam.firstMoment)
        try file.readFloats("adam.second_moment", into: adam.secondMoment)
        adam.restore(step: adamStep)
        return progress
    }

    private static func progress(of file: SafeTensorsFile) throws -> TrainingProgress {
        guard file.header.metadata["format"] == "nmt-training-state", let json = file.header.metadata["progress"],
              let progress = try? JSONDecoder().decode(TrainingProgress.self, from: Data(json.utf8)) else {
            throw NMTError("\(file.path): not a valid training-state file")
        }
        return progress
    }
}
