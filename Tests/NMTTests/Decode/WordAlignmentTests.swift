import Foundation
import Testing
@testable import NMT

@Suite struct WordAlignmentTests {
    /// Source "a b c" as 4 tokens (b split in two), target "x y" as 3 (y split).
    static func words(_ starts: Set<Int32>) -> ([Int32]) -> [Int] {
        { ids in var w = -1; return ids.map { if w < 0 || starts.contains($0) { w += 1 }; return w } }
    }

    @Test func hardAlignmentTakesEachTokensMostAttendedSourceTokenAndMergesPiecesIntoWords() {
        let source: [Int32] = [10, 11, 12, 13], target: [Int32] = [20, 21, 22]

        // Rows: x → c, y(1) → b(2nd piece), y(2) → b(1st piece), </s> → a; the </s> column last.
        let attention: [Float] = [
            0.1, 0.1, 0.1, 0.6, 0.1,
            0.1, 0.2, 0.5, 0.1, 0.1,
            0.0, 0.7, 0.1, 0.1, 0.1,
            0.9, 0.0, 0.0, 0.0, 0.1,
        ]
        let hard = WordAlignment.format(.hard, attention: attention, source: source, target: target,
                                        sourceWords: Self.words([10, 11, 13]), targetWords: Self.words([20, 21]))
        #expect(hard == "1-1 2-0")
    }

    @Test func tokensAttendingMostToTheSourceEndAreUnaligned() {
        let attention: [Float] = [0.1, 0.9, 0.8, 0.2]
        let hard = WordAlignment.format(.hard, attention: attention, source: [10], target: [20],
                                        sourceWords: Self.words([]), targetWords: Self.words([]))
        #expect(hard == "")
    }

    @Test func softAlignmentPrintsTheMatrixAsMarianDoes() {
        let soft = WordAlignment.format(.soft, attention: [0.25, 0.75, 1, 0], source: [10], target: [20],
                                        sourceWords: Self.words([]), targetWords: Self.words([]))
        #expect(soft == "0.25,0.75 1,0")
    }

    @Test func searchesRecordARowOfSourceAttentionPerOutputToken() throws {
        let model = try randomModel(vocabulary: 30)
        let sources: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11]]
        for (name, var options) in DecodingConstraintTests.searches() {
            options.recordAttention = true
            for (i, list) in beamSearch(model: model, sources: sources, options: options).enumerated() {
                for h in list {
                    let s = sources[i].count + 1, attention = h.attention ?? []
                    #expect(attention.count % s == 0 && attention.count / s >= h.tokens.count, "\(name)")
                    for row in 0..<(attention.count / s) {
                        let sum = attention[(row * s)..<((row + 1) * s)].reduce(0, +)
                        #expect(abs(sum - 1) < 1e-4, "\(name): row \(row) sums to \(sum)")
                    }
                }
            }
        }
    }

    @Test func aModelsAlignmentHeadIsReportedInsteadOfTheHeadsAverage() throws {
        let model = try randomModel(vocabulary: 30)
        let sources: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11]]
        func attention(layer: Int?, head: Int?) throws -> [Float] {
            var config = model.config
            (config.alignmentLayer, config.alignmentHead) = (layer, head)
            let m = try Transformer(config: config, parameters: model.parameters)
            let state = m.start(sources: sources, maxLength: 2, workspace: DecodingWorkspace())
            let next = m.step([Vocabulary.beginOfSentence, Vocabulary.beginOfSentence], state: state, attention: true)
            return (0..<2).flatMap { next.attentionRow($0, sourceLength: state.sourceLength, count: state.sourcePositions(of: $0)) }
        }
        let average = try attention(layer: nil, head: nil)
        let heads = try (0..<model.config.heads).map { try attention(layer: 1, head: $0) }
        #expect(heads[0] != heads[1])
        for i in average.indices {
            let mean = heads.map { $0[i] }.reduce(0, +) / Float(heads.count)
            #expect(abs(mean - average[i]) < 1e-6)
        }
        #expect(try attention(layer: 0, head: nil) != average)
    }
}
