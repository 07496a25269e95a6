// Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter 2019), written out
// as PyTorch's torch.optim.AdamW computes it, over the one contiguous parameter buffer:
//   m ← β1·m + (1−β1)·g
//   v ← β2·v + (1−β2)·g²
//   p ← p − lr·wd·p                                   (decoupled weight decay)
//   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)

import Foundation

public final class Adam: @unchecked Sendable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    public private(set) var step = 0
    public let count: Int
    public let firstMoment: UnsafeMutablePointer<Float>
    public let secondMoment: UnsafeMutablePointer<Float>

    public init(count: Int, beta1: Float = 0.9, beta2: Float = 0.98, epsilon: Float = 1e-9, weightDecay: Float = 0) {
        self.count = count
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoment = .allocate(capacity: max(count, 1))
        firstMoment.initialize(repeating: 0, count: max(count, 1))
        secondMoment = .allocate(capacity: max(count, 1))
        secondMoment.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    /// One update of `parameters` from `gradients` with learning rate `lr`; the parameters (and
    /// moments) in the ranges `skipping` (ascending, disjoint) stay as they are.
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, lr: Float, skipping: [Range<Int>] = []) {
        step += 1
        let correction1 = 1 - pow(Double(beta1), Double(step))
        let correction2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(lr) / correction1)
        let rootCorrection2 = Float(correction2.squareRoot())
        let (b1, b2, eps, decay) = (beta1, beta2, epsilon, lr * weightDecay)
        let m = firstMoment, v = secondMoment, p = parameters, g = gradients
        // The updated ranges: everything between the ranges of `skipping` (ascending, disjoint).
        func update(_ active: Range<Int>) {
            Threads.parallelChunks(active.count, minChunk: 1 << 16) { chunk in
                for i in (chunk.lowerBound + active.lowerBound)..<(chunk.upperBound + active.lowerBound) {
                    let gi = g[i]
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    p[i] -= decay * p[i]
                    p[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
                }
            }
        }
        var start = 0
        for skipped in skipping {
            if skipped.lowerBound > start { update(start..<skipped.lowerBound) }
            start = max(start, skipped.upperBound)
        }
        if start < count { update(start..<count) }
    }

    /// Restores the step counter (resuming from a training-state file).
    public func restore(step: Int) { self.step = step }
}
