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

func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Lines of `path`, or of standard input when `path` is nil or "-".
func readInputLines(_ path: String?) throws -> [String] {
    if let path, path != "-" { return try readLines(path: path) }
    return try LineReader.standardInput().readAllStrings()
}
