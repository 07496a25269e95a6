// Layer normalisation (Ba et al. 2016) over the last dimension, eps = 1e-5 as in PyTorch (a
// model's config may say otherwise: Marian's 1e-6).
//
//   forward:  μ = mean(x), rstd = 1/√(var(x) + eps), x̂ = (x − μ)·rstd, y = x̂·w + b
//   backward: with g = dy·w,
//             dx += rstd · (g − mean(g) − x̂·mean(g·x̂))
//             dw += Σ_rows dy·x̂,   db += Σ_rows dy
// The forward pass saves μ and rstd per row: exactly what the backward pass needs.

import CKernels
import Foundation

public let layerNormEpsilon: Float = 1e-5

public func layerNormForward(_ y: Tensor, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             _ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float = layerNormEpsilon) {
    layerNormForward(.float32(y), mean: mean, rstd: rstd, x, weight: weight, bias: bias, epsilon: epsilon)
}

/// The forward pass into y of either element type: rounded to bfloat16 as it is written (a bf16
/// pass's pre-norm sub-layer input, read only by matrix products), the bits rounding the float32
/// y would give.
public func layerNormForward(_ y: Matrix, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             _ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float = layerNormEpsilon) {
    checkShape(y.rows == x.rows && y.columns == x.columns, "layerNormForward: output vs input", y.shape, x.shape)
    checkShape(weight.count == x.columns && bias.count == x.columns, "layerNormForward: weight vs input", weight.shape, x.shape)
    let c = x.columns
    let w = weight.pointer, b = bias.pointer
    Threads.parallelChunks(x.rows, minChunk: 64) { rows in
        for r in rows {
            switch y {
            case .float32(let y): nmt_layer_norm_row(y.pointer + r * c, mean + r, rstd + r, x.pointer + r * c, w, b, c, epsilon)
            case .bfloat16(let y): nmt_layer_norm_row_bf16(y.pointer + r * c, mean + r, rstd + r, x.pointer + r * c, w, b, c, epsilon)
            }
        }
    }
}

/// With `residual` (a pre-norm sub-layer's output gradient, the residual path's share), dx is
/// written as residual + rstd·(…) instead of being added to.
public func layerNormBackward(dx: Tensor, dWeight: Tensor, dBias: Tensor,
                              dy: Tensor, x: Tensor, weight: Tensor,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, residual: Tensor? = nil) {
    checkShape(dy.shape.count == x.shape.count && dy.columns == x.columns, "layerNormBackward: dy vs x", dy.shape, x.shape)
    checkShape(dx.shape.count == x.shape.count && dx.columns == x.columns, "layerNormBackward: dx vs x", dx.shape, x.shape)
    checkShape(dWeight.count == x.columns && dBias.count == x.columns, "layerNormBackward: dWeight vs x", dWeight.shape, x.shape)
    if let residual { checkShape(residual.count == dx.count, "layerNormBackward: residual vs dx", residual.shape, dx.shape) }
    let c = x.columns
    let w = weight.pointer
    // dx is added to where there is no residual (its own values are the base). Each row's two
    // means are serial sums in column order (their bits); nmt_layer_norm_backward_rows takes
    // sixteen rows at once, one per vector lane, rows transposed in registers (a scalar loop waits
    // on each add: 2.6× slower on [4096, 512] in cache). In a training step the pass is bound by
    // reading dy, x and the residual from memory.
    let base = UnsafePointer(residual?.pointer ?? dx.pointer)
    let dw = dWeight.pointer, db = dBias.pointer
    // One worker (one thread, or too few rows to split): the parameter gradients are summed in the
    // same pass, row by row (the order and the operations of the column-block kernel below, so
    // the same bits), not in a second read of dy and x.
    let fused = Threads.count == 1 || x.rows < 128
    Threads.parallelChunks(x.rows, minChunk: fused ? x.rows : 64) { rows in
        let first = rows.lowerBound * c
        nmt_layer_norm_backward_rows(dx.pointer + first, base + first, fused ? dw : nil, fused ? db : nil, dy.pointer + first, x.pointer + first,
                                     w, mean + rows.lowerBound, rstd + rows.lowerBound, rows.count, c)
    }
    if fused { return }
    // Parameter gradients sum over rows: in row order for every column (each worker a block of
    // columns), so the result is the same for any thread count.
    Threads.parallelColumnBlocks(c, unit: 64) { block in  // blocks of whole cache lines
        let first = block.lowerBound
        nmt_layer_norm_parameter_gradients(dw + first, db + first, dy.pointer + first, x.pointer + first, mean, rstd, x.rows, block.count, c)
    }
}
