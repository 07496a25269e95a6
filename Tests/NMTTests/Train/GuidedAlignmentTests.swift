// Guided alignment: the links a batch carries, and a head that learns them.

import Foundation
import Testing
@testable import NMT

@Suite struct GuidedAlignmentTests {
    @Test func aMosesLineParsesIntoWordLinks() throws {
        #expect(try AlignmentLinks.parse("0-0 2-1  1-3", sourceWords: 3, targetWords: 4).get() == [0, 0, 2, 1, 1, 3])
        #expect(try AlignmentLinks.parse("", sourceWords: 3, targetWords: 4).get() == [])
    }

    @Test func linksBeyondTheLineOrNotOfTheFormIJAreErrors() throws {
        func message(_ line: Substring) -> String? {
            if case .failure(let error) = AlignmentLinks.parse(line, sourceWords: 3, targetWords: 2) { return error.message }
            return nil
        }
        #expect(message("0-0 3-1") == "link 3-1 names source word 3 but the source line has 3 words")
        #expect(message("0-2") == "link 0-2 names target word 2 but the target line has 2 words")
        for bad: Substring in ["0-", "a-1", "1-1-1", "-1-0", "0:1", "+1-0"] {
            #expect(message(bad)?.contains("is not a link i-j") == true, "\(bad)")
        }
    }

    /// Every piece of a linked source word to every piece of the linked target word, </s> to
    /// </s>, each target token's links sharing weight 1.
    @Test func wordLinksReachEveryPieceOfTheirWordsAndEndOfSentenceLinksEndOfSentence() {
        // Source words: [0, 0, 1] (two pieces, then one); target: [0, 1, 1].
        let links = AlignmentLinks.tokenLinks(pair: 2, words: [0, 1, 1, 0, 1, 1], sourceWords: [0, 0, 1], targetWords: [0, 1, 1])
        let expected: [(Int32, Int32, Float)] = [(0, 2, 1), (1, 0, 1.0 / 3), (1, 1, 1.0 / 3), (1, 2, 1.0 / 3), (2, 0, 1.0 / 3), (2, 1, 1.0 / 3),
                                                  (2, 2, 1.0 / 3), (3, 3, 1)]
        #expect(links == expected.map { AlignmentLink(pair: 2, target: $0.0, source: $0.1, weight: $0.2) })
    }

    @Test func aCorpusKeepsEachKeptPairsLinksAndChecksTheFileLineByLine() throws {
        let dir = try TemporaryDirectory()
        let source = try dir.write("s.txt", "a b c\n\nd e\n"), target = try dir.write("t.txt", "x y\nz\nw v u\n")
        let tokenizer = try BPETokenizer.learn(files: [source, target], merges: 10)
        let aligned = try dir.write("a.txt", "0-0 2-1\n\n1-2 0-0\n")
        let (corpus, stats) = try ParallelCorpus.load(sourcePath: source, targetPath: target, tokenizer: tokenizer, maxLength: 100, maxLengthRatio: 100,
                                                      alignmentPath: aligned)
        #expect(stats.empty == 1)
        #expect(corpus.count == 2)
        #expect(corpus.alignment(0).map(Array.init) == [0, 0, 2, 1])
        #expect(corpus.alignment(1).map(Array.init) == [1, 2, 0, 0])
        func error(_ alignment: String) -> String {
            do {
                _ = try ParallelCorpus.load(sourcePath: source, targetPath: target, tokenizer: tokenizer, maxLength: 100, maxLengthRatio: 100,
                                            alignmentPath: try dir.write("bad.txt", alignment))
                return ""
            } catch { return "\(error)" }
        }
        #expect(error("0-0\n\n0-3\n") == "\(dir.path("bad.txt")):3: link 0-3 names target word 3 but the target line has 3 words")
        #expect(error("0-0\n") == "\(dir.path("bad.txt")) has 1 lines but \(source) has 3; the alignment needs one line per sentence pair")
    }

