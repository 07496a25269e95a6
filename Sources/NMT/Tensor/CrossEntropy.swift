// Fused log-softmax + label-smoothed cross-entropy over logits, padding ignored.
//
// fairseq's definition (label_smoothed_cross_entropy): with ε the smoothing and V the
// vocabulary, the target gets probability 1 − ε and every other symbol ε/(V−1):
//   q_j = 1 − ε if j = target else ε/(V−1)
//   loss_n = −Σ_j q_j · log p_j    (p = softmax(logits_n)),   nll_n = −log p_target
// The totals are divided by the number of non-pad targets (per-token normalisation).
//   gradient: d loss_n / d logits_n = p − q   (Σ_j q_j = 1), times the caller's scale.
// Tokens a model can never produce (`excluded`: an imported model's tokens its own vocabulary
// lacks, whose logits sit at −10⁴) take no share: q_j = 0 for them and V counts the others, as in
// the toolkit the model came from.
// Fusing avoids storing log-probabilities: one [N, V] buffer holds logits, then gradients.

import CKernels
import Foundation

public struct CrossEntropyResult: Sendable {
    /// Σ over non-pad targets of the label-smoothed loss and of the plain NLL (natural log).
    public var lossSum: Double
    public var nllSum: Double
    /// Number of non-pad targets.
    public var tokens: Int

    public var loss: Double { tokens > 0 ? lossSum / Double(tokens) : 0 }
    public var nll: Double { tokens > 0 ? nllSum / Double(tokens) : 0 }
    /// Perplexity e^nll (fairseq prints 2^(nll in bits), the same number).
    public var perplexity: Double { exp(nll) }
}

/// Computes per-row losses into `rowLoss` / `rowNLL` ([N], 0 for pad rows) and returns the totals.
/// If `gradient` is given, writes `gradientScale · (p − q)` into it, and zero for pad rows. Typical
/// `gradientScale` is 1/tokens for a per-token mean. A float32 gradient may be `logits` itself. A
/// bfloat16 one (a bf16 pass, whose products read the gradient only rounded) is written rounded —
/// the same bits as rounding the float32 gradient — and the logits are overwritten by their
/// exponentials on the way.
@discardableResult
public func labelSmoothedCrossEntropy(logits: Tensor, targets: UnsafePointer<Int32>, paddingIndex: Int32,
                                      labelSmoothing epsilon: Float, excluded: [Int32] = [],
                                      rowLoss: UnsafeMutablePointer<Float>, rowNLL: UnsafeMutablePointer<Float>,
                                      gradient: Matrix? = nil, gradientScale: Float = 1) -> CrossEntropyResult {
    let n = logits.rows, v = logits.columns
    if let gradient { checkShape(gradient.shape == logits.shape, "labelSmoothedCrossEntropy: gradient vs logits", gradient.shape, logits.shape) }
    require(epsilon >= 0 && epsilon < 1, "labelSmoothedCrossEntropy: smoothing \(epsilon) outside [0, 1)")
    let counted = v - excluded.count
    let countedGaps = excluded.sorted()  // the excluded ids bound the runs of counted tokens
    let epsilonOther = counted > 1 ? epsilon / Float(counted - 1) : 0
    // Where the exponentials go (then turned into p − q, or rounded from there).
    let gradientPointer: UnsafeMutablePointer<Float>?, roundedPointer: UnsafeMutablePointer<UInt16>?
    switch gradient {
    case .float32(let t)?: (gradientPointer, roundedPointer) = (t.pointer, nil)
    case .bfloat16(let m)?: (gradientPointer, roundedPointer) = (logits.pointer, m.pointer)
    case nil: (gradientPointer, roundedPointer) = (nil, nil)
    }
    Threads.parallelChunks(n, minChunk: 8) { range in
        for r in range {
            let target = targets[r]
            let x = logits.pointer + r * v
            if target == paddingIndex {
                rowLoss[r] = 0
                rowNLL[r] = 0
                if let g = roundedPointer {
                    (g + r * v).update(repeating: 0, count: v)
                } else if let g = gradientPointer {
                    (g + r * v).update(repeating: 0, count: v)
                }
                continue
            }
            require(target >= 0 && Int(target) < v, "labelSmoothedCrossEntropy: target \(target) outside a vocabulary of \(v)")
            // Σ x_j over the counted tokens: the row's sum between the excluded ids, a vector sum
            // per gap (an excluded −10⁴ inside a float sum would swamp the others' digits).
            var sumX = 0.0, gapStart = 0
            for g in 0...countedGaps.count {
                let gapEnd = g < countedGaps.count ? Int(countedGaps[g]) : v
                if gapEnd > gapStart { sumX += Double(sum(x + gapStart, gapEnd - gapStart)) }
                gapStart = gapEnd + 1
            }
            let xTarget = x[Int(target)]
            // With a gradient buffer, the exponentials are written there (then turned into p − q).
            let e = gradientPointer.map { $0 + r * v }
            let normalizer = logNormalizer(x, v, exponentials: e)
            let total = normalizer.sum
            let logZ = normalizer.value
            let nll = logZ - Double(xTarget)
            let smooth = Double(counted) * logZ - sumX  // −Σ_j log p_j over the counted j
            // Target weight (1 − ε) = (1 − ε − ε') + ε' as fairseq writes it.
            rowNLL[r] = Float(nll)
            rowLoss[r] = Float(Double(1 - epsilon - epsilonOther) * nll + Double(epsilonOther) * smooth)
            if let e, let rounded = roundedPointer {
                nmt_scale_shift_to_bfloat16(rounded + r * v, e, v, gradientScale / total, gradientScale * epsilonOther,
                                            Int(target), gradientScale * (1 - epsilon - epsilonOther))
                for j in excluded { rounded[r * v + Int(j)] = bfloat16Bits(e[Int(j)] * (gradientScale / total)) }  // q_j = 0
            } else if let e {
                nmt_scale_shift(e, v, gradientScale / total, gradientScale * epsilonOther)
                e[Int(target)] -= gradientScale * (1 - epsilon - epsilonOther)
                for j in excluded { e[Int(j)] += gradientScale * epsilonOther }  // q_j = 0
            }
        }
    }
    return crossEntropyTotals(rowLoss: rowLoss, rowNLL: rowNLL, targets: targets, count: n, paddingIndex: paddingIndex)
}

