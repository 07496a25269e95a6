import Foundation
import Testing
@testable import NMT

/// A small random model whose output distribution is far from uniform (bigger weights).
func randomModel(vocabulary: Int, preNorm: Bool = true, seed: UInt64 = 11) throws -> Transformer {
    let config = TransformerConfig(vocabularySize: vocabulary, dModel: 16, ffnDim: 32, heads: 2, encoderLayers: 2, decoderLayers: 2,
                                   dropout: 0, maxPositions: 32, preNorm: preNorm)
    let model = try Transformer(config: config)
    model.initialize(seed: seed)
    var rng = RandomGenerator(seed: seed + 1)
    for i in 0..<model.parameters.count { model.parameters.values[i] *= 1 + (rng.nextUnitFloat() - 0.5) * 2 }
    let e = model.weights.embedding
    for i in 0..<e.count { e[i] *= 4 }
    return model
}

/// log p(target | source) with </s>, by one teacher-forced forward pass (what `rescore` computes).
func forcedLogProbability(_ model: Transformer, source: [Int32], target: [Int32]) -> Double {
    let batch = Batch(pairs: [(source: source, target: target)])
    return -model.score(batch, labelSmoothing: 0, arena: Arena()).loss.nllSum
}

@Suite struct DecodingTests {
    @Test(arguments: [true, false])
    func theDecoderLayersCachedModeStepByStepGivesTheLogitsOfItsUncachedModeOverTheWholeSequence(preNorm: Bool) throws {
        let model = try randomModel(vocabulary: 30, preNorm: preNorm)
        let sources: [[Int32]] = [[5, 6, 7, 8, 9, 10], [11, 12]]
        let targets: [[Int32]] = [[13, 14, 15, 16], [17, 18, 19, 20]]
        // Full forward, teacher forced.
        let batch = Batch(pairs: zip(sources, targets).map { (source: $0, target: $1) })
        let scoring = Arena(), encoding = Arena()
        let full = model.score(batch, labelSmoothing: 0, arena: scoring).logits
        let v = 30, t = batch.targetLength
        var expected = [Float](repeating: 0, count: full.count)
        for i in 0..<full.count { expected[i] = full[i] }
        // Incremental.
        let encoded = model.encode(sources: sources, arena: encoding)
        let state = model.decoderState(for: encoded, maxLength: t, workspace: DecodingWorkspace())
        for step in 0..<t {
            let logProbs = model.stepLogProbabilities([batch.targetInput[step], batch.targetInput[t + step]], state: state)
            for b in 0..<2 {
                let row = Array(expected[((b * t + step) * v)..<((b * t + step + 1) * v)]).map(Double.init)
                let m = row.max()!
                let logZ = m + log(row.map { exp($0 - m) }.reduce(0, +))
                for j in 3..<v {  // ids 0–2 (<pad>, <unk>, <s>) are masked to −∞ for search
                    #expect(abs(Double(logProbs[b * v + j]) - (row[j] - logZ)) < 1e-4, "step \(step) sentence \(b) token \(j)")
                }
            }
        }
    }

