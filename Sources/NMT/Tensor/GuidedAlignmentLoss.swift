// Guided alignment (Garg et al. 2019, "Jointly Learning to Align and Translate with Transformer
// Models"; Marian's --guided-alignment, cost "ce"): one cross-attention head is trained toward given
// word alignments (AlignmentLinks). With P[b, h, t, s] that head's attention probabilities before
// dropout and the links (b, t, s, a):
//   L_align = −Σ_links a · log(P[b, h, t, s] + ε),   ε = 1e-6 (Marian's)
//   ∂L_align/∂P[b, h, t, s] = −a / (P[b, h, t, s] + ε)   (0 off the links)
// Training minimises Σ CE + λ·L_align (λ: --guided-alignment-weight, Marian's default 0.1), both
// sums scaled by the update's 1/(target tokens). The gradient at P joins the one flowing back from
// the attention's context before the softmax's backward (MultiHeadAttention.backward).

import Foundation

/// A gradient at a few elements of a tensor: `values[k]` belongs at flat index `indices[k]`.
public struct SparseGradient {
    let indices: UnsafeMutablePointer<Int>
    let values: UnsafeMutablePointer<Float>
    let count: Int

    /// d[indices[k]] += values[k].
    func add(to d: Tensor) {
        for k in 0..<count { d.pointer[indices[k]] += values[k] }
    }
}

/// L_align of a batch: its sum and the links' total weight (the aligned target tokens).
public struct AlignmentLoss: Sendable {
    public var lossSum = 0.0
    public var alignedTokens = 0.0
    /// Per aligned target token.
    public var loss: Double { alignedTokens > 0 ? lossSum / alignedTokens : 0 }
}

public enum GuidedAlignmentLoss {
    public static let epsilon: Float = 1e-6

    /// L_align of `links` over head `head` of `probs` [B, H, T, S], and its gradient times `scale`
    /// (λ / target tokens in training), in `arena`.
    public static func evaluate(probs: Tensor, head: Int, links: [AlignmentLink], scale: Float, arena: Arena) -> (AlignmentLoss, SparseGradient) {
        let (heads, queries, keys) = (probs.shape[1], probs.shape[2], probs.shape[3])
        let gradient = SparseGradient(indices: arena.indices(links.count), values: arena.floats(links.count), count: links.count)
        var loss = AlignmentLoss()
        for (k, link) in links.enumerated() {
            let index = ((Int(link.pair) * heads + head) * queries + Int(link.target)) * keys + Int(link.source)
            let p = probs.pointer[index] + epsilon
            loss.lossSum -= Double(link.weight) * Double(log(p))
            loss.alignedTokens += Double(link.weight)
            gradient.indices[k] = index
            gradient.values[k] = -scale * link.weight / p
        }
        return (loss, gradient)
    }
}
