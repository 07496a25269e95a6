import Foundation
import Testing
@testable import NMT

/// `nmt train` on several corpora with weights and source tags (tagged back-translation).
@Suite struct TrainCorporaTests {
    static let tiny = ["--d-model", "32", "--ffn-dim", "64", "--heads", "2", "--encoder-layers", "1", "--decoder-layers", "1",
                       "--bpe-merges", "100", "--max-tokens", "1200", "--max-len", "1000", "--max-positions", "1024", "--max-len-ratio", "100",
                       "--valid-every", "1000000"]

    @Test func corporaFromTheConfigFileAreTrainedOnAndTheLogReportsEachShare() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 60)
        let (bten, btes) = try smallCorpus(dir, lines: 20, prefix: "bt")
        let config = try dir.write("run.yaml", """
            train-src: \(en)
            train-tgt: \(es)
            corpus:
              - src: \(bten)
                tgt: \(btes)
                weight: 1.5
                tag: <BT>
            """)
        let r = try runNMT(["train", "--config", config, "--out", dir.path("run"), "--max-steps", "2"] + Self.tiny)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("corpus \(en)|\(es): 60 pairs × weight 1.0 = 66.7% of an epoch"), "\(r.stderr)")
        #expect(r.stderr.contains("corpus \(bten)|\(btes) tag <BT>: 20 pairs × weight 1.5 = 33.3% of an epoch"), "\(r.stderr)")
        let saved = try ConfigFile.read(dir.path("run/config.yaml"))
        #expect(saved.corpora == [TrainingOptions.Corpus(src: bten, tgt: btes, weight: 1.5, tag: "<BT>")])
    }

    @Test func corporaOnTheCommandLineEqualThoseOfTheConfigFile() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 10)
        let flags = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--corpus", "\(en),\(es),0.5,<BT>", "--corpus", "\(en),\(es)",
                                "--train-weight", "2", "--dump-config"])
        let config = try dir.write("run.yaml", """
            train-src: \(en)
            train-tgt: \(es)
            train-weight: 2
            corpus: [{src: \(en), tgt: \(es), weight: 0.5, tag: <BT>}, {src: \(en), tgt: \(es)}]
            """)
        let file = try runNMT(["train", "--config", config, "--dump-config"])
        #expect(flags.status == 0 && file.status == 0, "\(flags.stderr) \(file.stderr)")
        #expect(flags.stdout == file.stdout)
    }

    @Test func malformedCorporaAreOneLineErrors() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 10)
        for (arguments, message) in [(["--corpus", en], "--corpus '\(en)' must be SRC,TGT[,WEIGHT[,TAG]]"),
                                     (["--corpus", "\(en),\(es),x"], "weight 'x' is not a number"),
                                     (["--corpus", "\(en),\(es),-1"], "--corpus \(en) weight -1.0 must be in [0, 1000]"),
                                     (["--corpus", "\(en),\(dir.path("missing"))"], "cannot open \(dir.path("missing"))")] {
            let r = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--max-steps", "1"] + Self.tiny + arguments)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].contains(message), "\(arguments): \(r.stderr)")
        }
    }
}
