import Foundation
import Testing
@testable import NMT

@Suite struct EnsembleTests {
    static let sources: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18]]

    @Test func anEnsembleOfAModelWithItselfSearchesAsTheModel() throws {
        let model = try randomModel(vocabulary: 30)
        let ensemble = Ensemble(members: [model, model], weights: [0.5, 0.5])
        let contexts = [SentenceContext(prefix: [20], line: 0), SentenceContext(line: 1), SentenceContext(line: 2)]
        for (name, var options) in DecodingConstraintTests.searches() {
            options.recordAttention = true
            options.temperature = 3
            let alone = beamSearch(model: model, sources: Self.sources, contexts: contexts, options: options)
            let doubled = beamSearch(model: ensemble, sources: Self.sources, contexts: contexts, options: options)
            #expect(alone.map { $0.map(\.tokens) } == doubled.map { $0.map(\.tokens) }, "\(name)")
            #expect(alone.map { $0.map(\.attention) } == doubled.map { $0.map(\.attention) }, "\(name)")
            for (a, b) in zip(alone.joined(), doubled.joined()) { #expect(abs(a.score - b.score) < 1e-5, "\(name)") }
        }
    }

    @Test func anEnsembleScoresEachTokenByTheWeightedSumOfItsMembersLogProbabilities() throws {
        let a = try randomModel(vocabulary: 30, seed: 11), b = try randomModel(vocabulary: 30, seed: 12)
        let ensemble = Ensemble(members: [a, b], weights: [0.25, 0.75])
        let workspace = DecodingWorkspace()
        let state = ensemble.start(sources: Self.sources, maxLength: 4, workspace: workspace)
        let tokens: [Int32] = [Vocabulary.beginOfSentence, Vocabulary.beginOfSentence, Vocabulary.beginOfSentence]
        let combined = ensemble.step(tokens, state: state, attention: false)
        let scores = (0..<(3 * 30)).map { combined.logits[$0] - combined.logZ[$0 / 30] }
        func logProbabilities(_ m: Transformer) -> [Float] {
            let s = m.start(sources: Self.sources, maxLength: 4, workspace: DecodingWorkspace())
            let next = m.step(tokens, state: s, attention: false)
            return (0..<(3 * 30)).map { next.logits[$0] - next.logZ[$0 / 30] }
        }
        let (pa, pb) = (logProbabilities(a), logProbabilities(b))
        for i in 0..<(3 * 30) { #expect(abs(scores[i] - (0.25 * pa[i] + 0.75 * pb[i])) < 1e-5) }
    }
}
