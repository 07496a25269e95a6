// Feed-forward activations. ReLU (Vaswani et al. 2017), GELU (Hendrycks & Gimpel 2016), the exact
// erf form that PyTorch's and fairseq's `gelu` compute, and swish (Ramachandran et al. 2017;
// SiLU), Marian's default and OPUS-MT's.
//
//   ReLU:  y = max(x, 0),               dx += dy · [x > 0]
//   GELU:  y = x·Φ(x),                  dx += dy · (Φ(x) + x·φ(x))
//          Φ(x) = ½(1 + erf(x/√2)),     φ(x) = e^(−x²/2)/√(2π)
//   swish: y = x·σ(x),                  dx += dy · (σ(x) + x·σ(x)·(1 − σ(x)))
//          σ(x) = 1/(1 + e^(−x))
// Both read the pre-activation x in backward, so the forward pass keeps its input.

import CKernels
import Foundation

public enum Activation: String, Codable, Sendable, CaseIterable {
    case relu, gelu, swish
}

public func activationForward(_ y: Tensor, _ x: Tensor, _ kind: Activation) {
    checkShape(y.count == x.count, "activationForward: output vs input", y.shape, x.shape)
    let xp = x.pointer, yp = y.pointer
    switch kind {
    case .relu:
        Threads.parallelChunks(x.count, minChunk: 1 << 16) { range in
            for i in range { yp[i] = xp[i] > 0 ? xp[i] : 0 }
        }
    case .gelu:
        Threads.parallelChunks(x.count, minChunk: 1 << 14) { range in
            for i in range { yp[i] = 0.5 * xp[i] * (1 + erf(xp[i] * 0.70710678118654752)) }
        }
    case .swish:
        Threads.parallelChunks(x.count, minChunk: 1 << 14) { range in
            for i in range { yp[i] = xp[i] / (1 + exp(-xp[i])) }
        }
    }
}

public func activationBackward(dx: Tensor, dy: Tensor, x: Tensor, _ kind: Activation) {
    checkShape(dy.count == x.count && dx.count == x.count, "activationBackward: dy vs x", dy.shape, x.shape)
    let xp = x.pointer, dyp = dy.pointer, dxp = dx.pointer
    switch kind {
    case .relu:
        Threads.parallelChunks(x.count, minChunk: 1 << 16) { range in
            for i in range {
                let g = dyp[i]  // loaded unconditionally, then selected: no branch on the sign
                dxp[i] += xp[i] > 0 ? g : 0
            }
        }
    case .gelu:
        Threads.parallelChunks(x.count, minChunk: 1 << 14) { range in
            for i in range {
                let v = xp[i]
                let cdf = 0.5 * (1 + erf(v * 0.70710678118654752))
                let pdf = exp(-0.5 * v * v) * 0.39894228040143268
                dxp[i] += dyp[i] * (cdf + v * pdf)
            }
        }
    case .swish:
        Threads.parallelChunks(x.count, minChunk: 1 << 14) { range in
            for i in range {
                let sigma = 1 / (1 + exp(-xp[i]))
                dxp[i] += dyp[i] * (sigma + xp[i] * sigma * (1 - sigma))
            }
        }
    }
}

/// In a bf16 pass, ReLU's output as the products read it: out = bfloat16(dropout(max(u, 0))) in
/// one pass over u (Kernels/relu_bfloat16.c) — the bits `activationForward`, `dropoutForward` and
/// `BF16Matrix.round` give in turn. `dropout`: where the mask goes and what it draws from
/// (`DropoutSampler.fusedMask`); nil: no dropout.
func reluDropoutToBFloat16(_ out: BF16Matrix, _ u: Tensor, dropout: FusedDropout?) -> DropoutMask? {
    checkShape(u.rows == out.rows && u.columns == out.columns, "reluDropoutToBFloat16: shape", u.shape, Shape(out.rows, out.columns))
    let (kept, stream, p, scale) = (dropout?.kept, dropout?.stream ?? 0, dropout?.probability ?? 0, dropout?.scale ?? 1)
    let (o, x) = (out.pointer, u.pointer)
    Threads.parallelChunks(u.count, minChunk: 1 << 15) { range in
        let i = range.lowerBound
        nmt_relu_dropout_to_bfloat16(o + i, kept.map { $0 + i }, x + i, i, range.count, stream, p, scale)
    }
    return dropout.map { DropoutMask(kept: $0.kept, count: u.count, scale: $0.scale) }
}

