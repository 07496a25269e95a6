// Lexical shortlists: the table, its file, learning it, and decoding under it.

import Foundation
import Testing
@testable import NMT

@Suite struct ShortlistTests {
    /// Source token s ≥ 5: s, 7s mod 30, 11s mod 30.
    static let table: Shortlist = {
        let best = (0..<30).map { (s: Int) -> [Int32] in s < 5 ? [] : [s, s * 7 % 30, s * 11 % 30].map { Int32($0) } }
        return Shortlist(frequent: [4, 5], best: best, vocabularyChecksum: "test", targetVocabularySize: 30)
    }()

    @Test func aSentenceMayProduceTheFrequentTokensEndOfSentenceAndEachSourceTokensBest() {
        #expect(Self.table.tokens(for: [6, 9], size: 2) == [3, 4, 5, 6, 9, 12])
        #expect(Self.table.tokens(for: [6], size: 1) == [3, 4, 5, 6])
    }

    /// A step under the shortlist gives the model's own logits at a sentence's tokens, −∞ elsewhere.
    @Test(arguments: [ComputeType.float32, .int8])
    func restrictedLogitsAreTheModelsAtAllowedTokensAndMinusInfinityElsewhere(_ computeType: ComputeType) throws {
        let trained = try randomModel(vocabulary: 30)
        let model = computeType == .int8
            ? try Transformer(config: trained.config, quantized: QuantizedWeights(quantizing: trained.parameters, config: trained.config, forDecoding: true),
                              parameters: trained.parameters)
            : trained.forDecoding()
        let sources: [[Int32]] = [[6, 9, 10], [7, 8]]
        let full = model.start(sources: sources, maxLength: 4, workspace: DecodingWorkspace())
        let fullLogits = model.step([Vocabulary.beginOfSentence, Vocabulary.beginOfSentence], state: full, attention: false).logits
        let expected = Array(UnsafeBufferPointer(start: fullLogits.pointer, count: 60))
        // A loaded decoding model keeps its matrices only packed (or int8): their float32 copy is not read.
        model.weights.outputWeight.fill(0)
        let shortlisted = ShortlistedModel(model: model, shortlist: Self.table, size: 2, moments: nil)
        let state = shortlisted.start(sources: sources, maxLength: 4, workspace: DecodingWorkspace())
        let logits = shortlisted.step([Vocabulary.beginOfSentence, Vocabulary.beginOfSentence], state: state, attention: false).logits
        for (b, source) in sources.enumerated() {
            let allowed = Set(Self.table.tokens(for: source, size: 2))
            for j in 0..<30 {
                let value = logits.pointer[b * 30 + j]
                if allowed.contains(Int32(j)) {
                    #expect(abs(value - expected[b * 30 + j]) <= 1e-5 * max(1, abs(expected[b * 30 + j])), "sentence \(b) token \(j)")
                } else {
                    #expect(value == -.infinity, "sentence \(b) token \(j)")
                }
            }
        }
    }

    /// When the tokens a sentence excludes all have the same output row and bias, their logits are
    /// equal, the moments' normal estimate of their mass is exact, and the shortlisted step's
    /// log-normaliser is the whole vocabulary's; normalising over the allowed tokens alone is not.
    /// A token with an imported model's absent-token bias (no mass) changes nothing.
    @Test func theExcludedMassMakesTheNormaliserTheWholeVocabularysWhenExcludedLogitsAreEqual() throws {
        var config = try randomModel(vocabulary: 30).config
        config.outputBias = true
        let trained = try Transformer(config: config)
        trained.initialize(seed: 3)
        let source: [Int32] = [6], allowed = Set(Self.table.tokens(for: source, size: 1))
        let w = trained.weights.outputWeight, b = trained.weights.outputBias!, c = config.dModel, shared = 0, absent = 29
        var rng = RandomGenerator(seed: 5)
        for j in 0..<30 { b[j] = rng.nextUnitFloat() * 2 - 1 }
        for j in 1..<30 where !allowed.contains(Int32(j)) {
            (w.pointer + j * c).update(from: w.pointer + shared * c, count: c)
            b[j] = j == absent ? MarianImport.absentTokenBias : b[shared]
        }
        let model = trained.forDecoding()
        func logZ(_ search: some SearchModel) -> Float {
            let state = search.start(sources: [source], maxLength: 4, workspace: DecodingWorkspace())
            return search.step([Vocabulary.beginOfSentence], state: state, attention: false).logZ[0]
        }
        let whole = logZ(model)
        let estimated = logZ(ShortlistedModel(model: model, shortlist: Self.table, size: 1, moments: OutputMoments(of: model)))
        let allowedOnly = logZ(ShortlistedModel(model: model, shortlist: Self.table, size: 1, moments: nil))
        #expect(abs(estimated - whole) <= 1e-4 * max(1, abs(whole)), "\(estimated) vs \(whole)")
        #expect(whole - allowedOnly > 0.01, "\(allowedOnly) vs \(whole)")
    }