/// Sums per-row losses over the non-pad targets, in row order.
public func crossEntropyTotals(rowLoss: UnsafePointer<Float>, rowNLL: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                               count n: Int, paddingIndex: Int32) -> CrossEntropyResult {
    var result = CrossEntropyResult(lossSum: 0, nllSum: 0, tokens: 0)
    for r in 0..<n where targets[r] != paddingIndex {
        result.lossSum += Double(rowLoss[r])
        result.nllSum += Double(rowNLL[r])
        result.tokens += 1
    }
    return result
}

/// The log-softmax normaliser of a row, log Σ_j e^(x_j), max-shifted: m = max x, Σ = Σ_j e^(x_j − m).
struct LogNormalizer {
    var shift: Float
    var sum: Float
    /// m + log Σ in Double (the loss).
    var value: Double { Double(shift) + log(Double(sum)) }
    /// m + log Σ in Float (decoding's per-row logZ).
    var floatValue: Float { shift + Float(log(Double(sum))) }
}

/// The normaliser of x[0..<n]; with `exponentials`, the terms e^(x_j − m) are written there.
@inline(__always)
func logNormalizer(_ x: UnsafePointer<Float>, _ n: Int, exponentials: UnsafeMutablePointer<Float>? = nil) -> LogNormalizer {
    let m = maximum(x, n)
    let total = exponentials.map { expShifted($0, x, n, shift: m) } ?? expSumOnly(x, n, shift: m)
    return LogNormalizer(shift: m, sum: total)
}

/// logZ[r] = log Σ_j e^(x[r, j]) of each row of x [R, V] (decoding reads log p = x − logZ).
func logNormalizers(_ x: Tensor, into logZ: UnsafeMutablePointer<Float>) {
    let v = x.columns
    Threads.parallelChunks(x.rows, minChunk: 4) { rows in
        for r in rows { logZ[r] = logNormalizer(x.pointer + r * v, v).floatValue }
    }
}
