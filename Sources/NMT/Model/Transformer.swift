// Transformer: the encoder–decoder of Vaswani et al. (2017) with fairseq's conventions, its
// forward pass over a padded batch and its hand-written backward pass.
//
//   encoder:  x = dropout(√C·E[src] + PE);  L × [self-attention, feed-forward];  LN (pre-norm)
//   decoder:  y = dropout(√C·E[tgt_in] + PE);  L × [causal self-attention, cross-attention,
//             feed-forward];  LN (pre-norm)
//   logits = h·Eᵀ (shared embedding, no bias); label-smoothed cross-entropy per target token.
// Activations live in the arena (reset at the start of each call; after the largest batch has
// been seen, a step allocates nothing). Gradients accumulate into the ParameterStore's one
// contiguous gradient buffer.

import Foundation

struct EncoderLayerActivations {
    var attentionBlock: Sublayer
    var attention: AttentionActivations
    var feedForwardBlock: Sublayer
    var feedForward: FeedForwardActivations
}

struct DecoderLayerActivations {
    var selfAttentionBlock: Sublayer
    var selfAttention: AttentionActivations
    var crossAttentionBlock: Sublayer
    var crossAttention: AttentionActivations
    var feedForwardBlock: Sublayer
    var feedForward: FeedForwardActivations
}

/// Embedding-stage activations: ids and the dropout mask.
struct EmbeddingActivations {
    var ids: UnsafeMutablePointer<Int32>
    var dropMask: DropoutMask?
}

public final class Transformer: @unchecked Sendable {
    public let config: TransformerConfig
    /// Floats of logits alive at once in a training step (rows per chunk = this / V).
    var outputChunkFloats = 1 << 22
    public let parameters: ParameterStore
    public let weights: TransformerWeights
    public let gradients: TransformerWeights
    /// Sinusoidal positions [maxPositions, C], computed once.
    public let positions: Tensor
    private let positionStorage: UnsafeMutablePointer<Float>
    public let arena = Arena()
    var embeddingScale: Float { Float(config.dModel).squareRoot() }

    public init(config: TransformerConfig) throws {
        try config.validate()
        self.config = config
        parameters = ParameterStore(entries: TransformerWeights.layout(config))
        weights = TransformerWeights(parameters, parameters.values, config)
        gradients = TransformerWeights(parameters, parameters.gradients, config)
        positionStorage = .allocate(capacity: config.maxPositions * config.dModel)
        positions = Tensor(positionStorage, Shape(config.maxPositions, config.dModel))
        sinusoidalTable(into: positions)
    }

    deinit { positionStorage.deallocate() }

