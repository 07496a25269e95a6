// Validation: loss and perplexity on the validation set (dropout off), and BLEU of its greedy
// (or beam) translations against the raw references, with nmt's sacreBLEU-exact scorer.

import Foundation

public struct Validation {
    let corpus: ParallelCorpus
    let sources: [[Int32]]
    let references: [String]

    public init(sourcePath: String, targetPath: String, tokenizer: BPETokenizer, maxLength: Int, maxSentences: Int?) throws {
        let (corpus, _) = try ParallelCorpus.load(sourcePath: sourcePath, targetPath: targetPath, tokenizer: tokenizer,
                                                  maxLength: maxLength, maxLengthRatio: .infinity)
        self.corpus = corpus
        var sourceLines = try readLines(path: sourcePath), targetLines = try readLines(path: targetPath)
        if let m = maxSentences { sourceLines = Array(sourceLines.prefix(m)); targetLines = Array(targetLines.prefix(m)) }
        var encoder = tokenizer.encoder()
        sources = sourceLines.map { Array(encoder.encode($0).prefix(maxLength)) }
        references = targetLines
    }

    public func loss(model: Transformer, labelSmoothing: Float, maxTokens: Int, arena: Arena) -> CrossEntropyResult {
        var total = CrossEntropyResult(lossSum: 0, nllSum: 0, tokens: 0)
        for indices in BatchPlan(corpus: corpus, maxTokens: max(maxTokens, 2 * 1024), seed: 0, epoch: 0).batches {
            let batch = Batch(pairs: indices.map { (source: Array(corpus.source($0)), target: Array(corpus.target($0))) })
            let r = model.score(batch, labelSmoothing: labelSmoothing, arena: arena).loss
            total.lossSum += r.lossSum
            total.nllSum += r.nllSum
            total.tokens += r.tokens
        }
        return total
    }

    public func bleu(model: Transformer, tokenizer: BPETokenizer, beam: Int) -> Double {
        var options = SearchOptions()
        options.beam = beam
        let hypotheses = translateInBatches(model: model, sources: sources, options: options, batchSize: 64).map { tokenizer.decode($0[0].tokens) }
        return BLEU().corpusScore(hypotheses: hypotheses, references: [references]).score
    }
}

/// Translates in length-sorted batches of up to `batchSize` sentences, returning results in input order.
public func translateInBatches(model: Transformer, sources: [[Int32]], options: SearchOptions, batchSize: Int) -> [[Hypothesis]] {
    let order = sources.indices.sorted { sources[$0].count != sources[$1].count ? sources[$0].count < sources[$1].count : $0 < $1 }
    let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    return searchBatches(model: model, sources: sources, batches: batches, options: options)
}
