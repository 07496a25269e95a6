// The `nmt` command: one subcommand per file, each a thin layer over the NMT library.

import ArgumentParser
import Foundation
import NMT

@main
struct NMTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nmt",
        abstract: "Neural machine translation on the CPU: BPE, Transformer training, translation, scoring.",
        version: nmtVersion,
        subcommands: [BPECommand.self, SPMCommand.self, ImportCommand.self, TrainCommand.self, TranslateCommand.self, MergeShardsCommand.self, ServeCommand.self, AverageCheckpointsCommand.self, QuantizeCommand.self, ShortlistCommand.self, RescoreCommand.self, ScoreCommand.self]
    )

    /// Every failure a user can cause ends the same way: one `nmt: error:` line on stderr and exit
    /// status 1 — bad flags included (ArgumentParser's own message, without its usage block).
    static func main() {
        Threads.restartWithoutOpenBLASThreads()
        StandardStreams.prepare()
        // SIGINT/SIGTERM/SIGHUP end a command at once, removing a temporary file it was writing
        // (training replaces this with its own: finish the step and save).
        StopSignal.installRemovingTemporaries()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)  // the error was already reported
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            let message = self.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            // Under mpirun every rank parses the same flags; rank 0 alone reports them.
            if let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"], rank != "0" { Foundation.exit(1) }
            StandardStreams.writeError("nmt: error: \(message)\n")
            Foundation.exit(1)
        }
    }
}
