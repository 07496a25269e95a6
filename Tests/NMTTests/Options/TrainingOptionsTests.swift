import Foundation
import Testing
@testable import NMT

/// Options with every field away from its default.
func optionsWithEveryFieldSet() -> TrainingOptions {
    var o = TrainingOptions()
    (o.trainSource, o.trainTarget, o.validSource, o.validTarget) = ("t.en", "t.es", "v.en", "v.es")
    (o.trainWeight, o.corpora) = (2, [TrainingOptions.Corpus(src: "bt.en", tgt: "bt.es", weight: 0.5, tag: "<BT>")])
    (o.guidedAlignment, o.guidedAlignmentWeight, o.guidedAlignmentLayer) = ("train.align", 0.2, 1)
    (o.bpeCodes, o.bpeMerges, o.bpeDropout, o.maxLength, o.maxLengthRatio) = ("codes", 500, 0.1, 100, 2.5)
    (o.preset, o.dModel, o.ffnDim, o.heads, o.encoderLayers, o.decoderLayers) = (.base, 64, 128, 4, 2, 1)
    (o.dropout, o.attentionDropout, o.activationDropout, o.maxPositions) = (0.2, 0.05, 0.15, 512)
    (o.preNorm, o.activation) = (false, .gelu)
    (o.maxTokens, o.updateFrequency, o.seed, o.labelSmoothing) = (2048, 2, 7, 0.2)
    (o.lr, o.warmupSteps, o.warmupInitLR, o.schedule) = (5e-4, 1000, 1e-6, .noam)
    (o.adamBetas, o.adamEpsilon, o.weightDecay, o.clipNorm, o.precision) = ([0.8, 0.99], 1e-8, 0.01, 1.5, .bfloat16)
    (o.validEvery, o.validBeam, o.validMaxSentences, o.patience, o.bestMetric) = (100, 4, 50, 3, .bleu)
    (o.outputDirectory, o.saveEvery, o.keepLast, o.resume, o.resetOptimizer) = ("runs/x", 25, 2, "c.safetensors", true)
    (o.initFrom, o.freeze) = ("m.safetensors", [.encoder])
    (o.maxSteps, o.maxEpochs, o.maxMinutes, o.logEvery, o.threads) = (10, 3, 1.5, 5, 2)
    return o
}

@Suite struct TrainingOptionsTests {
    @Test func everyStoredOptionHasAConfigKeyAndTheSampleSetsEachOne() {
        let defaults = Mirror(reflecting: TrainingOptions()).children.map { "\($0.value)" }
        let sample = Mirror(reflecting: optionsWithEveryFieldSet()).children.map { ($0.label!, "\($0.value)") }
        #expect(sample.count == TrainingOptions.CodingKeys.allCases.count)
        for (i, field) in sample.enumerated() { #expect(field.1 != defaults[i], "\(field.0) is left at its default in the sample") }
    }

    @Test func everyOptionSurvivesAYAMLRoundTrip() throws {
        let o = optionsWithEveryFieldSet()
        #expect(try ConfigFile.parse(try ConfigFile.yaml(o), path: "run.yaml") == o)
    }

    @Test func aFileSetsOnlyTheOptionsItNames() throws {
        let o = try ConfigFile.parse("max-tokens: 8192\npreset: base\nadam-betas: [0.9, 0.997]\n", path: "run.yaml")
        var expected = TrainingOptions()
        (expected.maxTokens, expected.preset, expected.adamBetas) = (8192, .base, [0.9, 0.997])
        #expect(o == expected)
    }

    @Test func anUnknownKeyNamesFileLineAndTheNearestOption() {
        #expect(throws: NMTError("run.yaml:2: unknown option 'max-token' (did you mean 'max-tokens'?)")) {
            try ConfigFile.parse("seed: 3\nmax-token: 5\n", path: "run.yaml")
        }
    }

    @Test func aValueOfTheWrongTypeNamesLineAndKey() {
        #expect(throws: NMTError("run.yaml:2: option 'max-tokens' expects a whole number, got 'lots'")) {
            try ConfigFile.parse("seed: 3\nmax-tokens: lots\n", path: "run.yaml")
        }
        #expect(throws: NMTError("run.yaml:1: option 'preset' expects one of tiny, base, big, finetune, got 'huge'")) {
            try ConfigFile.parse("preset: huge\n", path: "run.yaml")
        }
    }

    @Test func aKeyGivenTwiceAndBrokenYAMLAreOneLineErrors() throws {
        #expect(throws: NMTError("run.yaml:2: option 'seed' is given twice")) { try ConfigFile.parse("seed: 3\nseed: 4\n", path: "run.yaml") }
        #expect(throws: NMTError.self) { try ConfigFile.parse("seed: [3\n", path: "run.yaml") }
        #expect(throws: NMTError("run.yaml:1: expected option: value lines, like max-tokens: 4096")) { try ConfigFile.parse("- 3\n", path: "run.yaml") }
    }

    @Test func resolvingSpellsOutThePresetsModelAndSchedule() {
        var o = TrainingOptions()
        o.preset = .base
        o.heads = 4
        let r = o.resolved()
        #expect(r.dModel == 512 && r.ffnDim == 2048 && r.heads == 4 && r.encoderLayers == 6)
        #expect(r.lr == 7e-4 && r.warmupSteps == 4000 && r.maxEpochs == 100)
        #expect(r.modelConfig(vocabularySize: 9) == o.modelConfig(vocabularySize: 9))
    }

    @Test func validationErrorsNameTheOption() {
        var o = TrainingOptions()
        (o.trainSource, o.trainTarget) = ("a", "b")
        o.keepLast = 0
        #expect(throws: NMTError("--keep-last 0 must be in [1, 1000000000]")) { try o.validate() }
        o.keepLast = 1
        o.adamBetas = [0.9]
        #expect(throws: NMTError("--adam-betas takes two numbers in [0, 1), e.g. 0.9,0.98")) { try o.validate() }
    }

    @Test func theFirstDifferenceIsFoundFieldByField() {
        let a = TrainingOptions()
        var b = a
        b.labelSmoothing = 0.2
        b.clipNorm = 1
        let d = a.firstDifference(from: b, among: Set(TrainingOptions.CodingKeys.allCases))
        #expect(d?.key == .labelSmoothing && d?.ours == "0.1" && d?.theirs == "0.2")
        #expect(a.firstDifference(from: b, among: [.clipNorm])?.key == .clipNorm)
        #expect(a.firstDifference(from: b, among: [.seed]) == nil)
    }
}
