// Feed-forward activations. ReLU (Vaswani et al. 2017) and GELU (Hendrycks & Gimpel 2016),
// the exact erf form that PyTorch's and fairseq's `gelu` compute.
//
//   ReLU:  y = max(x, 0),               dx += dy · [x > 0]
//   GELU:  y = x·Φ(x),                  dx += dy · (Φ(x) + x·φ(x))
//          Φ(x) = ½(1 + erf(x/√2)),     φ(x) = e^(−x²/2)/√(2π)
// Both read the pre-activation x in backward, so the forward pass keeps its input.

import CKernels
import Foundation

public enum Activation: String, Codable, Sendable, CaseIterable {
    case relu, gelu
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
