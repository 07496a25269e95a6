// Transformer: the encoder–decoder of Vaswani et al. (2017) with fairseq's conventions — its
// forward pass over a padded batch, and the hand-written backward pass that training runs after it.
//
//   encoder:  x = dropout(√C·E[src] + PE);  L × EncoderLayer;  LN (pre-norm)
//   decoder:  y = dropout(√C·E[tgt_in] + PE);  L × DecoderLayer;  LN (pre-norm)
//   logits = h·Eᵀ (shared embedding, no bias); label-smoothed cross-entropy per target token.
// The model holds only weights (read-only while it runs, so one model can serve several callers at
// once); activations live in the caller's arena (reset at the start of each forward pass) and
// gradients in the caller's `TransformerGradients`. Dropout is on only when a pass is given a
// `DropoutSampler` (training).

import Foundation

/// Embedding-stage activations: which side, the ids, the dropout mask, and the embedding norm's
/// statistics (`embeddingNorm` models).
struct EmbeddingActivations {
    var side: TextSide
    var ids: UnsafeMutablePointer<Int32>
    var dropMask: DropoutMask?
    var norm: Sublayer?
}

/// Everything a forward pass over a batch keeps for the backward pass (views into the arena).
public struct ForwardPass {
    let batch: Batch
    let sourceEmbedding: EmbeddingActivations
    let encoderLayers: [EncoderLayerActivations]
    let encoderFinal: Sublayer?
    /// [B·S, C]
    let encoderOutput: Tensor
    let targetEmbedding: EmbeddingActivations
    let decoderLayers: [DecoderLayerActivations]
    let decoderFinal: Sublayer?
    /// The decoder's output h [B·T, C], before the output projection.
    let output: Tensor
    let targets: UnsafeMutablePointer<Int32>
}

/// The loss of a batch: totals and −log p of each target position.
public struct BatchLoss {
    public var loss: CrossEntropyResult
    /// −log p of each target position [B·T] (0 at padding); valid until the arena is reset.
    public var tokenNLL: UnsafeMutablePointer<Float>
    /// The guided-alignment loss (GuidedAlignmentLoss), when the pass had one.
    public var alignment = AlignmentLoss()
}

/// A forward pass's loss with its logits [B·T, V] (inference: rescoring, validation).
public struct BatchScores {
    public var loss: CrossEntropyResult
    public var tokenNLL: UnsafeMutablePointer<Float>
    public var logits: Tensor
}

public final class Transformer: @unchecked Sendable {
    public let config: TransformerConfig
    public let parameters: ParameterStore
    public let weights: TransformerWeights
    /// The int8 matrices of a quantized model (decoding only); nil for Float32.
    public let quantized: QuantizedWeights?
    /// The Float32 matrices packed for decoding (`forDecoding()`); nil otherwise.
    public let packed: PackedWeights?
    /// Sinusoidal positions [maxPositions, C], computed once.
    public let positions: Tensor
    private let positionStorage: UnsafeMutablePointer<Float>
    let encoderLayers: [EncoderLayer]
    let decoderLayers: [DecoderLayer]
    var embeddingScale: Float { Float(config.dModel).squareRoot() }

    /// A model over a zeroed parameter store; with `quantized`, its matrices are read as int8, with
    /// `packed` packed (decoding).
    public convenience init(config: TransformerConfig, quantized: QuantizedWeights? = nil, packed: PackedWeights? = nil,
                            parameters: ParameterStore? = nil) throws {
        try config.validate()
        self.init(validated: config, quantized: quantized, packed: packed, parameters: parameters)
    }

    private init(validated config: TransformerConfig, quantized: QuantizedWeights?, packed: PackedWeights?, parameters: ParameterStore?) {
        self.config = config
        self.parameters = parameters ?? ParameterStore(entries: TransformerWeights.layout(config))
        self.quantized = quantized
        self.packed = quantized == nil ? packed : nil
        weights = TransformerWeights(self.parameters, self.parameters.values, config, quantized: quantized, packed: self.packed)
        positionStorage = .allocate(capacity: config.maxPositions * config.dModel)
        positions = Tensor(positionStorage, Shape(config.maxPositions, config.dModel))
        sinusoidalTable(into: positions)
        encoderLayers = weights.encoder.map { EncoderLayer(weights: $0, config: config) }
        decoderLayers = weights.decoder.map { DecoderLayer(weights: $0, config: config) }
    }

    deinit { positionStorage.deallocate() }

    public var computeType: ComputeType { quantized == nil ? .float32 : .int8 }

    /// This model as decoding reads it: itself when its matrices are int8 or packed already, else a
    /// model over the same parameters with its matrices packed as they are now (a copy: later
    /// changes to the parameters do not reach it).
    public func forDecoding() -> Transformer {
        if quantized != nil || packed != nil { return self }
        return Transformer(validated: config, quantized: nil, packed: PackedWeights(packing: parameters, config: config), parameters: parameters)
    }

