// Checkpointer: the checkpoints of one run directory and their names —
//   checkpoint-STEP.safetensors (+ .state.safetensors)   numbered, the newest `keepLast` kept
//   checkpoint-last.*                                    the newest numbered one (hard links)
//   checkpoint-best.safetensors                          the best validation so far (model only)
// Every file is written atomically (temporary file, fsync, rename), the model before its state,
// and "last" moves only once both exist, so a crash at any point leaves a resumable run.

import Foundation

public struct Checkpointer {
    public let directory: String
    public let keepLast: Int

    public init(directory: String, keepLast: Int) {
        self.directory = directory
        self.keepLast = keepLast
    }

    public func path(_ name: String) -> String { directory + "/checkpoint-\(name).safetensors" }
    public var last: String { path("last") }
    public var best: String { path("best") }
    public var hasLast: Bool { FileManager.default.fileExists(atPath: last) }
    public var hasBest: Bool { FileManager.default.fileExists(atPath: best) }

    /// Saves the numbered checkpoint of `progress.step` with its training state, points "last" at
    /// it, and prunes old numbered checkpoints; returns its path.
    /// `metadata`: what the model file keeps besides what ModelFile writes (translation defaults, …).
    public func save(model: Transformer, tokenizer: any Tokenizer, progress: TrainingProgress, adam: Adam,
                     metadata: [String: String] = [:]) throws -> String {
        let numbered = path(String(progress.step))
        let state = TrainingStateFile.path(forCheckpoint: numbered)
        // The state first: a checkpoint is never on disk without the state that resumes it (a
        // disk that fills between the two leaves at most a state file, removed here).
        var progress = progress
        progress.modelChecksum = model.parameters.checksum()
        try TrainingStateFile.save(progress, adam: adam, to: state)
        do {
            try ModelFile.save(model, tokenizer: tokenizer, step: progress.step, to: numbered, extraMetadata: metadata)
        } catch {
            try? FileManager.default.removeItem(atPath: state)
            throw error
        }
        try replaceAtomically(link: numbered, as: last)
        try replaceAtomically(link: state, as: TrainingStateFile.path(forCheckpoint: last))
        prune()
        return numbered
    }

    /// Saves the model as the run's best.
    public func saveBest(model: Transformer, tokenizer: any Tokenizer, step: Int, metadata: [String: String] = [:]) throws {
        try ModelFile.save(model, tokenizer: tokenizer, step: step, to: best, extraMetadata: metadata)
    }

    /// The steps of the numbered checkpoints (checkpoint-STEP.safetensors) in `directory`,
    /// ascending; nil if it cannot be read.
    public static func numberedSteps(in directory: String) -> [Int]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors"), !name.hasSuffix(".state.safetensors") else { return nil }
            return Int(name.dropFirst("checkpoint-".count).dropLast(".safetensors".count))
        }.sorted()
    }

    /// Keeps the newest `keepLast` numbered checkpoints (and their state files).
    private func prune() {
        for step in (Checkpointer.numberedSteps(in: directory) ?? []).dropLast(keepLast) {
            try? FileManager.default.removeItem(atPath: path(String(step)))
            try? FileManager.default.removeItem(atPath: TrainingStateFile.path(forCheckpoint: path(String(step))))
        }
    }
}
