// Validation: loss and perplexity on the validation set (dropout off), and BLEU of its greedy
// (or beam) translations against the raw references, with nmt's sacreBLEU-exact scorer.

import Foundation

public struct Validation {
    let corpus: ParallelCorpus
    let sources: [String]
    let references: [String]

    public init(sourcePath: String, targetPath: String, tokenizer: any Tokenizer, maxLength: Int, maxSentences: Int?) throws {
        let (corpus, _) = try ParallelCorpus.load(sourcePath: sourcePath, targetPath: targetPath, tokenizer: tokenizer,
                                                  maxLength: maxLength, maxLengthRatio: .infinity)
        self.corpus = corpus
        var sourceLines = try readLines(path: sourcePath), targetLines = try readLines(path: targetPath)
        if let m = maxSentences { sourceLines = Array(sourceLines.prefix(m)); targetLines = Array(targetLines.prefix(m)) }
        sources = sourceLines
        references = targetLines
    }

    public func loss(model: Transformer, labelSmoothing: Float, maxTokens: Int, arena: Arena) -> CrossEntropyResult {
        var total = CrossEntropyResult(lossSum: 0, nllSum: 0, tokens: 0)
        for indices in Batcher.epoch(corpus, maxTokens: max(maxTokens, 2 * 1024), seed: 0, epoch: 0) {
            let batch = Batch(pairs: indices.map { (source: Array(corpus.source($0)), target: Array(corpus.target($0))) })
            let r = model.score(batch, labelSmoothing: labelSmoothing, arena: arena).loss
            total.lossSum += r.lossSum
            total.nllSum += r.nllSum
            total.tokens += r.tokens
        }
        return total
    }

    /// Corpus BLEU of `translator`'s translations of the validation sources.
    public func bleu(translator: Translator) -> Double {
        let hypotheses = translator.translate(sources).map(\.text)
        return BLEU().corpusScore(hypotheses: hypotheses, references: [references]).score
    }
}
