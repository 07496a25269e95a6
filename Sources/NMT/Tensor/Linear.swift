// Linear layer with bias, PyTorch's layout: weight [out, in], y = x·Wᵀ + b.
//
//   forward:  y[N, out] = x[N, in] · W[out, in]ᵀ + b[out]          (optionally max(·, 0): ReLU)
//   backward: dx[N, in]   += dy[N, out] · W[out, in]
//             dW[out, in] += dy[N, out]ᵀ · x[N, in]
//             db[out]     += Σ_n dy[n, :]
// Gradients accumulate (+=), as in llm.c, so shared weights and residual branches just add.
// One forward and one backward for every precision and weight type: float32 products through
// OpenBLAS, or packed panels (PanelLinear) in a pass with independent rows (decoding), int8
// weights through Int8Matmul (decoding), and in a bf16 pass products of bfloat16
// inputs (`Compute`) — x may come rounded already, y and dx may be written rounded (a Matrix of
// bfloat16: a result only products read), and dy is rounded once for both of its products.

import CKernels

/// y = x·Wᵀ + b (b optional: the output projection onto the shared embedding has none); with
/// `relu`, y = max(x·Wᵀ + b, 0) (the feed-forward layer's hidden units).
public func linearForward(_ y: Matrix, _ x: Matrix, weight: WeightMatrix, bias: Tensor?, relu: Bool = false, compute: Compute) {
    checkShape(x.columns == weight.columns, "linearForward: input vs weight [out, in]", x.shape, Shape(weight.rows, weight.columns))
    checkShape(y.rows == x.rows && y.columns == weight.rows, "linearForward: output vs input·weightᵀ", y.shape, Shape(x.rows, weight.rows))
    if let bias { checkShape(bias.count == weight.rows, "linearForward: bias vs weight [out, in]", bias.shape, Shape(weight.rows, weight.columns)) }
    if let bf16 = compute.bf16 {
        let w = weight.float32
        let b = BF16Operand.float32(w.pointer, ld: w.columns), biasRow = bias.map { UnsafePointer($0.pointer) }
        switch y {
        case .float32(let y):
            bf16.multiply(y.pointer, x.operand, transposeA: false, b, transposeB: true, m: y.rows, n: y.columns, k: x.columns, bias: biasRow, relu: relu)
        case .bfloat16(let y):
            bf16.multiply(rounded: y.pointer, x.operand, b, transposeB: true, m: y.rows, n: y.columns, k: x.columns, bias: biasRow, relu: relu)
        }
        return
    }
    let (y, x) = (y.float32, x.float32)
    switch weight {
    case .float32(let w) where compute.independentRows:
        // Weights not packed ahead (a model not made for decoding): packed for this product.
        let count = PackedMatrix.size(rows: w.rows, columns: w.columns)
        let panels = PageMemory.allocate(count, for: "packing a weight")
        defer { PageMemory.deallocate(panels, count) }
        panelLinearForward(y, x, weight: .pack(w, into: panels), bias: bias, relu: relu)
        return
    case .float32(let w):
        // sgemm has no bias: C starts as the bias rows and the product adds to it (beta = 1).
        if let bias { for r in 0..<y.rows { (y.pointer + r * y.columns).update(from: bias.pointer, count: y.columns) } }
        matmul(y, x, w, transposeB: true, beta: bias == nil ? 0 : 1)
    case .packed(let p):
        panelLinearForward(y, x, weight: p, bias: bias, relu: relu)
        return
    case .int8(let q):
        int8LinearForward(y, x, weight: q, bias: bias)
    }
    if relu { activationForward(y, y, .relu) }
}

