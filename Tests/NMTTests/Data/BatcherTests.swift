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
}
