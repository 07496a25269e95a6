// What every subcommand shares: one-line errors and exit codes.

import ArgumentParser
import Foundation
import NMT

/// Runs `body`; an NMTError becomes "nmt: error: MESSAGE" on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as NMTError {
        printError("nmt: error: \(error.message)")
        throw ExitCode.failure
    }
}

/// A line on stderr for people; never fails (a closed or broken stderr drops it).
func printError(_ message: String) {
    StandardStreams.writeError(message + "\n")
}

/// Lines of `path`, or of standard input when `path` is nil or "-".
func readInputLines(_ path: String?, keepsByteOrderMark: Bool = false) throws -> [String] {
    if let path, path != "-" { return try readLines(path: path, keepsByteOrderMark: keepsByteOrderMark) }
    return try LineReader.standardInput(keepsByteOrderMark: keepsByteOrderMark).readAllStrings()
}

/// `--threads N` (nil: every core), checked as every numeric option is.
func useThreads(_ threads: Int?) throws {
    try checkOption("--threads", threads, .closed(1, 1024))
    if let threads { Threads.set(threads) }
}

/// Loads a model file to decode or score with, warning when some of its weights are NaN or infinite.
func loadModel(_ path: String, computeType: ComputeType? = .float32) throws -> LoadedModel {
    let loaded = try ModelFile.load(path, computeType: computeType, forDecoding: true)
    if loaded.nonFiniteWeights > 0 {
        printError("nmt: warning: \(path) has \(loaded.nonFiniteWeights) weights that are NaN or infinite (saved by a diverged run?); its output is meaningless")
    }
    return loaded
}
