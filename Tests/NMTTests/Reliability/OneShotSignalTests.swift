import Foundation
import Testing
@testable import NMT

/// A one-shot command that writes a file (`bpe apply -o`) and is stopped by SIGTERM or SIGINT
/// leaves neither its temporary file nor a partial output; a temporary left by a writer that died
/// without a chance to clean up (kill -9) is removed by the next write into that directory.
@Suite struct OneShotSignalTests {
    func temporaries(_ dir: TemporaryDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.url.path)) ?? []).filter { $0.contains(".tmp-") }
    }

    /// Starts `bpe apply -o out` reading from a pipe that stays open, so it waits inside the write.
    func startApply(_ dir: TemporaryDirectory) throws -> (Process, Pipe) {
        let corpus = try dir.write("corpus", String(repeating: "hello world\n", count: 10))
        #expect(try runNMT(["bpe", "learn", "--merges", "5", "-o", dir.path("codes"), corpus]).status == 0)
        let process = Process(), input = Pipe()
        process.executableURL = try nmtExecutable()
        process.arguments = ["bpe", "apply", "--codes", dir.path("codes"), "-o", dir.path("out")]
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("hello\n".utf8))
        let deadline = Date().addingTimeInterval(30)
        while temporaries(dir).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return (process, input)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalRemovesTheTemporaryFileOfAOneShotCommand(signal: Int32) throws {
        let dir = try TemporaryDirectory()
        let (process, input) = try startApply(dir)
        #expect(temporaries(dir).count == 1)
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            Issue.record("the signal did not end the command")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal)
        #expect(temporaries(dir).isEmpty && !FileManager.default.fileExists(atPath: dir.path("out")), "\(temporaries(dir))")
    }

    @Test func theNextWriteRemovesTheTemporaryOfAKilledWriter() throws {
        let dir = try TemporaryDirectory()
        let (process, input) = try startApply(dir)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        #expect(temporaries(dir).count == 1)
        let r = try runNMT(["bpe", "apply", "--codes", dir.path("codes"), "-o", dir.path("out")], stdin: Data("hello\n".utf8))
        #expect(r.status == 0 && temporaries(dir).isEmpty, "\(temporaries(dir))")
    }
}
