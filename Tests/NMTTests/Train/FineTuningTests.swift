// `nmt train --init MODEL`: a new run starts from a model's weights, architecture and tokenizer
// (an imported Marian model here), lowers its loss on new text, keeps what the model file carried,
// holds frozen parts still, and refuses options that contradict the model.

import Foundation
import Testing
@testable import NMT

@Suite struct FineTuningTests {
    /// A Marian fixture (default: OPUS-MT's layout), imported into `dir`.
    func importedModel(_ dir: TemporaryDirectory, fixture: String = "opus-mt") throws -> String {
        let path = dir.path(fixture + ".safetensors")
        let imported = try MarianImport.load(fixturePath("marian/" + fixture))
        let defaults = String(decoding: try JSONEncoder().encode(imported.defaults), as: UTF8.self)
        try ModelFile.save(imported.model, tokenizer: imported.tokenizer, step: 0, to: path, extraMetadata: [TranslationDefaults.metadataKey: defaults])
        return path
    }

    func fineTuning(_ dir: TemporaryDirectory, model: String, steps: Int) throws -> TrainingOptions {
        var o = TrainingOptions()
        (o.trainSource, o.trainTarget) = try smallCorpus(dir, lines: 200)
        o.initFrom = model
        o.outputDirectory = dir.path("run")
        o.maxTokens = 800
        o.maxLength = 120
        o.maxSteps = steps
        o.lr = 1e-3
        o.warmupSteps = 5
        o.validEvery = 1000
        o.saveEvery = steps
        o.logEvery = 1
        return o.resolved()
    }

    @Test(arguments: ["opus-mt", "separate-spm"])
    func aFineTunedModelKeepsItsArchitectureTokenizerAndTranslationDefaultsAndLearns(fixture: String) throws {
        let dir = try TemporaryDirectory()
        let model = try importedModel(dir, fixture: fixture)
        let trainer = Trainer(options: try fineTuning(dir, model: model, steps: 30), log: quietLog())
        _ = try trainer.run()
        let first = trainer.lossHistory.prefix(3).map(\.loss).reduce(0, +) / 3, last = trainer.lossHistory.suffix(3).map(\.loss).reduce(0, +) / 3
        #expect(last < first, "loss \(first) → \(last)")
        #expect(first < 8, "the imported model's loss \(first) starts near its cross-entropy (absent tokens take no smoothing)")
        let original = try ModelFile.load(model), tuned = try ModelFile.load(dir.path("run/checkpoint-last.safetensors"))
        var expectedConfig = original.model.config
        expectedConfig.dropout = tuned.model.config.dropout
        #expect(tuned.model.config == expectedConfig)
        #expect(tuned.tokenizer.data == original.tokenizer.data && tuned.translationDefaults == original.translationDefaults)
        #expect(tuned.tokenizer.sourceVocabulary == original.tokenizer.sourceVocabulary)
        #expect(tuned.metadata["fine_tuned_from"] == model)
    }

    @Test func frozenPartsKeepTheirWeightsAndTheRestMoves() throws {
        let dir = try TemporaryDirectory()
        let model = try importedModel(dir)
        var o = try fineTuning(dir, model: model, steps: 5)
        o.freeze = [.embeddings, .encoder]
        _ = try Trainer(options: o, log: quietLog()).run()
        let before = try ModelFile.load(model).model.parameters, after = try ModelFile.load(dir.path("run/checkpoint-last.safetensors")).model.parameters
        for entry in before.entries {
            let a = Array(UnsafeBufferPointer(start: before.values + entry.offset, count: entry.shape.reduce(1, *)))
            let b = Array(UnsafeBufferPointer(start: after.values + entry.offset, count: entry.shape.reduce(1, *)))
            let frozen = entry.name == "embed_tokens.weight" || entry.name.hasPrefix("encoder.")
            #expect((a == b) == frozen, "\(entry.name): \(frozen ? "changed though frozen" : "did not change")")
        }
    }

    @Test func optionsThatContradictTheModelAreOneLineErrors() throws {
        let dir = try TemporaryDirectory()
        let model = try importedModel(dir)
        let base = try fineTuning(dir, model: model, steps: 1)
        var cases: [(TrainingOptions, String)] = []
        var o = base; o.dModel = 64; cases.append((o, "--d-model 64 differs from \(model)'s 32"))
        o = base; o.preset = .base; cases.append((o, "--preset base names an architecture"))
        o = base; o.resume = model; cases.append((o, "--init starts a new run and --resume continues one"))
        o = base; o.bpeCodes = model; cases.append((o, "--bpe cannot be given with --init"))
        o = base; o.initFrom = nil; o.preset = .finetune; cases.append((o, "--preset finetune needs --init MODEL"))
        o = base; o.freeze = [.embeddings, .encoder, .decoder]; cases.append((o, "leaves nothing to train"))
        for (options, message) in cases {
            do { _ = try Trainer(options: options, log: quietLog()).run(); Issue.record("ran: \(message)") } catch let e as NMTError {
                #expect(e.message.contains(message) && !e.message.contains("\n"), "\(e.message)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")), "nothing is written")
    }

    @Test func theCommandFineTunesWithTheFinetunePresetAndCommaSeparatedFreeze() throws {
        let dir = try TemporaryDirectory()
        let model = try importedModel(dir)
        let (en, es) = try smallCorpus(dir, lines: 100)
        let r = try runNMT(["train", "--init", model, "--train-src", en, "--train-tgt", es, "--max-steps", "2", "--freeze", "embeddings, decoder",
                            "--out", dir.path("run"), "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let config = try ConfigFile.read(dir.path("run/config.yaml"))
        #expect(config.preset == .finetune && config.lr == 1e-4 && config.freeze == [.embeddings, .decoder] && config.dModel == 32)
        let bad = try runNMT(["train", "--init", model, "--train-src", en, "--train-tgt", es, "--freeze", "attention", "--out", dir.path("bad")])
        #expect(bad.status == 1 && bad.stderr.contains("--freeze: 'attention' is not one of embeddings, encoder, decoder"), "\(bad.stderr)")
    }
}
