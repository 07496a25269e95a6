// The `nmt` command: one subcommand per file, each a thin layer over the NMT library.

import ArgumentParser
import NMT

@main
struct NMTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt",
        abstract: "Neural machine translation on the CPU: BPE, Transformer training, translation, scoring.",
        version: nmtVersion,
        subcommands: [BPECommand.self, TrainCommand.self, TranslateCommand.self, AverageCheckpointsCommand.self, QuantizeCommand.self, RescoreCommand.self, ScoreCommand.self]
    )
}
