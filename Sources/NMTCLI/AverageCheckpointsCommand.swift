// nmt average-checkpoints: the element-wise mean of several model files.

import ArgumentParser
import Foundation
import NMT

struct AverageCheckpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average-checkpoints",
        abstract: "Average the weights of several checkpoints into one model file.",
        discussion: "Example: nmt average-checkpoints --dir runs/en-es --last 5 -o runs/en-es/average.safetensors"
    )

    @Option(parsing: .upToNextOption, help: "Model files to average.") var inputs: [String] = []
    @Option(help: "A training run directory: average its numbered checkpoints.") var dir: String?
    @Option(help: "With --dir: how many of the newest numbered checkpoints.") var last = 5
    @Option(name: .shortAndLong, help: "Output model file (written atomically).") var output: String

    func run() throws {
        try reportingErrors {
            try checkOption("--last", last, .closed(1, 1e6))
            let steps: [Int]
            if let dir {
                guard inputs.isEmpty else { throw NMTError("give either --inputs or --dir, not both") }
                steps = try CheckpointAveraging.averageNewest(in: dir, count: last, to: output)
            } else {
                guard !inputs.isEmpty else { throw NMTError("nothing to average: give --inputs FILE... or --dir RUN") }
                steps = try CheckpointAveraging.average(inputs, to: output).steps
            }
            printError("averaged \(steps.count) checkpoints (steps \(steps.map(String.init).joined(separator: ", "))) into \(output)")
        }
    }
}
