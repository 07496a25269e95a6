import Foundation
import Testing
@testable import NMT

/// Target prefixes, repetition guards and the length ratio, in every search.
@Suite struct DecodingConstraintTests {
    static let sources: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18], [19, 20, 21]]
    static let prefixes: [[Int32]] = [[22, 23], [], [24], [25, 25, 25]]

    static func searches() -> [(String, SearchOptions)] {
        var greedy = SearchOptions(); greedy.beam = 1
        var beam = SearchOptions(); beam.beam = 4; beam.nbest = 3
        var marian = beam; marian.style = .marian
        var sampling = SearchOptions(); sampling.beam = 1; sampling.sampling = .topK(5); sampling.nbest = 2
        return [("greedy", greedy), ("beam", beam), ("marian", marian), ("sampling", sampling)]
    }

    @Test func everyHypothesisStartsWithItsSentencesPrefix() throws {
        let model = try randomModel(vocabulary: 30)
        let contexts = Self.prefixes.enumerated().map { SentenceContext(prefix: $1, line: $0) }
        for (name, options) in Self.searches() {
            let found = beamSearch(model: model, sources: Self.sources, contexts: contexts, options: options)
            for (i, list) in found.enumerated() {
                #expect(!list.isEmpty)
                for h in list { #expect(Array(h.tokens.prefix(Self.prefixes[i].count)) == Self.prefixes[i], "\(name) sentence \(i)") }
            }
        }
    }

    @Test func aPrefixsLogProbabilitiesCountInTheScore() throws {
        let model = try randomModel(vocabulary: 30)
        var options = SearchOptions(); options.beam = 1
        let found = beamSearch(model: model, sources: [Self.sources[0]], contexts: [SentenceContext(prefix: [22, 23])], options: options)[0][0]
        let forced = forcedLogProbability(model, source: Self.sources[0], target: found.tokens)
        #expect(abs(found.logProbability - forced) < 1e-3)
    }

    @Test(arguments: [2, 3])
    func noRepeatNgramNeverRepeatsAnNgram(n: Int) throws {
        let model = try randomModel(vocabulary: 12)  // a small vocabulary loops readily
        let sources: [[Int32]] = (0..<8).map { i in (0..<12).map { Int32(4 + ($0 * 3 + i) % 8) } }
        for (name, var options) in Self.searches() {
            options.repetition.noRepeatNgram = n
            options.maxLengthA = 3
            for list in beamSearch(model: model, sources: sources, options: options) {
                for h in list {
                    let grams = (0..<max(0, h.tokens.count - n + 1)).map { Array(h.tokens[$0..<($0 + n)]) }
                    #expect(Set(grams.map { $0.map(String.init).joined(separator: " ") }).count == grams.count, "\(name): \(h.tokens)")
                }
            }
        }
    }

    @Test func theRepetitionPenaltyScalesTheLogitsOfTokensAlreadyHeld() {
        var logits: [Float] = [1, 2, -2, 4, 0.5]
        let guards = RepetitionGuards(penalty: 2)
        let changed = logits.withUnsafeMutableBufferPointer { guards.apply($0.baseAddress!, 5, previous: [2, 3, 3]) }
        #expect(changed)
        #expect(logits == [1, 2, -4, 2, 0.5])
    }

    @Test func mariansSearchEndsAtTheFloat32CeilingOfFactorTimesSourceLength() {
        var marian = SearchOptions(); marian.style = .marian; marian.maxLengthA = 1.2; marian.maxLengthB = 0
        var fairseq = marian; fairseq.style = .nmt
        #expect(marian.maxLength(sourceLength: 25, modelLimit: 512) == 31)  // Float(1.2) · 25 = 30.000001
        #expect(fairseq.maxLength(sourceLength: 25, modelLimit: 512) == 30)
        marian.maxLengthA = 3
        #expect(marian.maxLength(sourceLength: 25, modelLimit: 512) == 75)
    }

    @Test func aLoopingOutputStopsWithinTheLengthRatio() throws {
        let model = try randomModel(vocabulary: 12)
        let sources: [[Int32]] = (0..<8).map { i in (0..<6).map { Int32(4 + ($0 + i) % 8) } }
        for (name, var options) in Self.searches() {
            options.maxLengthA = 10
            options.maxLengthB = 20
            options.maxLengthRatio = 1.5
            for (i, list) in beamSearch(model: model, sources: sources, options: options).enumerated() {
                // Tokens with </s> within the bound (Marian's search ends at it without </s>).
                let bound = Int((1.5 * Double(sources[i].count)).rounded(.up))
                for h in list { #expect(h.tokens.count + (name == "marian" ? 0 : 1) <= bound, "\(name)") }
            }
        }
    }
}