    /// A repetition guard renormalises a shortlisted row over its allowed tokens' new logits and
    /// the excluded tokens' mass, which it does not touch.
    @Test func aRepetitionGuardKeepsTheExcludedMassOfAShortlistedStep() throws {
        let model = try randomModel(vocabulary: 30).forDecoding()
        let shortlisted = ShortlistedModel(model: model, shortlist: Self.table, size: 1, moments: OutputMoments(of: model))
        let state = shortlisted.start(sources: [[6]], maxLength: 4, workspace: DecodingWorkspace())
        let step = shortlisted.step([Vocabulary.beginOfSentence], state: state, attention: false)
        let excluded = try #require(step.excluded)[0], logit = step.logits.pointer[4]
        #expect(excluded.isFinite)
        RepetitionGuards(penalty: 3).apply(to: step, row: 0, previous: [4, 5, 6])
        #expect(step.logits.pointer[4] != logit)
        let allowedPart = logNormalizer(step.logits.pointer, 30).floatValue
        #expect(abs(step.logZ[0] - logAddExp(allowedPart, excluded)) <= 1e-6 * max(1, abs(step.logZ[0])))
        #expect(step.logZ[0] - allowedPart > 1e-3)
    }

    @Test func aShortlistFileReadsBackAsWrittenAndItsErrorsNameTheLine() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("table.shortlist", Self.table.text())
        #expect(try Shortlist.load(path) == Self.table)
        func error(_ text: String) -> String {
            do { _ = try Shortlist.load(try dir.write("bad.shortlist", text)); return "" } catch { return "\(error)" }
        }
        let bad = dir.path("bad.shortlist")
        #expect(error("hello\n") == "\(bad):1: not an nmt shortlist (it starts with 'nmt-shortlist 1'; made by nmt shortlist learn)")
        #expect(error("nmt-shortlist 1\nvocabularies 2 30 x\nfrequent 4 x\n") == "\(bad):3: 'x' is not a target token id below 30")
        #expect(error("nmt-shortlist 1\nvocabularies 2 30 x\nfrequent 4\n1 2\n") == "\(bad):5: ends after 1 of 2 source tokens")
        #expect(error("nmt-shortlist 1\nvocabularies 1 30 x\nfrequent\n30\n") == "\(bad):4: '30' is not a target token id below 30")
    }

    /// Source token 10 always comes with target token 20 (and 11 with 21), among noise: IBM Model 1
    /// ranks each one's partner first, and the most frequent targets are the frequent list.
    @Test func learningRanksEachSourceTokensTranslationFirst() {
        var rng = RandomGenerator(seed: 4)
        var pairs: [(source: [Int32], target: [Int32])] = []
        for i in 0..<300 {
            let noise = (0..<3).map { _ in Int32(5 + rng.next() % 5) }
            let word: Int32 = i % 2 == 0 ? 10 : 11
            pairs.append((source: noise + [word], target: noise.map { $0 + 20 } + [word + 10, 4]))
        }
        let learned = Shortlist.learn(pairs: pairs, sourceVocabularySize: 40, targetVocabularySize: 40, best: 3, frequent: 1, vocabularyChecksum: "x")
        #expect(learned.best[10].first == 20 && learned.best[11].first == 21, "\(learned.best[10]) \(learned.best[11])")
        #expect(learned.best[7].first == 27, "\(learned.best[7])")
        #expect(learned.frequent == [4])
        #expect(learned.best[0].isEmpty)
    }

    /// Each sentence decodes under its own set, so batching cannot change a translation.
    @Test func aShortlistedTranslationDoesNotDependOnItsBatch() throws {
        let model = try randomModel(vocabulary: 30)
        var options = TranslationOptions()
        options.search.beam = 3
        options.search.maxLengthB = 6
        options.shortlist = (Self.table, 2)
        let sources: [[Int32]] = [[6, 9, 10], [7, 8], [12, 13, 14, 15], [20]]
        let together = Translator(model: model, tokenizer: try BPETokenizer(characters: ["a"], merges: []), options: options).search(sources).map { $0.map(\.tokens) }
        for (i, source) in sources.enumerated() {
            let alone = Translator(model: model, tokenizer: try BPETokenizer(characters: ["a"], merges: []), options: options).search([source])[0].map(\.tokens)
            #expect(alone == together[i], "sentence \(i)")
            let allowed = Set(Self.table.tokens(for: source, size: 2))
            #expect(together[i].allSatisfy { $0.allSatisfy(allowed.contains) }, "sentence \(i): \(together[i])")
        }
    }
}