/// Its backward in a bf16 pass: du = a' > 0 ? da·scale : 0 (ReLU's derivative and dropout's
/// factor, read off the rounded a'), written rounded into out, and sums[j] += Σ_r du[r, j] (the
/// bias gradient, rows in order) — one pass where the float32 path takes three.
func reluGradientToBFloat16SummingColumns(_ out: BF16Matrix, _ da: Tensor, activated: BF16Matrix, scale: Float,
                                          sums: UnsafeMutablePointer<Float>) {
    checkShape(da.rows == out.rows && da.columns == out.columns && activated.rows == out.rows && activated.columns == out.columns,
               "reluGradientToBFloat16SummingColumns: shape", da.shape, Shape(activated.rows, activated.columns))
    let columns = da.columns
    Threads.parallelColumnBlocks(columns, unit: 128) { block in  // blocks of whole cache lines
        let first = block.lowerBound
        nmt_relu_gradient_to_bfloat16_summing_columns(out.pointer + first, sums + first, da.pointer + first, activated.pointer + first, scale,
                                                      da.rows, block.count, columns)
    }
}

/// a' = dropout(act(u)) with the sampler's activation-dropout probability (mask in `kept`): into
/// `rounded` when given (a bf16 pass; ReLU, dropout and rounding in one pass over u), else float32 —
/// ReLU in place in u (its backward reads only a' > 0), GELU into a new tensor (its backward reads u).
func activationDropoutForward(_ u: Tensor, _ activation: Activation, into rounded: BF16Matrix?, dropout: DropoutSampler?,
                              kept: UnsafeMutablePointer<UInt8>?, arena: Arena) -> (Matrix, DropoutMask?) {
    if let rounded, activation == .relu {
        return (.bfloat16(rounded), reluDropoutToBFloat16(rounded, u, dropout: dropout.flatMap { $0.fusedMask(probability: $0.activation, kept: kept) }))
    }
    let a = activation == .relu ? u : arena.tensor(u.shape)
    activationForward(a, u, activation)
    let mask = dropout.flatMap { $0.apply(a, a, probability: $0.activation, kept: kept) }
    guard let rounded else { return (.float32(a), mask) }
    rounded.round(from: a)
    return (.bfloat16(rounded), mask)
}

/// ReLU's and dropout's backward read off a': du = a' > 0 ? da·scale : 0, with biasSums[j] += Σ_r
/// du[r, j] (the next layer down's bias gradient, rows in order). A float32 a' gives du in place
/// in da; a bfloat16 a' (a bf16 pass) gives du rounded, made in one pass with its sums.
func reluDropoutBackward(_ da: Tensor, activated: Matrix, scale: Float, biasSums: UnsafeMutablePointer<Float>, arena: Arena) -> Matrix {
    switch activated {
    case .float32(let activated):
        // The product is taken for every unit and then selected: a branch on the sign of a' (half
        // the units, at random) was mispredicted so often that this loop took 7 % of a training step.
        let (d, out) = (da.pointer, activated.pointer)
        Threads.parallelChunks(da.count, minChunk: 1 << 16) { range in
            for i in range {
                let kept = d[i] * scale
                d[i] = out[i] > 0 ? kept : 0
            }
        }
        columnSumAccumulate(biasSums, da)
        return .float32(da)
    case .bfloat16(let activated):
        let du = arena.bfloat16(rows: da.rows, columns: da.columns)
        reluGradientToBFloat16SummingColumns(du, da, activated: activated, scale: scale, sums: biasSums)
        return .bfloat16(du)
    }
}
