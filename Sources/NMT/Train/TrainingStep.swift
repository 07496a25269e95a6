// TrainingStep: one update — batches → gradients → clipped Adam step. It owns what only training
// needs: the gradients (one buffer shaped like the parameters), Adam's moments, the dropout
// generator and the activation arena, so a model loaded to translate has none of them.
//
// The loss is a per-token mean over all the update's batches (fairseq's --update-freq): each
// batch's gradient is scaled by 1 / (target tokens of all of them) before it is accumulated.

public final class TrainingStep {
    public let model: Transformer
    public let adam: Adam
    public let gradients: TransformerGradients
    public let dropout: DropoutSampler
    /// Activations of the step's batches; reused by validation between steps.
    public let arena = Arena()
    public let labelSmoothing: Float
    /// Global gradient-norm bound (0: off).
    public let clipNorm: Double

    public struct Result: Sendable {
        public var lossSum = 0.0
        public var nllSum = 0.0
        public var targetTokens = 0
        public var sourceTokens = 0
        /// Before clipping.
        public var gradientNorm = 0.0
        public var loss: Double { lossSum / Double(max(targetTokens, 1)) }
        public var nll: Double { nllSum / Double(max(targetTokens, 1)) }
        /// The loss or the gradient is NaN or infinite; the update was not applied.
        public var diverged: Bool { !lossSum.isFinite || !gradientNorm.isFinite }
    }

    public init(model: Transformer, adam: Adam, dropout: DropoutSampler, labelSmoothing: Float, clipNorm: Double) {
        self.model = model
        self.adam = adam
        self.dropout = dropout
        self.labelSmoothing = labelSmoothing
        self.clipNorm = clipNorm
        gradients = TransformerGradients(for: model)
    }

    /// Accumulates the gradients of `batches`, clips them, and takes one Adam step at `lr`.
    public func run(_ batches: [Batch], lr: Double) -> Result {
        var result = Result()
        result.targetTokens = batches.reduce(0) { $0 + $1.targetTokens }
        result.sourceTokens = batches.reduce(0) { $0 + $1.sourceTokens }
        let scale = 1 / Float(result.targetTokens)
        gradients.zero()
        for batch in batches {
            let pass = model.forward(batch, dropout: dropout, arena: arena)
            let loss = model.backward(pass, labelSmoothing: labelSmoothing, gradientScale: scale, gradients: gradients, arena: arena).loss
            result.lossSum += loss.lossSum
            result.nllSum += loss.nllSum
        }
        result.gradientNorm = clipGlobalNorm(gradients.buffer.buffer, maxNorm: clipNorm)
        // A non-finite loss or gradient would poison every weight: leave them as they were (the
        // caller stops the run on `diverged`).
        guard !result.diverged else { return result }
        adam.update(parameters: model.parameters.values, gradients: gradients.buffer.pointer, lr: Float(lr))
        return result
    }
}