    /// `select` reorders, widens and drops cached hypotheses (with copy cycles: a swap and a
    /// 3-cycle): the next step's log-probabilities equal those of a decoder that was fed each
    /// selected prefix from the start.
    @Test func selectingHypothesesGivesTheLogitsOfTheirPrefixes() throws {
        let model = try randomModel(vocabulary: 30)
        let source: [[Int32]] = [[5, 6, 7, 8], [9, 10, 11, 12]]
        let encoding = Arena()
        let encoded = model.encode(sources: source, arena: encoding)
        // Six hypotheses (three per sentence) with distinct prefixes.
        let prefixes: [[Int32]] = [[2, 13, 14], [2, 15, 16], [17, 18, 19], [20, 21, 22], [23, 24, 25], [26, 27, 28]]
        let sentenceOf = [0, 0, 0, 1, 1, 1]
        let state = model.decoderState(for: encoded, sentenceOf: sentenceOf, maxLength: 8, capacity: 8, workspace: DecodingWorkspace())
        for step in 0..<3 { _ = model.stepLogProbabilities(prefixes.map { $0[step] }, state: state) }
        // Swap 0↔1, keep 2, 3-cycle 3→4→5→3, then duplicate row 2 into two extra rows.
        let parents = [1, 0, 2, 4, 5, 3, 2, 2]
        state.select(parents: parents)
        let next: [Int32] = [5, 6, 7, 8, 9, 10, 11, 12]
        let selected = model.stepLogProbabilities(next, state: state)
        let v = 30
        for (i, p) in parents.enumerated() {
            let fresh = model.decoderState(for: encoded, sentenceOf: [sentenceOf[p]], maxLength: 8, workspace: DecodingWorkspace())
            for step in 0..<3 { _ = model.stepLogProbabilities([prefixes[p][step]], state: fresh) }
            let expected = model.stepLogProbabilities([next[i]], state: fresh)
            for j in 3..<v { #expect(abs(selected[i * v + j] - expected[j]) < 1e-5, "row \(i) token \(j)") }
        }
        // Dropping rows: keep rows 5 and 0 only.
        state.select(parents: [5, 0])
        #expect(state.rows == 2)
    }

    /// Hypotheses continuing one parent share its cached positions; positions no hypothesis
    /// holds any more are freed.
    @Test func theSelfAttentionCacheHoldsEachSharedPrefixOnce() throws {
        let model = try randomModel(vocabulary: 30)
        // The encoder's output lives in its arena, which must outlive the decoder's start (it copies
        // what it needs): a temporary arena could be freed as soon as `encode` returned.
        let arena = Arena()
        let encoded = model.encode(sources: [[5, 6, 7]], arena: arena)
        let decoder = withExtendedLifetime(arena) {
            model.decoderState(for: encoded, maxLength: 8, capacity: 3, workspace: DecodingWorkspace())
        }
        for token: Int32 in [2, 13, 14] {
            _ = model.step([token], state: decoder)
            decoder.select(parents: [0])
        }
        #expect(decoder.nodesInUse == 3)
        decoder.select(parents: [0, 0, 0])   // a beam of three from one prefix
        #expect(decoder.nodesInUse == 3)
        _ = model.step([15, 16, 17], state: decoder)
        #expect(decoder.nodesInUse == 6)     // the shared three, one new position each
        decoder.select(parents: [1, 1])      // rows 0 and 2 end: their last positions are freed
        #expect(decoder.nodesInUse == 4)
        _ = model.step([18, 19], state: decoder)
        decoder.select(parents: [0])
        #expect(decoder.nodesInUse == 5)
    }

    /// The candidates of a row: the largest values, largest first, ties in index order, ids 0–2
    /// never — on rows with many ties and sizes that are not multiples of the kernel's 16.
    @Test(arguments: [5, 40, 1003])
    func topKIsTheLargestEntriesWithTiesInIndexOrder(n: Int) {
        var rng = RandomGenerator(seed: UInt64(n))
        var row = (0..<n).map { _ in Float(Int(rng.nextUnitFloat() * 20)) / 4 }  // few distinct values: ties
        row[0] = 100; row[2] = 99                     // ids 0–2 are never candidates
        for count in [1, 3, 10] {
            let expected = (3..<n).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(count)
            let got = row.withUnsafeBufferPointer { topK($0.baseAddress!, n, count) }
            #expect(got.map(\.0) == expected.map(Int32.init), "n \(n) count \(count)")
        }
    }

    @Test func beamOfOneEqualsGreedy() throws {
        let model = try randomModel(vocabulary: 40)
        let sources: [[Int32]] = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14], [15, 16, 17, 18]]
        var options = SearchOptions()
        options.beam = 1
        let greedy = beamSearch(model: model, sources: sources, options: options)
        let beam = beamSearch(model: model, sources: sources, options: options, alwaysUseBeamPath: true)
        for (g, b) in zip(greedy, beam) {
            #expect(g[0].tokens == b[0].tokens)
            #expect(abs(g[0].score - b[0].score) < 1e-9)
        }
    }

    @Test(arguments: [LengthPenaltyStyle.average, .gnmt])
    func largeBeamFindsTheExhaustiveBest(style: LengthPenaltyStyle) throws {
        // V = 9: five generable tokens (4…8; <pad>, <unk>, <s> are never generated) besides </s>;
        // max length 4 means at most 3 tokens then </s>: 156 hypotheses in all.
        let model = try randomModel(vocabulary: 9, seed: 21)
        let source: [Int32] = [4, 5, 4]
        var options = SearchOptions()
        options.beam = 200
        options.lengthPenaltyStyle = style
        options.maxLengthA = 0
        options.maxLengthB = 4
        options.nbest = 1000
        let found = beamSearch(model: model, sources: [source], options: options)[0]
        // Every sequence of up to 3 non-</s> tokens, scored by forced decoding.
        let symbols = (4..<9).map(Int32.init)
        var all: [[Int32]] = [[]]
        var frontier: [[Int32]] = [[]]
        for _ in 0..<3 {
            frontier = frontier.flatMap { prefix in symbols.map { prefix + [$0] } }
            all += frontier
        }
        let scored = all.map { y -> (tokens: [Int32], score: Double) in
            let lp = style.penalty(length: y.count + 1, alpha: options.lengthPenalty)
            return (y, forcedLogProbability(model, source: source, target: y) / lp)
        }
        let best = scored.max { $0.score < $1.score }!
        #expect(found[0].tokens == best.tokens)
        #expect(abs(found[0].score - best.score) < 1e-4)
        #expect(found.count == all.count, "with a beam this large every hypothesis is finished")
    }

    @Test func nbestIsSortedAndScoresAreForcedLogProbabilityOverLengthPenalty() throws {
        let model = try randomModel(vocabulary: 40)
        var options = SearchOptions()
        options.beam = 6
        options.nbest = 6
        let source: [Int32] = [7, 8, 9, 10]
        let list = beamSearch(model: model, sources: [source], options: options)[0]
        #expect(list.count == 6)
        for (a, b) in zip(list, list.dropFirst()) { #expect(a.score >= b.score) }
        for h in list {
            let forced = forcedLogProbability(model, source: source, target: h.tokens)
            #expect(abs(forced - h.logProbability) < 1e-3)
            #expect(abs(h.score - forced / Double(h.tokens.count + 1)) < 1e-3)
        }
    }
}