/// Accumulates dx (if given; with `accumulateDx` false it is written instead: a fresh tensor, no
/// zeroing pass), dW and db (if given) from dy. A bfloat16 dx (a bf16 pass) is written rounded: an
/// input gradient only products read. A bfloat16 dy was rounded by the product that wrote it, which
/// also summed its bias gradient: dBias is then nil. With `dyDropout`, the output gradient is
/// dropout′(dy) = dy · the mask's factors (a sub-layer's dropout before the residual sum): a bf16
/// pass applies it as it rounds dy, a float32 pass into a temporary.
public func linearBackward(dx: Matrix?, accumulateDx: Bool = true, dWeight: Tensor, dBias: Tensor?, dy: Matrix, dyDropout: DropoutMask? = nil,
                           x: Matrix, weight: Tensor, compute: Compute, arena: Arena) {
    checkShape(dy.rows == x.rows && dy.columns == weight.rows, "linearBackward: dy vs x·Wᵀ", dy.shape, Shape(x.rows, weight.rows))
    checkShape(dWeight.rows == weight.rows && dWeight.columns == weight.columns, "linearBackward: dWeight vs weight", dWeight.shape, weight.shape)
    if let dx { checkShape(dx.rows == x.rows && dx.columns == x.columns, "linearBackward: dx vs x", dx.shape, x.shape) }
    if let dBias { checkShape(dBias.count == weight.rows, "linearBackward: dBias vs weight [out, in]", dBias.shape, weight.shape) }
    let mark = arena.mark()
    defer { arena.release(to: mark) }
    let dxBeta: Float = accumulateDx ? 1 : 0
    guard let bf16 = compute.bf16 else {
        var dy = dy.float32
        if let dyDropout {
            let dF = arena.tensor(dy.shape)
            dyDropout.apply(dy, into: dF)
            dy = dF
        }
        if let dx { matmul(dx.float32, dy, weight, beta: dxBeta) }
        matmul(dWeight, dy, x.float32, transposeA: true, beta: 1)
        if let dBias { columnSumAccumulate(dBias.pointer, dy) }
        return
    }
    // dy rounded once for both products (each would otherwise round its own copy), the bias
    // gradient summed and dropout′ applied in the same read.
    let dy16: BF16Operand
    switch dy {
    case .bfloat16(let m):
        require(dBias == nil && dyDropout == nil, "linearBackward: a rounded dy comes with its bias gradient summed and its dropout applied")
        dy16 = m.operand
    case .float32(let t):
        let rounded = arena.bfloat16(rows: t.rows, columns: t.columns)
        if let dBias {
            roundToBFloat16SummingColumns(rounded, t, sums: dBias.pointer, dropout: dyDropout)
        } else if let dyDropout {
            let dF = arena.tensor(t.shape)
            dyDropout.apply(t, into: dF)
            rounded.round(from: dF)
        } else {
            rounded.round(from: t)
        }
        dy16 = rounded.operand
    }
    let w = BF16Operand.float32(weight.pointer, ld: weight.columns)
    switch dx {
    case .bfloat16(let dx)?:
        require(!accumulateDx, "linearBackward: a rounded dx is written, not accumulated")
        bf16.multiply(rounded: dx.pointer, dy16, w, transposeB: false, m: dx.rows, n: dx.columns, k: dy.columns)
    case .float32(let dx)?:
        bf16.multiply(dx.pointer, dy16, transposeA: false, w, transposeB: false, m: dx.rows, n: dx.columns, k: dy.columns, alpha: 1, beta: dxBeta)
    case nil:
        break
    }
    bf16.multiply(dWeight.pointer, dy16, transposeA: true, x.operand, transposeB: false, m: dWeight.rows, n: dWeight.columns, k: dy.rows,
                  alpha: 1, beta: 1)
}

/// out[c] += Σ_r m[r, c]: rows in order for every column (deterministic), each worker a block of columns.
public func columnSumAccumulate(_ out: UnsafeMutablePointer<Float>, _ m: Tensor) {
    let columns = m.columns
    Threads.parallelColumnBlocks(columns, unit: 128) { block in  // blocks of whole cache lines
        nmt_column_sums(out + block.lowerBound, m.pointer + block.lowerBound, m.rows, block.count, columns)  // Kernels/float_rows.c
    }
}
