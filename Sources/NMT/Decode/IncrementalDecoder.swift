// IncrementalDecoder: runs the decoder one target position at a time for R hypotheses, caching
// each layer's self-attention keys and values, so step t costs O(t) instead of re-running the
// prefix. Cross-attention keys and values are projected once per source sentence.
//
// It uses the training code's pieces — embed, Sublayer, linear, scores/softmax/weightedValues,
// FeedForward — so there is one implementation of each operation.
//
// Caches: per layer, selfKeys/selfValues [R, Tmax, C] (row r holds hypothesis r's prefix) and
// crossKeys/crossValues [R, S, C]. Beam search reorders hypotheses with `reorder(parents:)`.

public final class IncrementalDecoder {
    let model: Transformer
    let rows: Int            // R hypotheses
    let maxLength: Int       // Tmax positions cached
    let sourceLength: Int    // S
    private(set) var position = 0
    private var selfKeys: [UnsafeMutablePointer<Float>] = []
    private var selfValues: [UnsafeMutablePointer<Float>] = []
    private var crossKeys: [UnsafeMutablePointer<Float>] = []
    private var crossValues: [UnsafeMutablePointer<Float>] = []
    private let sourcePadding: UnsafeMutablePointer<UInt8>  // [R, S]
    private let scratch: UnsafeMutablePointer<Float>        // for reordering
    let arena = Arena()

    /// `encoderOutput` is [B·S, C]; hypothesis r belongs to source sentence `sentenceOf[r]`.
    init(model: Transformer, encoderOutput: Tensor, sourcePadding: UnsafePointer<UInt8>, sourceLength: Int,
         sentenceOf: [Int], maxLength: Int) {
        self.model = model
        rows = sentenceOf.count
        self.maxLength = maxLength
        self.sourceLength = sourceLength
        let c = model.config.dModel
        let s = sourceLength
        self.sourcePadding = .allocate(capacity: rows * s)
        for (r, b) in sentenceOf.enumerated() { (self.sourcePadding + r * s).update(from: sourcePadding + b * s, count: s) }
        scratch = .allocate(capacity: rows * max(maxLength, s) * c)
        // Project the encoder output once per source sentence, then give each hypothesis its rows.
        let batch = encoderOutput.rows / s
        let projected = Arena()
        for layer in model.weights.decoder {
            let k = projected.tensor(Shape(batch * s, c)), v = projected.tensor(Shape(batch * s, c))
            linearForward(k, encoderOutput, weight: layer.crossAttention.k.weight, bias: layer.crossAttention.k.bias)
            linearForward(v, encoderOutput, weight: layer.crossAttention.v.weight, bias: layer.crossAttention.v.bias)
            let keys = UnsafeMutablePointer<Float>.allocate(capacity: rows * s * c)
            let values = UnsafeMutablePointer<Float>.allocate(capacity: rows * s * c)
            for (r, b) in sentenceOf.enumerated() {
                (keys + r * s * c).update(from: k.pointer + b * s * c, count: s * c)
                (values + r * s * c).update(from: v.pointer + b * s * c, count: s * c)
            }
            crossKeys.append(keys)
            crossValues.append(values)
            selfKeys.append(.allocate(capacity: rows * maxLength * c))
            selfValues.append(.allocate(capacity: rows * maxLength * c))
            projected.reset()
        }
    }

    deinit {
        (selfKeys + selfValues + crossKeys + crossValues).forEach { $0.deallocate() }
        sourcePadding.deallocate()
        scratch.deallocate()
    }

