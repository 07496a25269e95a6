// TrainingStep: one update — batches → gradients → clipped Adam step. It owns what only training
// needs: the gradients (one buffer shaped like the parameters), Adam's moments, the dropout
// generator, the activation arena and the passes' `Compute` (their precision and, for bf16, the
// product engine), so a model loaded to translate has none of them.
//
// The loss is a per-token mean over all the update's batches (fairseq's --update-freq): each
// batch's gradient is scaled by 1 / (target tokens of all of them) before it is accumulated.
// Data parallelism is the same sum split across ranks: every rank gets the update's whole batch
// list, computes batches rank, rank + N, …, and one allreduce of the gradient buffer (plus one of
// the loss sums) gives every rank the gradient one process would have; each then takes the same
// clipped Adam step. Dropout masks depend on (update, batch) only, so which rank computes a
// batch changes nothing. Each batch after a rank's first is computed into a clean buffer and then
// added, so 2 ranks sum exactly what one process with --update-freq 2 sums: g₀ + g₁, bit for bit.

import Foundation

public final class TrainingStep {
    public let model: Transformer
    public let adam: Adam
    public let gradients: TransformerGradients
    public let dropout: DropoutSampler
    /// Activations of the step's batches; reused by validation between steps.
    public let arena = Arena()
    public let labelSmoothing: Float
    /// λ of guided alignment (0: off): the loss is Σ CE + λ·L_align (GuidedAlignmentLoss).
    public let alignmentWeight: Float
    /// Global gradient-norm bound (0: off).
    public let clipNorm: Double
    /// Parameter ranges held still (`--freeze`).
    public let frozen: [Range<Int>]
    /// The ranks that share each update's batches (one process: a world of one).
    public let world: Communicator
    /// How the forward and backward passes compute: the precision of their matrix products
    /// (everything else is float32).
    public let compute: Compute
    /// The gradient of one batch, added to `gradients` (allocated when a rank computes several per update).
    private var batchGradients: TransformerGradients?

    public struct Result: Sendable {
        public var lossSum = 0.0
        public var nllSum = 0.0
        public var targetTokens = 0
        public var sourceTokens = 0
        /// Guided alignment's loss (unweighted), when the batches had links.
        public var alignment = AlignmentLoss()
        /// Before clipping.
        public var gradientNorm = 0.0
        /// Spent summing gradients and losses across ranks.
        public var allreduceSeconds = 0.0
        public var loss: Double { lossSum / Double(max(targetTokens, 1)) }
        public var nll: Double { nllSum / Double(max(targetTokens, 1)) }
        /// The loss or the gradient is NaN or infinite; the update was not applied.
        public var diverged: Bool { !lossSum.isFinite || !gradientNorm.isFinite }
    }

    /// `frozen`: ranges of the parameter buffer that no update changes (their gradients are
    /// zeroed before clipping, and Adam skips them).
    public init(model: Transformer, adam: Adam, dropout: DropoutSampler, labelSmoothing: Float, alignmentWeight: Float = 0, clipNorm: Double,
                frozen: [Range<Int>] = [], world: Communicator = SingleProcess(), precision: MatrixPrecision = .float32, backend: BF16Backend = .native) {
        self.frozen = frozen
        self.world = world
        compute = Compute(precision: precision, backend: backend)
        self.model = model
        self.adam = adam
        self.dropout = dropout
        self.labelSmoothing = labelSmoothing
        self.alignmentWeight = alignmentWeight
        self.clipNorm = clipNorm
        gradients = TransformerGradients(for: model)
    }

    /// Update number `update`: accumulates the gradients of this rank's share of `batches` (all of
    /// them in one process), sums them across ranks, clips them, and takes one Adam step at `lr`.
    public func run(_ batches: [Batch], lr: Double, update: Int) throws -> Result {
        var result = Result()
        result.targetTokens = batches.reduce(0) { $0 + $1.targetTokens }
        result.sourceTokens = batches.reduce(0) { $0 + $1.sourceTokens }
        let scale = 1 / Float(result.targetTokens)
        gradients.zero()
        compute.beginUpdate(parameters: UnsafeBufferPointer(model.parameters.valueBuffer))
        for (index, batch) in batches.enumerated() where index % world.size == world.rank {
            dropout.startBatch(update: update, batch: index)
            let first = index == world.rank
            if !first && batchGradients == nil { batchGradients = TransformerGradients(for: model) }
            let target = first ? gradients : batchGradients!
            if !first { target.zero() }
            let pass = model.forward(batch, dropout: dropout, compute: compute, arena: arena)
            let batchLoss = model.backward(pass, labelSmoothing: labelSmoothing, gradientScale: scale, alignmentWeight: alignmentWeight,
                                           gradients: target, compute: compute, arena: arena)
            if !first { add(target.buffer.buffer, into: gradients.buffer.buffer) }
            result.lossSum += batchLoss.loss.lossSum
            result.nllSum += batchLoss.loss.nllSum
            result.alignment.lossSum += batchLoss.alignment.lossSum
            result.alignment.alignedTokens += batchLoss.alignment.alignedTokens
        }
        compute.endUpdate()  // before Adam changes the parameters
        if world.size > 1 {
            let start = Date()
            try world.sum(gradients.buffer.buffer)
            var sums = [result.lossSum, result.nllSum, result.alignment.lossSum, result.alignment.alignedTokens]
            try world.sum(&sums)
            (result.lossSum, result.nllSum, result.alignment.lossSum, result.alignment.alignedTokens) = (sums[0], sums[1], sums[2], sums[3])
            result.allreduceSeconds = Date().timeIntervalSince(start)
        }
        for range in frozen { (gradients.buffer.pointer + range.lowerBound).update(repeating: 0, count: range.count) }
        result.gradientNorm = clipGlobalNorm(gradients.buffer.buffer, maxNorm: clipNorm)
        // A non-finite loss or gradient would poison every weight: leave them as they were (the
        // caller stops the run on `diverged`).
        guard !result.diverged else { return result }
        adam.update(parameters: model.parameters.values, gradients: gradients.buffer.pointer, lr: Float(lr), skipping: frozen)
        return result
    }

    /// sum[i] += x[i].
    private func add(_ x: UnsafeMutableBufferPointer<Float>, into sum: UnsafeMutableBufferPointer<Float>) {
        let (x, sum) = (x.baseAddress!, sum.baseAddress!)
        Threads.parallelChunks(gradients.buffer.count, minChunk: 1 << 16) { range in
            for i in range { sum[i] += x[i] }
        }
    }
}
