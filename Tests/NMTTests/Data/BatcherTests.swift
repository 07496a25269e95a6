// The one batcher: translation's length-sorted batches, rescoring's consecutive ones and
// training's epoch plan are the same cut under different orders and limits.

import Testing
@testable import NMT

@Suite struct BatcherTests {
    @Test func batchesAreLengthSortedAndBoundedBySentencesOrTokens() {
        let lengths = [5, 1, 3, 3, 9, 2]
        let order = Batcher.byLength(lengths)
        #expect(Batcher.batches(order, length: { lengths[$0] }, limit: .sentences(2)) == [[1, 5], [2, 3], [0, 4]])
        // A token limit counts padded tokens: sentences × (longest + 1).
        #expect(Batcher.batches(order, length: { lengths[$0] }, limit: .tokens(12)) == [[1, 5, 2], [3, 0], [4]])
    }

    @Test func aSentenceLongerThanTheLimitIsABatchOfItsOwn() {
        let lengths = [2, 40, 2]
        #expect(Batcher.batches([0, 1, 2], length: { lengths[$0] }, limit: .tokens(10)) == [[0], [1], [2]])
    }

    @Test func theLongestSentenceSoFarSetsATokenBatchsCostInAnyOrder() {
        // Input order (not sorted): the second sentence makes the batch 2 × 10 = 20 tokens.
        let lengths = [9, 1, 1]
        #expect(Batcher.batches([0, 1, 2], length: { lengths[$0] }, limit: .tokens(20)) == [[0, 1], [2]])
    }

    @Test func anEpochPlanCoversEveryPairOnceWithinTheLimitAndDependsOnlyOnSeedAndEpoch() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 200)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 100)
        let corpus = try ParallelCorpus.load(sourcePath: en, targetPath: es, tokenizer: tokenizer, maxLength: 120, maxLengthRatio: 1e9).0
        let plan = Batcher.epoch(corpus, maxTokens: 500, seed: 3, epoch: 1)
        #expect(plan.flatMap { $0 }.sorted() == Array(0..<corpus.count))
        for batch in plan where batch.count > 1 {
            let longest = batch.map { max(corpus.sourceLength($0), corpus.targetLength($0)) + 1 }.max()!
            #expect(batch.count * longest <= 500)
        }
        #expect(plan == Batcher.epoch(corpus, maxTokens: 500, seed: 3, epoch: 1))
        #expect(plan != Batcher.epoch(corpus, maxTokens: 500, seed: 3, epoch: 2))
    }

    @Test func anEpochDrawsEachCorpusByItsWeight() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 200)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 100)
        let corpus = try ParallelCorpus.load(sourcePath: en, targetPath: es, tokenizer: tokenizer, maxLength: 120, maxLengthRatio: 1e9).0
        let combined = ParallelCorpus.combine([(corpus, "a", 2), (corpus, "b", 0.5), (corpus, "c", 0)])
        let n = corpus.count
        for epoch in 1...2 {
            let drawn = Batcher.epoch(combined, maxTokens: 500, seed: 3, epoch: epoch).flatMap { $0 }
            let counts = Dictionary(grouping: drawn, by: { $0 }).mapValues(\.count)
            #expect((0..<n).allSatisfy { counts[$0] == 2 })                                      // weight 2: every pair twice
            #expect((n..<(2 * n)).filter { counts[$0] != nil }.count == Int((0.5 * Double(n)).rounded()))  // 0.5: half of them
            #expect((n..<(2 * n)).allSatisfy { (counts[$0] ?? 0) <= 1 })
            #expect(((2 * n)..<(3 * n)).allSatisfy { counts[$0] == nil })                          // 0: none
        }
        let halves = (1...2).map { epoch in Set(Batcher.epoch(combined, maxTokens: 500, seed: 3, epoch: epoch).flatMap { $0 }.filter { $0 >= n && $0 < 2 * n }) }
        #expect(halves[0] != halves[1])  // a new random half each epoch
    }

    @Test func aTaggedCorpusReadsAsIfEachSourceLineStartedWithTheTag() throws {
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 50)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 100)
        let tagged = try ParallelCorpus.load(sourcePath: en, targetPath: es, tokenizer: tokenizer, maxLength: 100_000, maxLengthRatio: 1e9, sourceTag: "<BT>").0
        var encoder = tokenizer.makeEncoder(for: .source)
        let lines = try readLines(path: en)
        #expect(tagged.count == lines.count)
        for i in 0..<tagged.count { #expect(Array(tagged.source(i)) == encoder.encode("<BT> " + lines[i])) }
    }
}
