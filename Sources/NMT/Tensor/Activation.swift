// Feed-forward activations. ReLU (Vaswani et al. 2017) and GELU (Hendrycks & Gimpel 2016),
// the exact erf form that PyTorch's and fairseq's `gelu` compute.
//
//   ReLU:  y = max(x, 0),               dx += dy · [x > 0]
//   GELU:  y = x·Φ(x),                  dx += dy · (Φ(x) + x·φ(x))
//          Φ(x) = ½(1 + erf(x/√2)),     φ(x) = e^(−x²/2)/√(2π)
// Both read the pre-activation x in backward, so the forward pass keeps its input.

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