    /// Seeded initialisation: Xavier-uniform projections, N(0, C^−½) embeddings with a zero
    /// <pad> row, LayerNorm weight 1 and bias 0, all biases 0.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        parameters.valueBuffer.update(repeating: 0)
        for entry in parameters.entries {
            let t = parameters.value(entry.name)
            if entry.name.hasSuffix("embed_tokens.weight") || entry.name == "output_projection.weight" {
                let std = 1 / Double(config.dModel).squareRoot()
                for i in 0..<t.count { t[i] = Float(rng.nextGaussian() * std) }
                for j in 0..<t.columns { t[Int(Vocabulary.padding) * t.columns + j] = 0 }
            } else if entry.name.hasSuffix("layer_norm.weight") || entry.name.hasSuffix("layernorm_embedding.weight") {
                t.fill(1)
            } else if entry.name.hasSuffix(".weight") {
                let bound = (6 / Double(t.rows + t.columns)).squareRoot()
                for i in 0..<t.count { t[i] = Float((Double(rng.nextUnitFloat()) * 2 - 1) * bound) }
            }
        }
    }

    // MARK: whole batches

    /// The forward pass over `batch` up to the decoder's output, keeping what `backward` needs.
    /// Resets `arena`; dropout is applied only with a `dropout` sampler.
    public func forward(_ batch: Batch, dropout: DropoutSampler?, compute: Compute, arena: Arena) -> ForwardPass {
        arena.reset()
        let (b, s, t) = (batch.size, batch.sourceLength, batch.targetLength)
        require(s <= config.maxPositions && t <= config.maxPositions,
                "Transformer.forward: length \(max(s, t)) exceeds maxPositions \(config.maxPositions)")
        // Encoder.
        let sourcePadding = paddingMask(batch.source, arena: arena)
        var (x, sourceEmbedding) = embed(.source, copyIds(batch.source, arena: arena), count: b * s, length: s, dropout: dropout, arena: arena)
        var encoderActivations: [EncoderLayerActivations] = []
        encoderActivations.reserveCapacity(encoderLayers.count)
        for layer in encoderLayers {
            encoderActivations.append(layer.forward(&x, batch: b, length: s, padding: sourcePadding, dropout: dropout, compute: compute, arena: arena))
        }
        let (encoderFinal, encoderOutput) = finalNorm(x, weights.encoderNorm, arena: arena)

        // Decoder. Every decoder layer's cross-attention reads the encoder output as the pass's
        // products read it (in a bf16 pass rounded once).
        let memory = compute.productInput(encoderOutput, arena: arena)
        let targetPadding = paddingMask(batch.targetInput, arena: arena)
        var (y, targetEmbedding) = embed(.target, copyIds(batch.targetInput, arena: arena), count: b * t, length: t, dropout: dropout, arena: arena)
        var decoderActivations: [DecoderLayerActivations] = []
        decoderActivations.reserveCapacity(decoderLayers.count)
        for layer in decoderLayers {
            decoderActivations.append(layer.forward(&y, memory: memory, batch: b, queries: t,
                                                    selfMask: AttentionMask(keyPadding: targetPadding, causal: true),
                                                    crossMask: AttentionMask(keyPadding: sourcePadding), dropout: dropout, compute: compute,
                                                    arena: arena))
        }
        let (decoderFinal, h) = finalNorm(y, weights.decoderNorm, arena: arena)
        return ForwardPass(batch: batch, sourceEmbedding: sourceEmbedding, encoderLayers: encoderActivations, encoderFinal: encoderFinal,
                           encoderOutput: encoderOutput, targetEmbedding: targetEmbedding, decoderLayers: decoderActivations,
                           decoderFinal: decoderFinal, output: h, targets: copyIds(batch.targetOutput, arena: arena))
    }

    /// Logits, loss and per-token −log p of `batch` with dropout off (validation; rescoring with
    /// `Compute.rowIndependent`, so that a pair's numbers do not depend on its batch). Resets
    /// `arena`; everything returned lives in it.
    public func score(_ batch: Batch, labelSmoothing: Float, compute: Compute = .float32, arena: Arena) -> BatchScores {
        loss(forward(batch, dropout: nil, compute: compute, arena: arena), labelSmoothing: labelSmoothing, compute: compute, arena: arena)
    }

    /// The logits and loss of a float32 forward pass, without a backward pass.
    public func loss(_ pass: ForwardPass, labelSmoothing: Float, compute: Compute = .float32, arena: Arena) -> BatchScores {
        let n = pass.batch.size * pass.batch.targetLength
        let rowLoss = arena.floats(n), rowNLL = arena.floats(n)
        let logits = arena.tensor(Shape(n, config.vocabularySize))
        linearForward(.float32(logits), .float32(pass.output), weight: weights.outputProjection, bias: weights.outputBias, compute: compute)
        let loss = labelSmoothedCrossEntropy(logits: logits, targets: pass.targets, paddingIndex: Vocabulary.padding,
                                             labelSmoothing: labelSmoothing, excluded: config.absentTokens, rowLoss: rowLoss, rowNLL: rowNLL)
        return BatchScores(loss: loss, tokenNLL: rowNLL, logits: logits)
    }

    /// The loss of a forward pass and its backward pass: accumulates the gradients of
    /// (loss sum · gradientScale) into `gradients`; the default scale is 1/targetTokens (per-token
    /// mean). With `alignmentWeight` λ > 0 and links in the batch, the loss sum is Σ CE + λ·L_align
    /// (GuidedAlignmentLoss) over head `config.alignmentHead` (default 0) of decoder layer
    /// `config.alignmentLayer` (default the last). The [B·T, V] logits — the largest buffer of a step — are made a chunk of rows at a
    /// time (`chunkFloats` floats at most): logits, loss and gradient in place, then that chunk's
    /// share of dH and dE.
    @discardableResult
    public func backward(_ pass: ForwardPass, labelSmoothing: Float, gradientScale: Float? = nil, alignmentWeight: Float = 0,
                         gradients: TransformerGradients, compute: Compute, arena: Arena, chunkFloats: Int = 1 << 22) -> BatchLoss {
        let g = gradients.weights
        let batch = pass.batch
        let (b, t) = (batch.size, batch.targetLength)
        let v = config.vocabularySize
        let rowLoss = arena.floats(b * t), rowNLL = arena.floats(b * t)
        let tokens = batch.targetTokens
        let scale = gradientScale ?? (tokens > 0 ? 1 / Float(tokens) : 0)
        let h = pass.output
        let dH = arena.tensor(h.shape)
        // The output projection (the target embedding, or its own matrix) as a linear layer. A bf16
        // pass rounds h once here instead of in each chunk's products.
        let hInput = compute.productInput(h, arena: arena)
        let chunkRows = max(1, chunkFloats / v)
        for start in stride(from: 0, to: b * t, by: chunkRows) {
            let rows = min(chunkRows, b * t - start)
            let beforeChunk = arena.mark()
            let logits = arena.tensor(Shape(rows, v))
            // The loss gradient, written over the logits (a bf16 pass writes it rounded: its
            // products read nothing else — unless an output bias needs its column sums, which
            // linearBackward takes as it rounds the float32 gradient).
            let gradient = weights.outputBias == nil ? compute.gradient(over: logits, arena: arena) : .float32(logits)
            let hChunk = hInput.rows(start..<start + rows)
            linearForward(.float32(logits), hChunk, weight: .float32(weights.outputWeight), bias: weights.outputBias, compute: compute)
            labelSmoothedCrossEntropy(logits: logits, targets: pass.targets + start, paddingIndex: Vocabulary.padding,
                                      labelSmoothing: labelSmoothing, excluded: config.absentTokens, rowLoss: rowLoss + start, rowNLL: rowNLL + start,
                                      gradient: gradient, gradientScale: scale)
            linearBackward(dx: .float32(dH.rows(start..<start + rows)), accumulateDx: false, dWeight: g.outputWeight, dBias: g.outputBias, dy: gradient,
                           x: hChunk, weight: weights.outputWeight, compute: compute, arena: arena)
            arena.release(to: beforeChunk)
        }
        let loss = crossEntropyTotals(rowLoss: rowLoss, rowNLL: rowNLL, targets: pass.targets, count: b * t, paddingIndex: Vocabulary.padding)

        // Guided alignment: its gradient at the aligned head's probabilities.
        var alignment = AlignmentLoss()
        var alignmentGradient: SparseGradient? = nil
        let alignmentLayer = config.alignmentLayer ?? decoderLayers.count - 1
        if alignmentWeight > 0 && !batch.alignment.isEmpty {
            (alignment, alignmentGradient) = GuidedAlignmentLoss.evaluate(probs: pass.decoderLayers[alignmentLayer].crossAttention.probs,
                                                                          head: config.alignmentHead ?? 0, links: batch.alignment,
                                                                          scale: alignmentWeight * scale, arena: arena)
        }

        // Decoder stack.
        // Each layer turns the gradient at its output into the one at its input, in place.
        let dY = finalNormBackward(dH, pass.decoderFinal, weights.decoderNorm, g.decoderNorm, arena: arena)
        let dEncoderOutput = arena.zeros(pass.encoderOutput.shape)
        for (i, layer) in decoderLayers.enumerated().reversed() {
            let temporaries = arena.mark()
            layer.backward(dY, pass.decoderLayers[i], gradients: g.decoder[i], dMemory: dEncoderOutput,
                           crossAttentionProbsGradient: i == alignmentLayer ? alignmentGradient : nil, compute: compute, arena: arena)
            arena.release(to: temporaries)
        }
        embeddingBackward(dY, pass.targetEmbedding, gradients: g, arena: arena)

        // Encoder stack.
        let dX = finalNormBackward(dEncoderOutput, pass.encoderFinal, weights.encoderNorm, g.encoderNorm, arena: arena)
        for (i, layer) in encoderLayers.enumerated().reversed() {
            let temporaries = arena.mark()
            layer.backward(dX, pass.encoderLayers[i], gradients: g.encoder[i], compute: compute, arena: arena)
            arena.release(to: temporaries)
        }
        embeddingBackward(dX, pass.sourceEmbedding, gradients: g, arena: arena)
        return BatchLoss(loss: loss, tokenNLL: rowNLL, alignment: alignment)
    }

    // MARK: pieces

    func copyIds(_ ids: [Int32], arena: Arena) -> UnsafeMutablePointer<Int32> {
        let p = arena.ids(ids.count)
        ids.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: ids.count) }
        return p
    }

    func paddingMask(_ ids: [Int32], arena: Arena) -> UnsafeMutablePointer<UInt8> {
        let m = arena.bytes(ids.count)
        for (i, id) in ids.enumerated() { m[i] = id == Vocabulary.padding ? 1 : 0 }
        return m
    }

    /// dropout(√C·E[ids] + PE), then LN with `embeddingNorm`, for `count` = B·length tokens of
    /// `side` (its embedding table); positions start at `positionOffset`.
    func embed(_ side: TextSide, _ ids: UnsafeMutablePointer<Int32>, count: Int, length: Int, positionOffset: Int = 0, dropout: DropoutSampler?,
               arena: Arena) -> (Tensor, EmbeddingActivations) {
        let x = arena.tensor(Shape(count, config.dModel))
        switch side == .source ? weights.sourceTable : weights.targetTable {
        case .int8(let q): embeddingForward(x, ids: ids, table: q, scale: embeddingScale)
        case .float32(let table): embeddingForward(x, ids: ids, table: table, scale: embeddingScale)
        case .packed(let table): embeddingForward(x, ids: ids, table: table, scale: embeddingScale)
        }
        addPositions(x, length: length, table: positions, offset: positionOffset)
        let mask = dropout.flatMap { $0.apply(x, x, probability: $0.residual, arena: arena) }
        let (norm, y) = finalNorm(x, side == .source ? weights.encoderEmbeddingNorm : weights.decoderEmbeddingNorm, arena: arena)
        return (y, EmbeddingActivations(side: side, ids: ids, dropMask: mask, norm: norm))
    }

    func embeddingBackward(_ dy: Tensor, _ a: EmbeddingActivations, gradients g: TransformerWeights, arena: Arena) {
        let source = a.side == .source
        let dx = finalNormBackward(dy, a.norm, source ? weights.encoderEmbeddingNorm : weights.decoderEmbeddingNorm,
                                   source ? g.encoderEmbeddingNorm : g.decoderEmbeddingNorm, arena: arena)
        a.dropMask?.apply(to: dx)
        NMT.embeddingBackward(dTable: source ? g.sourceEmbedding : g.embedding, dOut: dx, ids: a.ids, scale: embeddingScale,
                              paddingIndex: Vocabulary.padding)
    }

    /// A stack's final LayerNorm (pre-norm models; post-norm stacks end without one), or the
    /// embeddings' (`embeddingNorm`): nil weights pass x through.
    func finalNorm(_ x: Tensor, _ norm: NormWeights?, arena: Arena) -> (Sublayer?, Tensor) {
        guard let norm else { return (nil, x) }
        let block = Sublayer.begin(x, norm: norm, preNorm: true, compute: .float32, arena: arena)
        return (block, block.normOutput!)
    }

    func finalNormBackward(_ dy: Tensor, _ final: Sublayer?, _ norm: NormWeights?, _ g: NormWeights?, arena: Arena) -> Tensor {
        guard let final, let norm, let g else { return dy }
        let dx = arena.zeros(dy.shape)
        layerNormBackward(dx: dx, dWeight: g.weight, dBias: g.bias, dy: dy, x: final.input, weight: norm.weight, mean: final.mean, rstd: final.rstd)
        return dx
    }
}

/// The gradient of every weight: a buffer with the parameter store's layout, viewed as the model's
/// structure. Only training makes one.
public final class TransformerGradients: @unchecked Sendable {
    public let buffer: ParameterBuffer
    public let weights: TransformerWeights

    public init(for model: Transformer) {
        buffer = ParameterBuffer(count: model.parameters.count)
        weights = TransformerWeights(model.parameters, buffer.pointer, model.config)
    }

    public func zero() { buffer.zero() }
}
