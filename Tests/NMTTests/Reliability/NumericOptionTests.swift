import Foundation
import Testing
@testable import NMT

/// Every numeric option of every command at 0, −1, NaN, ±inf and 1e300: a value outside the
/// option's range is exit 1 with exactly one `nmt: error:` line naming the option; an allowed one
/// runs (train checks with --dump-config, so nothing is trained).
@Suite struct NumericOptionTests {
    static let values = ["0", "-1", "nan", "inf", "-inf", "1e300"]

    /// (command and fixed arguments, option, the values among `values` it allows)
    static func table(_ d: TemporaryDirectory, model: String, corpus: (String, String), run: String) -> [([String], String, Set<String>)] {
        let train = ["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--dump-config"]
        var rows: [([String], String, Set<String>)] = []
        for option in ["--bpe-merges", "--max-len", "--d-model", "--ffn-dim", "--heads", "--encoder-layers", "--decoder-layers",
                       "--max-positions", "--max-tokens", "--update-freq", "--valid-every", "--valid-beam", "--valid-max-sentences",
                       "--patience", "--save-every", "--keep-last", "--log-every", "--threads", "--lr", "--max-len-ratio", "--adam-eps"] {
            rows.append((train, option, []))
        }
        for option in ["--max-steps", "--max-epochs", "--warmup-steps", "--max-time", "--warmup-init-lr", "--clip-norm", "--weight-decay",
                       "--dropout", "--attention-dropout", "--activation-dropout", "--label-smoothing", "--bpe-dropout"] {
            rows.append((train, option, ["0"]))
        }
        rows.append((train, "--seed", ["0"]))
        rows.append((train, "--guided-alignment-weight", []))
        rows.append((train + ["--guided-alignment", corpus.0], "--guided-alignment-layer", []))
        rows.append((train, "--adam-betas", ["0,0"]))  // checked with the value as both betas below
        let translate = ["translate", "-m", model]
        for option in ["--beam", "--nbest", "--batch-size", "--max-tokens", "--max-search-memory", "--threads"] {
            rows.append((translate, option, []))
        }
        rows.append((translate, "--max-len-a", ["0"]))
        rows.append((translate, "--max-len-b", ["0"]))
        rows.append((translate, "--length-penalty", ["0", "-1"]))
        rows.append((translate + ["--sampling", "full"], "--temperature", []))
        rows.append((translate, "--repetition-penalty", []))
        rows.append((translate, "--no-repeat-ngram", ["0"]))
        rows.append((translate, "--max-len-ratio", []))
        rows.append((translate, "--shortlist", []))
        let learn = ["shortlist", "learn", "-m", model, "--src", corpus.0, "--tgt", corpus.1, "-o", d.path("numeric.shortlist")]
        for option in ["--best", "--iterations", "--max-lines"] { rows.append((learn, option, [])) }
        rows.append((learn, "--frequent", ["0"]))
        rows.append((["rescore", "-m", model, "--src", corpus.0, "--tgt", corpus.1], "--batch-size", []))
        rows.append((["rescore", "-m", model, "--src", corpus.0, "--tgt", corpus.1], "--threads", []))
        rows.append((["score", "--ref", corpus.1, corpus.1, "--smooth", "floor"], "--smooth-value", ["0"]))
        for option in ["--merges", "--min-frequency", "--character-coverage"] {
            rows.append((["bpe", "learn", "-o", d.path("codes"), corpus.0], option, []))
        }
        rows.append((["bpe", "apply", "--codes", d.path("fixed.codes"), corpus.0], "--dropout", ["0"]))
        rows.append((["bpe", "apply", "--codes", d.path("fixed.codes"), corpus.0], "--threads", []))
        rows.append((["average-checkpoints", "--dir", run, "-o", d.path("avg.safetensors")], "--last", []))
        return rows
    }

    @Test func everyNumericOptionRefusesValuesOutsideItsRangeWithOneLine() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 30)
        let model = try savedRandomModel(dir)
        let run = dir.path("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: run + "/checkpoint-1.safetensors")
        try runNMT(["bpe", "learn", "--merges", "50", "-o", dir.path("fixed.codes"), corpus.0])
        var checked = 0
        for (command, option, allowed) in Self.table(dir, model: model, corpus: corpus, run: run) {
            for value in Self.values {
                let given = option == "--adam-betas" ? "\(value),\(value)" : value
                let r = try runNMT(command + ["\(option)=\(given)"])
                let ok = allowed.contains(value) || allowed.contains(given)
                let context = "nmt \(command.first!) \(option)=\(given): exit \(r.status), stderr \(r.stderr)"
                if ok {
                    #expect(r.status == 0, "\(context)")
                } else {
                    let lines = r.stderr.split(separator: "\n")
                    #expect(r.status == 1, "\(context)")
                    #expect(lines.count == 1 && lines[0].hasPrefix("nmt: error: ") && lines[0].contains(option), "\(context)")
                }
                checked += 1
            }
        }
        #expect(checked > 300)
    }

    @Test func aBeamWiderThanTheVocabularyIsRefusedNamingTheBound() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let r = try runNMT(["translate", "-m", model, "--beam", "100000"], stdin: Data("the house\n".utf8))
        let outputs = englishTokenizer.vocabulary.count - 4
        #expect(r.status == 1 && r.stderr.hasSuffix("nmt: error: --beam 100000 must be in [1, \(outputs)] (the tokens this model can output)\n"))
    }

    @Test func aModelTooLargeForThisMachineIsRefusedBeforeAnythingIsAllocated() throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 10)
        let r = try runNMT(["train", "--train-src", corpus.0, "--train-tgt", corpus.1, "--out", dir.path("run"),
                            "--d-model", "65536", "--heads", "8", "--ffn-dim", "1048576"])
        #expect(r.status == 1 && r.stderr.hasPrefix("nmt: error: the model (") && r.stderr.contains("more than this machine's"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }
}
