// EpochBatches: the stream of training batches across epochs — each epoch's plan (Batcher.epoch), the
// position in it (kept in `TrainingProgress`, so a resume continues mid-epoch), and BPE-dropout
// re-segmentation of each batch's sentences (Provilkov et al. 2020) with its own generator.

public final class EpochBatches {
    let corpus: ParallelCorpus
    let maxTokens: Int
    let seed: UInt64
    let maxLength: Int
    let bpeDropout: Double
    /// Sentence indices of each batch of the current epoch.
    private var plan: [[Int]]
    private let tokenizer: any Tokenizer
    private var sourceEncoder: any TokenEncoder
    private var targetEncoder: any TokenEncoder
    /// BPE-dropout's generator (its state is saved in checkpoints).
    public private(set) var rng: RandomGenerator

    public init(corpus: ParallelCorpus, tokenizer: any Tokenizer, maxTokens: Int, seed: UInt64, maxLength: Int, bpeDropout: Double,
                epoch: Int, rng: RandomGenerator) {
        self.corpus = corpus
        self.maxTokens = maxTokens
        self.seed = seed
        self.maxLength = maxLength
        self.bpeDropout = bpeDropout
        self.rng = rng
        self.tokenizer = tokenizer
        (sourceEncoder, targetEncoder) = (tokenizer.makeEncoder(for: .source), tokenizer.makeEncoder(for: .target))
        plan = Batcher.epoch(corpus, maxTokens: maxTokens, seed: seed, epoch: epoch)
    }

    /// Batches in the current epoch's plan.
    public var batchesPerEpoch: Int { plan.count }

    /// The next `count` batches from `progress`'s position, moving it on; a new epoch begins when
    /// one ends (`newEpoch` hears its number and the update count), and the batches stop early when that epoch is `stopEpoch`.
    public func next(_ count: Int, progress: inout TrainingProgress, stopEpoch: Int?, newEpoch: (_ epoch: Int, _ step: Int) -> Void) -> [Batch] {
        var batches: [Batch] = []
        for _ in 0..<count {
            if progress.batchInEpoch >= plan.count {
                progress.epoch += 1
                progress.batchInEpoch = 0
                newEpoch(progress.epoch, progress.step)
                if let stopEpoch, progress.epoch >= stopEpoch { break }
                plan = Batcher.epoch(corpus, maxTokens: maxTokens, seed: seed, epoch: progress.epoch)
            }
            let indices = plan[progress.batchInEpoch]
            progress.batchInEpoch += 1
            batches.append(batch(indices))
        }
        return batches
    }

    private func batch(_ indices: [Int]) -> Batch {
        let pairs: [(source: [Int32], target: [Int32])]
        if bpeDropout > 0, let sources = corpus.sourceText, let targets = corpus.targetText {
            pairs = indices.map { i in
                (source: Array(sourceEncoder.encode(sources[i], dropout: bpeDropout, rng: &rng).prefix(maxLength)),
                 target: Array(targetEncoder.encode(targets[i], dropout: bpeDropout, rng: &rng).prefix(maxLength)))
            }
        } else {
            pairs = indices.map { (source: Array(corpus.source($0)), target: Array(corpus.target($0))) }
        }
        var batch = Batch(pairs: pairs)
        // Word links onto this segmentation's tokens.
        for (b, i) in indices.enumerated() {
            guard let words = corpus.alignment(i) else { continue }
            batch.alignment += AlignmentLinks.tokenLinks(pair: b, words: words, sourceWords: tokenizer.wordIndices(pairs[b].source, side: .source),
                                                         targetWords: tokenizer.wordIndices(pairs[b].target, side: .target))
        }
        return batch
    }
}