    /// Log-probabilities [R, V] of the next token after feeding `tokens` (one per hypothesis) at
    /// the current position. Valid until the next call.
    func step(_ tokens: [Int32]) -> Tensor {
        require(tokens.count == rows, "IncrementalDecoder.step: \(tokens.count) tokens for \(rows) hypotheses")
        require(position < maxLength && position < model.config.maxPositions, "IncrementalDecoder.step: position \(position) beyond the cache")
        arena.reset()
        let config = model.config, c = config.dModel, heads = config.heads
        var noDropout = RandomGenerator(seed: 0)
        let ids = arena.ids(rows)
        for (r, t) in tokens.enumerated() { ids[r] = t }
        var (x, _) = model.embed(ids, count: rows, length: 1, dropout: 0, rng: &noDropout, positionOffset: position, arena: arena)
        let keys = position + 1
        for (l, w) in model.weights.decoder.enumerated() {
            // Causal self-attention over the cached prefix plus this position.
            var block = Sublayer.begin(x, norm: w.selfAttentionNorm, preNorm: config.preNorm, arena: arena)
            let h = block.functionInput
            let q = arena.tensor(Shape(rows, c)), kNew = arena.tensor(Shape(rows, c)), vNew = arena.tensor(Shape(rows, c))
            linearForward(q, h, weight: w.selfAttention.q.weight, bias: w.selfAttention.q.bias)
            linearForward(kNew, h, weight: w.selfAttention.k.weight, bias: w.selfAttention.k.bias)
            linearForward(vNew, h, weight: w.selfAttention.v.weight, bias: w.selfAttention.v.bias)
            for r in 0..<rows {
                (selfKeys[l] + (r * maxLength + position) * c).update(from: kNew.pointer + r * c, count: c)
                (selfValues[l] + (r * maxLength + position) * c).update(from: vNew.pointer + r * c, count: c)
            }
            let selfOut = attend(q: q, keys: selfKeys[l], values: selfValues[l], stride: maxLength * c, keyCount: keys,
                                 mask: AttentionMask(), output: w.selfAttention.out, heads: heads)
            x = block.end(selfOut, norm: w.selfAttentionNorm, dropout: 0, rng: &noDropout, arena: arena)

            var cross = Sublayer.begin(x, norm: w.crossAttentionNorm, preNorm: config.preNorm, arena: arena)
            let crossQ = arena.tensor(Shape(rows, c))
            linearForward(crossQ, cross.functionInput, weight: w.crossAttention.q.weight, bias: w.crossAttention.q.bias)
            let crossOut = attend(q: crossQ, keys: crossKeys[l], values: crossValues[l], stride: sourceLength * c,
                                  keyCount: sourceLength, mask: AttentionMask(keyPadding: sourcePadding),
                                  output: w.crossAttention.out, heads: heads)
            x = cross.end(crossOut, norm: w.crossAttentionNorm, dropout: 0, rng: &noDropout, arena: arena)

            var feedForwardBlock = Sublayer.begin(x, norm: w.finalNorm, preNorm: config.preNorm, arena: arena)
            let f = arena.tensor(x.shape)
            _ = FeedForward.forward(f, feedForwardBlock.functionInput, weights: w.feedForward, activation: config.activation,
                                    dropout: 0, rng: &noDropout, arena: arena)
            x = feedForwardBlock.end(f, norm: w.finalNorm, dropout: 0, rng: &noDropout, arena: arena)
        }
        if let norm = model.weights.decoderNorm { x = model.finalNormForward(x, norm, arena: arena).1 }
        let logits = arena.tensor(Shape(rows, config.vocabularySize))
        matmul(logits, x, model.weights.embedding, transposeB: true)
        logSoftmaxRows(logits)
        // <pad>, <unk> and <s> are never generated (as fairseq forbids <pad>); the rest keep their
        // log-probabilities, so scores stay equal to forced decoding's.
        for r in 0..<rows {
            let row = logits.pointer + r * config.vocabularySize
            row[Int(Vocabulary.padding)] = -.infinity
            row[Int(Vocabulary.unknown)] = -.infinity
            row[Int(Vocabulary.beginOfSentence)] = -.infinity
        }
        position += 1
        return logits
    }

    /// Attention of one query per hypothesis over `keyCount` cached keys, then the output projection.
    private func attend(q: Tensor, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, stride: Int,
                        keyCount: Int, mask: AttentionMask, output: LinearWeights, heads: Int) -> Tensor {
        let c = q.columns
        let probs = arena.tensor(Shape(rows, heads, 1, keyCount))
        let k = Tensor(keys, Shape(rows * keyCount, c)), v = Tensor(values, Shape(rows * keyCount, c))
        MultiHeadAttention.scores(probs, q: q, k: k, keyStride: stride, batch: rows, queries: 1, keys: keyCount, heads: heads)
        attentionSoftmaxForward(probs, batch: rows, heads: heads, queries: 1, keys: keyCount, mask: mask)
        let context = arena.tensor(Shape(rows, c))
        MultiHeadAttention.weightedValues(context, probs: probs, v: v, valueStride: stride, batch: rows, queries: 1, keys: keyCount, heads: heads)
        let out = arena.tensor(Shape(rows, c))
        linearForward(out, context, weight: output.weight, bias: output.bias)
        return out
    }

    /// Hypothesis r continues hypothesis `parents[r]`: copies the cached prefixes accordingly.
    /// Rows whose parent is themselves stay in place; the others are gathered through a scratch
    /// buffer (a row may be the parent of several).
    func reorder(parents: [Int]) {
        let c = model.config.dModel
        let moved = parents.enumerated().filter { $0.offset != $0.element }
        if moved.isEmpty { return }
        let length = position * c
        for cache in selfKeys + selfValues {
            for (k, (_, p)) in moved.enumerated() { (scratch + k * length).update(from: cache + p * maxLength * c, count: length) }
            for (k, (r, _)) in moved.enumerated() { (cache + r * maxLength * c).update(from: scratch + k * length, count: length) }
        }
    }
}

/// x[r, :] ← log softmax(x[r, :]) in place.
func logSoftmaxRows(_ x: Tensor) {
    let v = x.columns
    Threads.parallelChunks(x.rows, minChunk: 4) { rows in
        for r in rows {
            let p = x.pointer + r * v
            let m = maximum(p, v)
            let total = expSumOnly(p, v, shift: m)
            let logZ = m + Float(Foundation.log(Double(total)))
            for j in 0..<v { p[j] -= logZ }
        }
    }
}

import Foundation
