import Foundation
import Testing

@Suite struct ScoreCommandTests {
    @Test func printsBLEUAndChrFLinesLikeSacreBLEU() throws {
        let r = try runNMT(["score", "-r", fixturePath("sacrebleu/ref1.txt"), fixturePath("sacrebleu/hyp.txt")])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:nmt-"))
        #expect(lines[0].hasSuffix(" = 62.83 82.1/72.0/65.7/63.8 (BP = 0.891 ratio = 0.896 hyp_len = 95 ref_len = 106)"))
        #expect(lines[1].hasSuffix(" = 69.60"))
    }

    @Test func readsHypothesesFromStandardInput() throws {
        let hyp = try Data(contentsOf: URL(fileURLWithPath: fixturePath("sacrebleu/hyp.txt")))
        let fromStdin = try runNMT(["score", "-r", fixturePath("sacrebleu/ref1.txt"), "--metrics", "bleu"], stdin: hyp)
        let fromFile = try runNMT(["score", "-r", fixturePath("sacrebleu/ref1.txt"), "--metrics", "bleu", fixturePath("sacrebleu/hyp.txt")])
        #expect(fromStdin.status == 0 && fromStdin.stdout == fromFile.stdout)
    }

    @Test func jsonOutputCarriesTheDetails() throws {
        let r = try runNMT(["score", "-r", fixturePath("sacrebleu/ref1.txt"), "--metrics", "bleu", "--json", fixturePath("sacrebleu/hyp.txt")])
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(object["score"] as? Double == 62.83)
        #expect(object["hyp_len"] as? Int == 95 && object["ref_len"] as? Int == 106)
        #expect((object["precisions"] as? [Double])?.count == 4)
    }

    @Test func differentLineCountsAreAnErrorNamingBothCounts() throws {
        let dir = try TemporaryDirectory()
        let hyp = try dir.write("hyp", "a\nb\nc\n"), ref = try dir.write("ref", "a\nb\n")
        let r = try runNMT(["score", "-r", ref, hyp])
        #expect(r.status != 0 && r.stdout.isEmpty)
        #expect(r.stderr == "nmt: error: \(hyp) has 3 lines but reference \(ref) has 2\n")
    }

    @Test func invalidUTF8IsAnErrorNamingFileAndLine() throws {
        let dir = try TemporaryDirectory()
        let hyp = try dir.write("hyp", bytes: Array("ok\nbad ".utf8) + [0xC3, 0x28] + Array("\n".utf8))
        let ref = try dir.write("ref", "ok\nbad\n")
        let r = try runNMT(["score", "-r", ref, hyp])
        #expect(r.status != 0)
        #expect(r.stderr == "nmt: error: \(hyp):2: invalid UTF-8 at byte 4 of the line\n")
    }

    @Test func missingFileIsAnError() throws {
        let r = try runNMT(["score", "-r", "/nonexistent/ref.txt", fixturePath("sacrebleu/hyp.txt")])
        #expect(r.status != 0)
        #expect(r.stderr == "nmt: error: cannot open /nonexistent/ref.txt: No such file or directory\n")
    }
}
