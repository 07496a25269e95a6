import Foundation
import Testing
@testable import NMT

/// A line's translation — hypotheses and scores, bit for bit — does not depend on the batch it is
/// decoded in: how many sentences, which neighbours, how much padding (Compute.rowIndependent).
@Suite struct BatchIndependenceTests {
    /// Every way the options below cut 40 lines of different lengths into batches.
    static let batchings: [(batchSize: Int, maxTokens: Int?)] = [(1, nil), (7, nil), (64, nil), (32, 50)]

    func translations(_ model: Transformer, tokenizer: any Tokenizer, lines: [String], beam: Int, batchSize: Int, maxTokens: Int?) -> [Translation] {
        var options = TranslationOptions()
        options.search.beam = beam
        options.search.nbest = min(beam, 3)
        options.batchSize = batchSize
        options.maxTokens = maxTokens
        return Translator(model: model, tokenizer: tokenizer, options: options).translate(lines)
    }

    func expectSameWhateverTheBatch(computeType: ComputeType, beam: Int) throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 80)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 60)
        var model = try randomModel(vocabulary: tokenizer.vocabulary.count)
        if computeType == .int8 {
            model = try Transformer(config: model.config, quantized: QuantizedWeights(quantizing: model.parameters, config: model.config, forDecoding: true),
                                    parameters: model.parameters)
        }
        // Lengths from 1 to 30 characters, so that batches pad most lines.
        let lines = try readLines(path: en).prefix(40).enumerated().map { String($1.prefix(1 + $0 * 7 % 30)) }
        let reference = translations(model, tokenizer: tokenizer, lines: lines, beam: beam, batchSize: 1, maxTokens: nil)
        for (batchSize, maxTokens) in Self.batchings.dropFirst() {
            let other = translations(model, tokenizer: tokenizer, lines: lines, beam: beam, batchSize: batchSize, maxTokens: maxTokens)
            for (i, (a, b)) in zip(reference, other).enumerated() {
                #expect(a.candidates.map(\.tokens) == b.candidates.map(\.tokens), "line \(i), batch size \(batchSize), max tokens \(maxTokens ?? 0)")
                #expect(a.candidates.map(\.score.bitPattern) == b.candidates.map(\.score.bitPattern), "line \(i), batch size \(batchSize)")
                #expect(a.candidates.map(\.logProbability.bitPattern) == b.candidates.map(\.logProbability.bitPattern), "line \(i)")
            }
        }
    }

    @Test(arguments: [ComputeType.float32, .int8])
    func beamSearchHypothesesAndScoresDoNotDependOnTheBatch(computeType: ComputeType) throws {
        try expectSameWhateverTheBatch(computeType: computeType, beam: 4)
    }

    @Test func rescoringScoresDoNotDependOnTheBatch() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 80)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 60)
        let model = try randomModel(vocabulary: tokenizer.vocabulary.count)
        let sources = try readLines(path: en).prefix(40).enumerated().map { String($1.prefix(1 + $0 * 7 % 30)) }
        let targets = try readLines(path: es).prefix(40).enumerated().map { String($1.prefix(1 + $0 * 11 % 30)) }
        func scores(batchSize: Int) -> [UInt64] {
            var options = TranslationOptions()
            options.batchSize = batchSize
            return Translator(model: model, tokenizer: tokenizer, options: options).rescore(sources: sources, targets: targets)
                .map(\.logProbability.bitPattern)
        }
        let one = scores(batchSize: 1)
        #expect(scores(batchSize: 7) == one)
        #expect(scores(batchSize: 64) == one)
    }

    @Test(arguments: [ComputeType.float32, .int8])
    func greedyTranslationsAndScoresDoNotDependOnTheBatch(computeType: ComputeType) throws {
        try expectSameWhateverTheBatch(computeType: computeType, beam: 1)
    }
}

@Suite struct DecodingModelTests {
    @Test func aModelPackedForDecodingSearchesAsTheModelItWasPackedFrom() throws {
        let model = try randomModel(vocabulary: 40)
        let packed = model.forDecoding()
        #expect(packed.packed != nil && packed !== model && packed.forDecoding() === packed)
        let sources: [[Int32]] = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14]]
        var options = SearchOptions()
        options.beam = 3
        options.nbest = 2
        let a = beamSearch(model: model, sources: sources, options: options, workspace: DecodingWorkspace())
        let b = beamSearch(model: packed, sources: sources, options: options, workspace: DecodingWorkspace())
        #expect(a.map { $0.map(\.tokens) } == b.map { $0.map(\.tokens) })
        #expect(a.map { $0.map(\.score.bitPattern) } == b.map { $0.map(\.score.bitPattern) })
    }
}
