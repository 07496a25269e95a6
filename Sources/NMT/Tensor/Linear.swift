// Linear layer with bias, PyTorch's layout: weight [out, in], y = x·Wᵀ + b.
//
//   forward:  y[N, out] = x[N, in] · W[out, in]ᵀ + b[out]
//   backward: dx[N, in]   += dy[N, out] · W[out, in]
//             dW[out, in] += dy[N, out]ᵀ · x[N, in]
//             db[out]     += Σ_n dy[n, :]
// Gradients accumulate (+=), as in llm.c, so shared weights and residual branches just add.

/// y = x·Wᵀ + b (b optional: the output projection onto the shared embedding has none).
public func linearForward(_ y: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) {
    checkShape(x.columns == weight.columns, "linearForward: input vs weight [out, in]", x.shape, weight.shape)
    checkShape(y.rows == x.rows && y.columns == weight.rows, "linearForward: output vs input·weightᵀ", y.shape, Shape(x.rows, weight.rows))
    var beta: Float = 0
    if let bias {
        checkShape(bias.count == weight.rows, "linearForward: bias vs weight [out, in]", bias.shape, weight.shape)
        for r in 0..<y.rows { (y.pointer + r * y.columns).update(from: bias.pointer, count: y.columns) }
        beta = 1
    }
    matmul(y, x, weight, transposeB: true, beta: beta)
}

/// Accumulates dx (if given), dW and db (if given) from dy.
public func linearBackward(dx: Tensor?, dWeight: Tensor, dBias: Tensor?,
                           dy: Tensor, x: Tensor, weight: Tensor) {
    checkShape(dy.rows == x.rows && dy.columns == weight.rows, "linearBackward: dy vs x·Wᵀ", dy.shape, Shape(x.rows, weight.rows))
    checkShape(dWeight.shape == weight.shape, "linearBackward: dWeight vs weight", dWeight.shape, weight.shape)
    if let dx {
        checkShape(dx.shape.count == x.shape.count && dx.columns == x.columns, "linearBackward: dx vs x", dx.shape, x.shape)
        matmul(dx, dy, weight, beta: 1)
    }
    matmul(dWeight, dy, x, transposeA: true, beta: 1)
    if let dBias {
        checkShape(dBias.count == weight.rows, "linearBackward: dBias vs weight [out, in]", dBias.shape, weight.shape)
        columnSumAccumulate(dBias.pointer, dy)
    }
}

/// out[c] += Σ_r m[r, c]: rows in order (deterministic), vectorised across columns.
public func columnSumAccumulate(_ out: UnsafeMutablePointer<Float>, _ m: Tensor) {
    let columns = m.columns
    for r in 0..<m.rows { addScaled(out, m.pointer + r * columns, columns) }
}
