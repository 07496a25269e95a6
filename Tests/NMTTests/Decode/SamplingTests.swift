import Foundation
import Testing
@testable import NMT

@Suite struct SamplingTests {
    static let sources: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18], [19, 20, 21]]

    func options(_ sampling: Sampling, temperature: Double = 1, seed: UInt64 = 3, samples: Int = 1) -> SearchOptions {
        var options = SearchOptions()
        options.sampling = sampling
        options.beam = 1
        options.temperature = temperature
        options.seed = seed
        options.nbest = samples
        return options
    }

    @Test func topKOneSamplingIsGreedySearch() throws {
        let model = try randomModel(vocabulary: 30)
        var greedy = SearchOptions()
        greedy.beam = 1
        let sampled = beamSearch(model: model, sources: Self.sources, options: options(.topK(1)))
        let searched = beamSearch(model: model, sources: Self.sources, options: greedy)
        #expect(sampled.map { $0[0].tokens } == searched.map { $0[0].tokens })
        #expect(sampled.map { $0[0].score } == searched.map { $0[0].score })
    }

    @Test func aLinesSamplesDependOnTheSeedAndLineIndexNotOnItsBatch() throws {
        let model = try randomModel(vocabulary: 30)
        let o = options(.full, temperature: 4, samples: 3)  // a flat distribution: samples differ
        let contexts = Self.sources.indices.map { SentenceContext(line: 100 + $0) }
        let together = beamSearch(model: model, sources: Self.sources, contexts: contexts, options: o).map { $0.map(\.tokens) }
        for i in Self.sources.indices {
            let alone = beamSearch(model: model, sources: [Self.sources[i]], contexts: [contexts[i]], options: o)[0].map(\.tokens)
            #expect(alone == together[i], "line \(i)")
        }
        var other = o
        other.seed = 4
        #expect(beamSearch(model: model, sources: Self.sources, contexts: contexts, options: other).map { $0.map(\.tokens) } != together)
    }

    /// Draw frequencies of the first token over 4,000 draws (one step: the first token of
    /// distinct lines) against the probabilities the definition gives, within 4 standard errors.
    func firstTokenFrequencies(_ sampling: Sampling, temperature: Double) throws -> (observed: [Int: Double], logits: [Float]) {
        let model = try randomModel(vocabulary: 30)
        let source: [Int32] = [5, 6, 7]
        let state = model.decoderState(for: model.encode(sources: [source], arena: Arena()), maxLength: 2, workspace: DecodingWorkspace())
        let next = model.step([Vocabulary.beginOfSentence], state: state)
        let logits = Array(UnsafeBufferPointer(start: next.logits.pointer, count: 30))
        var counts: [Int: Double] = [:]
        var scratch = SamplingScratch()
        let draws = 4000
        for line in 0..<draws {
            var stream = SamplingStream(seed: 9, line: line, sample: 0)
            var row = logits
            let token = row.withUnsafeMutableBufferPointer { scratch.draw($0.baseAddress!, 30, sampling: sampling, temperature: temperature, stream: &stream) }
            counts[Int(token), default: 0] += 1 / Double(draws)
        }
        return (counts, logits)
    }

    func expectMatches(_ observed: [Int: Double], _ expected: [Int: Double]) {
        for token in Set(observed.keys).union(expected.keys) {
            let p = expected[token] ?? 0, q = observed[token] ?? 0
            let error = (p * (1 - p) / 4000).squareRoot()
            #expect(abs(q - p) <= 4 * error + 1e-9, "token \(token): drawn \(q), defined \(p)")
        }
    }

    @Test func temperatureSamplingDrawsFromTheTemperedSoftmax() throws {
        let (observed, logits) = try firstTokenFrequencies(.full, temperature: 2)
        let weights = (3..<30).map { exp(Double(logits[$0]) / 2) }, total = weights.reduce(0, +)
        expectMatches(observed, Dictionary(uniqueKeysWithValues: (3..<30).map { ($0, weights[$0 - 3] / total) }))
    }

    @Test func topPSamplingDrawsOnlyFromTheSmallestSetReachingP() throws {
        let (observed, logits) = try firstTokenFrequencies(.topP(0.6), temperature: 1)
        let order = (3..<30).sorted { logits[$0] > logits[$1] }
        let weights = order.map { exp(Double(logits[$0])) }, total = weights.reduce(0, +)
        var kept = 0, mass = 0.0
        while mass < 0.6 * total { mass += weights[kept]; kept += 1 }
        #expect(kept < 27)  // the set is a strict subset here
        expectMatches(observed, Dictionary(uniqueKeysWithValues: (0..<kept).map { (order[$0], weights[$0] / mass) }))
    }

    @Test func topKSamplingDrawsOnlyFromTheKLikeliestTokens() throws {
        let (observed, logits) = try firstTokenFrequencies(.topK(3), temperature: 1)
        let order = (3..<30).sorted { logits[$0] > logits[$1] }
        let weights = order.prefix(3).map { exp(Double(logits[$0])) }, total = weights.reduce(0, +)
        expectMatches(observed, Dictionary(uniqueKeysWithValues: (0..<3).map { (order[$0], weights[$0] / total) }))
    }

    @Test func nbestDrawsThatManySamplesBestScoreFirst() throws {
        let model = try randomModel(vocabulary: 30)
        let found = beamSearch(model: model, sources: Self.sources, options: options(.full, samples: 4))
        for list in found {
            #expect(list.count == 4)
            #expect(zip(list, list.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }
}