    /// Seeded initialisation: Xavier-uniform projections, N(0, C^−½) embeddings with a zero
    /// <pad> row, LayerNorm weight 1 and bias 0, all biases 0.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        parameters.valueBuffer.update(repeating: 0)
        for entry in parameters.entries {
            let t = parameters.value(entry.name)
            if entry.name == "embed_tokens.weight" {
                let std = 1 / Double(config.dModel).squareRoot()
                for i in 0..<t.count { t[i] = Float(rng.nextGaussian() * std) }
                for j in 0..<t.columns { t[Int(Vocabulary.padding) * t.columns + j] = 0 }
            } else if entry.name.hasSuffix("layer_norm.weight") {
                t.fill(1)
            } else if entry.name.hasSuffix(".weight") {
                let bound = (6 / Double(t.rows + t.columns)).squareRoot()
                for i in 0..<t.count { t[i] = Float((Double(rng.nextUnitFloat()) * 2 - 1) * bound) }
            }
        }
    }

    // MARK: training and scoring

    public struct StepResult {
        public var loss: CrossEntropyResult
        /// −log p of each target position [B·T] (0 at padding); valid until the next call.
        public var tokenNLL: UnsafeMutablePointer<Float>
        /// Logits [B·T, V] (forward-only calls; the backward pass overwrites them with gradients).
        public var logits: Tensor?
    }

    /// Forward pass over `batch`, and with `backward` the backward pass accumulating gradients
    /// of (loss sum · gradientScale); the default scale is 1/targetTokens (per-token mean).
    /// `training` turns dropout on.
    @discardableResult
    public func forward(_ batch: Batch, labelSmoothing: Float, training: Bool, backward: Bool,
                        rng: inout RandomGenerator, gradientScale: Float? = nil) -> StepResult {
        arena.reset()
        let (b, s, t) = (batch.size, batch.sourceLength, batch.targetLength)
        require(s <= config.maxPositions && t <= config.maxPositions,
                     "Transformer.forward: length \(max(s, t)) exceeds maxPositions \(config.maxPositions)")
        let p = training ? config.dropout : 0

        // Encoder.
        let sourcePadding = paddingMask(batch.source)
        let sourceIds = copyIds(batch.source)
        var (x, sourceEmbedding) = embed(sourceIds, count: b * s, length: s, dropout: p, rng: &rng)
        var encoderActs: [EncoderLayerActivations] = []
        encoderActs.reserveCapacity(config.encoderLayers)
        for layer in weights.encoder {
            let acts = encoderLayerForward(&x, layer, batch: b, length: s, padding: sourcePadding, training: training, rng: &rng)
            encoderActs.append(acts)
        }
        var encoderFinal: Sublayer? = nil
        var encoderOutput = x
        if let norm = weights.encoderNorm {
            let f = finalNormForward(x, norm)
            encoderFinal = f.0
            encoderOutput = f.1
        }

        // Decoder.
        let targetPadding = paddingMask(batch.targetInput)
        let targetIds = copyIds(batch.targetInput)
        var (y, targetEmbedding) = embed(targetIds, count: b * t, length: t, dropout: p, rng: &rng)
        var decoderActs: [DecoderLayerActivations] = []
        decoderActs.reserveCapacity(config.decoderLayers)
        for layer in weights.decoder {
            let acts = decoderLayerForward(&y, layer, encoderOutput: encoderOutput, batch: b, sourceLength: s, targetLength: t,
                                           sourcePadding: sourcePadding, targetPadding: targetPadding, training: training, rng: &rng)
            decoderActs.append(acts)
        }
        var decoderFinal: Sublayer? = nil
        var h = y
        if let norm = weights.decoderNorm {
            let f = finalNormForward(y, norm)
            decoderFinal = f.0
            h = f.1
        }

        // Output projection onto the shared embedding, and the loss.
        let targets = copyIds(batch.targetOutput)
        let rowLoss = arena.floats(b * t), rowNLL = arena.floats(b * t)
        let tokens = batch.targetTokens
        let scale = gradientScale ?? (tokens > 0 ? 1 / Float(tokens) : 0)
        guard backward else {
            let logits = arena.tensor(Shape(b * t, config.vocabularySize))
            matmul(logits, h, weights.embedding, transposeB: true)
            let loss = labelSmoothedCrossEntropy(logits: logits, targets: targets, paddingIndex: Vocabulary.padding,
                                                 labelSmoothing: labelSmoothing, rowLoss: rowLoss, rowNLL: rowNLL)
            return StepResult(loss: loss, tokenNLL: rowNLL, logits: logits)
        }
        // With a backward pass the [B·T, V] logits — the largest buffer of a step — are made a
        // chunk of rows at a time: logits, loss and gradient in place, then that chunk's share of
        // dH and dE, so only one chunk (≤ 2^22 floats) is alive.
        let dH = arena.tensor(h.shape)
        let v = config.vocabularySize, c = config.dModel
        let chunkRows = max(1, outputChunkFloats / v)
        for start in stride(from: 0, to: b * t, by: chunkRows) {
            let rows = min(chunkRows, b * t - start)
            let beforeChunk = arena.mark()
            let logits = arena.tensor(Shape(rows, v))
            let hChunk = Tensor(h.pointer + start * c, Shape(rows, c))
            matmul(logits, hChunk, weights.embedding, transposeB: true)
            labelSmoothedCrossEntropy(logits: logits, targets: targets + start, paddingIndex: Vocabulary.padding,
                                      labelSmoothing: labelSmoothing, rowLoss: rowLoss + start, rowNLL: rowNLL + start,
                                      gradient: logits, gradientScale: scale)
            let dLogits = logits
            matmul(Tensor(dH.pointer + start * c, Shape(rows, c)), dLogits, weights.embedding)
            matmul(gradients.embedding, dLogits, hChunk, transposeA: true, beta: 1)
            arena.release(to: beforeChunk)
        }
        let loss = crossEntropyTotals(rowLoss: rowLoss, rowNLL: rowNLL, targets: targets, count: b * t, paddingIndex: Vocabulary.padding)

        // Decoder stack.
        var dY = dH
        if let final = decoderFinal, let norm = weights.decoderNorm, let g = gradients.decoderNorm {
            dY = arena.zeros(y.shape)
            layerNormBackward(dx: dY, dWeight: g.weight, dBias: g.bias, dy: dH, x: final.input, weight: norm.weight,
                              mean: final.mean, rstd: final.rstd)
        }
        let dEncoderOutput = arena.zeros(encoderOutput.shape)
        // Each layer's input gradient goes into the buffer the layer above no longer needs.
        var dSpare = arena.tensor(dY.shape)
        for i in stride(from: config.decoderLayers - 1, through: 0, by: -1) {
            let dIn = dSpare
            dIn.zero()
            let temporaries = arena.mark()
            decoderLayerBackward(dY, into: dIn, decoderActs[i], weights.decoder[i], gradients.decoder[i], dEncoderOutput: dEncoderOutput)
            arena.release(to: temporaries)
            (dY, dSpare) = (dIn, dY)
        }
        embeddingBackward(dY, targetEmbedding, count: b * t)

        // Encoder stack.
        var dX = dEncoderOutput
        if let final = encoderFinal, let norm = weights.encoderNorm, let g = gradients.encoderNorm {
            dX = arena.zeros(x.shape)
            layerNormBackward(dx: dX, dWeight: g.weight, dBias: g.bias, dy: dEncoderOutput, x: final.input, weight: norm.weight,
                              mean: final.mean, rstd: final.rstd)
        }
        dSpare = arena.tensor(dX.shape)
        for i in stride(from: config.encoderLayers - 1, through: 0, by: -1) {
            let dIn = dSpare
            dIn.zero()
            let temporaries = arena.mark()
            encoderLayerBackward(dX, into: dIn, encoderActs[i], weights.encoder[i], gradients.encoder[i])
            arena.release(to: temporaries)
            (dX, dSpare) = (dIn, dX)
        }
        embeddingBackward(dX, sourceEmbedding, count: b * s)
        return StepResult(loss: loss, tokenNLL: rowNLL, logits: nil)
    }

    /// Encoder output [B·S, C] for padded source ids [B, S] (ending in </s>), dropout off.
    /// Lives in the model's arena: valid until the next call on this model.
    /// With an `arena` of its own, a caller (one decoding worker) can encode concurrently with others.
    public func encode(source: [Int32], batch: Int, length: Int, arena: Arena? = nil) -> (output: Tensor, padding: UnsafeMutablePointer<UInt8>) {
        let arena = arena ?? self.arena
        arena.reset()
        require(length <= config.maxPositions, "Transformer.encode: length \(length) exceeds maxPositions \(config.maxPositions)")
        var noDropout = RandomGenerator(seed: 0)
        let padding = paddingMask(source, arena: arena)
        var (x, _) = embed(copyIds(source, arena: arena), count: batch * length, length: length, dropout: 0, rng: &noDropout, arena: arena)
        for layer in weights.encoder {
            _ = encoderLayerForward(&x, layer, batch: batch, length: length, padding: padding, training: false, rng: &noDropout, arena: arena)
        }
        if let norm = weights.encoderNorm { x = finalNormForward(x, norm, arena: arena).1 }
        return (x, padding)
    }

    // MARK: pieces

    func copyIds(_ ids: [Int32], arena: Arena? = nil) -> UnsafeMutablePointer<Int32> {
        let p = (arena ?? self.arena).ids(ids.count)
        ids.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: ids.count) }
        return p
    }

    func paddingMask(_ ids: [Int32], arena: Arena? = nil) -> UnsafeMutablePointer<UInt8> {
        let m = (arena ?? self.arena).bytes(ids.count)
        for (i, id) in ids.enumerated() { m[i] = id == Vocabulary.padding ? 1 : 0 }
        return m
    }

    /// dropout(√C·E[ids] + PE) for `count` = B·length tokens.
    func embed(_ ids: UnsafeMutablePointer<Int32>, count: Int, length: Int, dropout: Float,
               rng: inout RandomGenerator, positionOffset: Int = 0, arena: Arena? = nil) -> (Tensor, EmbeddingActivations) {
        let arena = arena ?? self.arena
        let x = arena.tensor(Shape(count, config.dModel))
        embeddingForward(x, ids: ids, table: weights.embedding, scale: embeddingScale)
        addPositions(x, length: length, table: positions, offset: positionOffset)
        var mask: DropoutMask? = nil
        if dropout > 0 { mask = dropoutForward(x, x, kept: arena.bytes(x.count), probability: dropout, rng: &rng) }
        return (x, EmbeddingActivations(ids: ids, dropMask: mask))
    }

    func embeddingBackward(_ dx: Tensor, _ a: EmbeddingActivations, count: Int) {
        a.dropMask?.apply(to: dx)
        NMT.embeddingBackward(dTable: gradients.embedding, dOut: dx, ids: a.ids, scale: embeddingScale, paddingIndex: Vocabulary.padding)
    }

    func finalNormForward(_ x: Tensor, _ norm: NormWeights, arena: Arena? = nil) -> (Sublayer, Tensor) {
        let block = Sublayer.begin(x, norm: norm, preNorm: true, arena: arena ?? self.arena)
        return (block, block.normOutput)
    }

    func encoderLayerForward(_ x: inout Tensor, _ w: EncoderLayerWeights, batch: Int, length: Int,
                             padding: UnsafeMutablePointer<UInt8>, training: Bool, rng: inout RandomGenerator,
                             arena: Arena? = nil) -> EncoderLayerActivations {
        let arena = arena ?? self.arena
        let p = training ? config.dropout : 0
        var attentionBlock = Sublayer.begin(x, norm: w.selfAttentionNorm, preNorm: config.preNorm, arena: arena)
        let attentionOut = arena.tensor(x.shape)
        let attention = MultiHeadAttention.forward(attentionOut, query: attentionBlock.functionInput, keyValue: attentionBlock.functionInput,
                                                   weights: w.selfAttention, batch: batch, queries: length, keys: length, heads: config.heads,
                                                   mask: AttentionMask(keyPadding: padding), dropout: training ? config.attentionDropout : 0,
                                                   rng: &rng, arena: arena)
        x = attentionBlock.end(attentionOut, norm: w.selfAttentionNorm, dropout: p, rng: &rng, arena: arena)
        var feedForwardBlock = Sublayer.begin(x, norm: w.finalNorm, preNorm: config.preNorm, arena: arena)
        let feedForwardOut = arena.tensor(x.shape)
        let feedForward = FeedForward.forward(feedForwardOut, feedForwardBlock.functionInput, weights: w.feedForward,
                                              activation: config.activation, dropout: training ? config.activationDropout : 0,
                                              rng: &rng, arena: arena)
        x = feedForwardBlock.end(feedForwardOut, norm: w.finalNorm, dropout: p, rng: &rng, arena: arena)
        return EncoderLayerActivations(attentionBlock: attentionBlock, attention: attention,
                                       feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    /// Accumulates the gradient at the layer's input into `dIn` (zeroed by the caller, and allocated
    /// before the caller's arena mark so it outlives this layer's temporaries).
    func encoderLayerBackward(_ dOut: Tensor, into dIn: Tensor, _ a: EncoderLayerActivations, _ w: EncoderLayerWeights, _ g: EncoderLayerWeights) {
        let dMid = arena.zeros(dOut.shape)
        let dFeedForward = a.feedForwardBlock.backwardEnd(dy: dOut, dx: dMid, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena)
        let dFeedForwardIn = a.feedForwardBlock.inputGradient(dx: dMid, arena: arena)
        FeedForward.backward(dx: dFeedForwardIn, dy: dFeedForward, a.feedForward, weights: w.feedForward, gradients: g.feedForward,
                             activation: config.activation, arena: arena)
        a.feedForwardBlock.backwardBegin(dFunctionInput: dFeedForwardIn, dx: dMid, norm: w.finalNorm, normGradients: g.finalNorm)

        let dAttention = a.attentionBlock.backwardEnd(dy: dMid, dx: dIn, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm, arena: arena)
        let dAttentionIn = a.attentionBlock.inputGradient(dx: dIn, arena: arena)
        MultiHeadAttention.backward(dQuery: dAttentionIn, dKeyValue: dAttentionIn, dOut: dAttention, a.attention,
                                    weights: w.selfAttention, gradients: g.selfAttention, heads: config.heads, arena: arena)
        a.attentionBlock.backwardBegin(dFunctionInput: dAttentionIn, dx: dIn, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm)
    }

    func decoderLayerForward(_ y: inout Tensor, _ w: DecoderLayerWeights, encoderOutput: Tensor, batch: Int, sourceLength: Int,
                             targetLength: Int, sourcePadding: UnsafeMutablePointer<UInt8>, targetPadding: UnsafeMutablePointer<UInt8>,
                             training: Bool, rng: inout RandomGenerator) -> DecoderLayerActivations {
        let p = training ? config.dropout : 0
        let attentionDropout = training ? config.attentionDropout : 0
        var selfBlock = Sublayer.begin(y, norm: w.selfAttentionNorm, preNorm: config.preNorm, arena: arena)
        let selfOut = arena.tensor(y.shape)
        let selfAttention = MultiHeadAttention.forward(selfOut, query: selfBlock.functionInput, keyValue: selfBlock.functionInput,
                                                       weights: w.selfAttention, batch: batch, queries: targetLength, keys: targetLength,
                                                       heads: config.heads, mask: AttentionMask(keyPadding: targetPadding, causal: true),
                                                       dropout: attentionDropout, rng: &rng, arena: arena)
        y = selfBlock.end(selfOut, norm: w.selfAttentionNorm, dropout: p, rng: &rng, arena: arena)
        var crossBlock = Sublayer.begin(y, norm: w.crossAttentionNorm, preNorm: config.preNorm, arena: arena)
        let crossOut = arena.tensor(y.shape)
        let crossAttention = MultiHeadAttention.forward(crossOut, query: crossBlock.functionInput, keyValue: encoderOutput,
                                                        weights: w.crossAttention, batch: batch, queries: targetLength, keys: sourceLength,
                                                        heads: config.heads, mask: AttentionMask(keyPadding: sourcePadding),
                                                        dropout: attentionDropout, rng: &rng, arena: arena)
        y = crossBlock.end(crossOut, norm: w.crossAttentionNorm, dropout: p, rng: &rng, arena: arena)
        var feedForwardBlock = Sublayer.begin(y, norm: w.finalNorm, preNorm: config.preNorm, arena: arena)
        let feedForwardOut = arena.tensor(y.shape)
        let feedForward = FeedForward.forward(feedForwardOut, feedForwardBlock.functionInput, weights: w.feedForward,
                                              activation: config.activation, dropout: training ? config.activationDropout : 0,
                                              rng: &rng, arena: arena)
        y = feedForwardBlock.end(feedForwardOut, norm: w.finalNorm, dropout: p, rng: &rng, arena: arena)
        return DecoderLayerActivations(selfAttentionBlock: selfBlock, selfAttention: selfAttention, crossAttentionBlock: crossBlock,
                                       crossAttention: crossAttention, feedForwardBlock: feedForwardBlock, feedForward: feedForward)
    }

    func decoderLayerBackward(_ dOut: Tensor, into dIn: Tensor, _ a: DecoderLayerActivations, _ w: DecoderLayerWeights, _ g: DecoderLayerWeights,
                              dEncoderOutput: Tensor) {
        let dAfterCross = arena.zeros(dOut.shape)
        let dFeedForward = a.feedForwardBlock.backwardEnd(dy: dOut, dx: dAfterCross, norm: w.finalNorm, normGradients: g.finalNorm, arena: arena)
        let dFeedForwardIn = a.feedForwardBlock.inputGradient(dx: dAfterCross, arena: arena)
        FeedForward.backward(dx: dFeedForwardIn, dy: dFeedForward, a.feedForward, weights: w.feedForward, gradients: g.feedForward,
                             activation: config.activation, arena: arena)
        a.feedForwardBlock.backwardBegin(dFunctionInput: dFeedForwardIn, dx: dAfterCross, norm: w.finalNorm, normGradients: g.finalNorm)

        let dAfterSelf = arena.zeros(dOut.shape)
        let dCross = a.crossAttentionBlock.backwardEnd(dy: dAfterCross, dx: dAfterSelf, norm: w.crossAttentionNorm,
                                                       normGradients: g.crossAttentionNorm, arena: arena)
        let dCrossIn = a.crossAttentionBlock.inputGradient(dx: dAfterSelf, arena: arena)
        MultiHeadAttention.backward(dQuery: dCrossIn, dKeyValue: dEncoderOutput, dOut: dCross, a.crossAttention,
                                    weights: w.crossAttention, gradients: g.crossAttention, heads: config.heads, arena: arena)
        a.crossAttentionBlock.backwardBegin(dFunctionInput: dCrossIn, dx: dAfterSelf, norm: w.crossAttentionNorm, normGradients: g.crossAttentionNorm)

        let dSelf = a.selfAttentionBlock.backwardEnd(dy: dAfterSelf, dx: dIn, norm: w.selfAttentionNorm,
                                                     normGradients: g.selfAttentionNorm, arena: arena)
        let dSelfIn = a.selfAttentionBlock.inputGradient(dx: dIn, arena: arena)
        MultiHeadAttention.backward(dQuery: dSelfIn, dKeyValue: dSelfIn, dOut: dSelf, a.selfAttention,
                                    weights: w.selfAttention, gradients: g.selfAttention, heads: config.heads, arena: arena)
        a.selfAttentionBlock.backwardBegin(dFunctionInput: dSelfIn, dx: dIn, norm: w.selfAttentionNorm, normGradients: g.selfAttentionNorm)
    }
}