    /// Corpora combined for back-translation: only the aligned one's pairs carry links.
    @Test func onlyTheAlignedCorpusOfACombinationHasLinks() throws {
        let dir = try TemporaryDirectory()
        let source = try dir.write("s.txt", "a b\n"), target = try dir.write("t.txt", "x y\n")
        let tokenizer = try BPETokenizer.learn(files: [source, target], merges: 10)
        let aligned = try ParallelCorpus.load(sourcePath: source, targetPath: target, tokenizer: tokenizer, maxLength: 100, maxLengthRatio: 100,
                                              alignmentPath: try dir.write("a.txt", "1-0\n")).0
        let plain = try ParallelCorpus.load(sourcePath: source, targetPath: target, tokenizer: tokenizer, maxLength: 100, maxLengthRatio: 100).0
        let both = ParallelCorpus.combine([(plain, "plain", 1), (aligned, "aligned", 1)])
        #expect(both.alignment(0) == nil)
        #expect(both.alignment(1).map(Array.init) == [1, 0])
        let batches = EpochBatches(corpus: both, tokenizer: tokenizer, maxTokens: 100, seed: 1, maxLength: 100, bpeDropout: 0, epoch: 0,
                                   rng: RandomGenerator(seed: 1))
        var progress = TrainingProgress(dropoutRng: RandomGenerator(seed: 1).state, bpeDropoutRng: RandomGenerator(seed: 2).state, fingerprint: "",
                                        options: TrainingOptions())
        let batch = batches.next(1, progress: &progress, stopEpoch: nil) { _, _ in }[0]
        #expect(batch.size == 2)
        #expect(Set(batch.alignment.map(\.pair)).count == 1)
    }

    /// Reversal, whose translation needs target token j to see source token n−1−j, guided toward
    /// other links (j to j): head 0 of the last layer attends as the links say; trained without
    /// them, the same head attends where the task leads.
    @Test func aGuidedHeadLearnsTheGivenAlignments() throws {
        func diagonalLinks(_ batch: Batch, sources: [[Int32]]) -> [AlignmentLink] {
            sources.enumerated().flatMap { b, source -> [AlignmentLink] in
                let n = source.count
                let words = (0..<n).flatMap { [Int32($0), Int32($0)] }
                return AlignmentLinks.tokenLinks(pair: b, words: words[...], sourceWords: Array(0..<n), targetWords: Array(0..<n))
            }
        }
        func train(alignmentWeight: Float) throws -> Double {
            var config = TransformerConfig(vocabularySize: 20, dModel: 32, ffnDim: 64, heads: 4, encoderLayers: 1, decoderLayers: 2,
                                           dropout: 0, maxPositions: 16)
            config.alignmentHead = 0
            let model = try Transformer(config: config)
            model.initialize(seed: 5)
            let adam = Adam(count: model.parameters.count, beta2: 0.98)
            var data = RandomGenerator(seed: 6)
            let gradients = TransformerGradients(for: model), arena = Arena()
            for step in 1...300 {
                let sources = TransformerLearningTests.reversalSources(&data, size: 32)
                var batch = Batch(pairs: sources.map { (source: $0, target: Array($0.reversed())) })
                batch.alignment = diagonalLinks(batch, sources: sources)
                gradients.zero()
                let pass = model.forward(batch, dropout: nil, compute: .float32, arena: arena)
                model.backward(pass, labelSmoothing: 0, alignmentWeight: alignmentWeight, gradients: gradients, compute: .float32, arena: arena)
                let lr = LearningRateSchedule.inverseSqrt.rate(step: step, lr: 5e-3, warmup: 50, warmupInitLR: 1e-5, dModel: 32)
                adam.update(parameters: model.parameters.values, gradients: gradients.buffer.pointer, lr: Float(lr))
            }
            // Held out: the share of target tokens (</s> aside) whose most attended source token is the linked one;
            // the middle token of an odd length is where both readings agree.
            var heldOut = RandomGenerator(seed: 77)
            let sources = TransformerLearningTests.reversalSources(&heldOut, size: 200)
            var batch = Batch(pairs: sources.map { (source: $0, target: Array($0.reversed())) })
            batch.alignment = diagonalLinks(batch, sources: sources)
            let probs = model.forward(batch, dropout: nil, compute: .float32, arena: arena).decoderLayers[1].crossAttention.probs
            let (heads, t, s) = (probs.shape[1], probs.shape[2], probs.shape[3])
            var hits = 0, total = 0
            for link in batch.alignment where Int(link.target) < sources[Int(link.pair)].count && 2 * link.target + 1 != sources[Int(link.pair)].count {
                let row = probs.pointer + ((Int(link.pair) * heads + 0) * t + Int(link.target)) * s
                let best = (0..<s).max { row[$0] < row[$1] }!
                hits += best == Int(link.source) ? 1 : 0
                total += 1
            }
            return Double(hits) / Double(total)
        }
        let guided = try train(alignmentWeight: 1), unguided = try train(alignmentWeight: 0)
        #expect(guided >= 0.95, "guided head agrees on \(guided)")
        #expect(unguided < 0.5, "unguided head agrees on \(unguided)")
    }
}
