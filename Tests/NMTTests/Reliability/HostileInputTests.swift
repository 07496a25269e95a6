import Foundation
import Testing
@testable import NMT

@Suite struct HostileInputTests {
    @Test func anEndlessLineIsRefusedBeforeMemoryRunsOut() throws {
        for arguments in [["bpe", "apply", "--codes", "/dev/zero"], ["score", "--ref", "/dev/zero", "/dev/null"], ["bpe", "learn", "-o", "/dev/null", "/dev/zero"]] {
            let r = try runNMT(arguments)
            #expect(r.status == 1 && r.stderr == "nmt: error: /dev/zero:1: line longer than 256 MiB (not a text file?)\n", "\(arguments): \(r.stderr)")
        }
    }

    @Test func anOutputDirectoryThatCannotBeCreatedNamesTheSystemsReason() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let r = try runNMT(tinyTrainArguments((en, es), out: "/proc/nmt-cannot-be-here/run", steps: 1))
        #expect(r.status == 1 && r.stderr.hasSuffix("nmt: error: cannot create output directory /proc/nmt-cannot-be-here/run: No such file or directory\n"), "\(r.stderr)")
    }
}
