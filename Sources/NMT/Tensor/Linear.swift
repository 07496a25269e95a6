// Linear layer with bias, PyTorch's layout: weight [out, in], y = x·Wᵀ + b.
//
//   forward:  y[N, out] = x[N, in] · W[out, in]ᵀ + b[out]
//   backward: dx[N, in]   += dy[N, out] · W[out, in]
//             dW[out, in] += dy[N, out]ᵀ · x[N, in]
//             db[out]     += Σ_n dy[n, :]
// Gradients accumulate (+=), as in llm.c, so shared weights and residual branches just add.
// In a bf16 pass x may come rounded already (LinearInput), and dy is rounded once for both of
// its products.

import CKernels

/// y = x·Wᵀ + b (b optional: the output projection onto the shared embedding has none).
public func linearForward(_ y: Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) {
    linearForward(y, .float32(x), weight: LinearInput.float32(weight), bias: bias)
}

/// y = x·Wᵀ + b where x and W are float32 or (in a bf16 pass) already rounded.
public func linearForward(_ y: Tensor, _ x: LinearInput, weight: LinearInput, bias: Tensor?) {
    checkShape(x.columns == weight.columns, "linearForward: input vs weight [out, in]", x.shape, weight.shape)
    checkShape(y.rows == x.rows && y.columns == weight.rows, "linearForward: output vs input·weightᵀ", y.shape, Shape(x.rows, weight.rows))
    if let bias { checkShape(bias.count == weight.rows, "linearForward: bias vs weight [out, in]", bias.shape, weight.shape) }
    if BF16Matmul.inPass {
        BF16Matmul.multiply(y.pointer, x.operand, transposeA: false, weight.operand, transposeB: true,
                            m: y.rows, n: y.columns, k: x.columns, alpha: 1, beta: 0, bias: bias.map { UnsafePointer($0.pointer) })
        return
    }
    guard case .float32(let x) = x, case .float32(let weight) = weight else { requireBF16Pass("linearForward"); return }
    // sgemm has no bias: C starts as the bias rows and the product adds to it (beta = 1).
    if let bias { for r in 0..<y.rows { (y.pointer + r * y.columns).update(from: bias.pointer, count: y.columns) } }
    matmul(y, x, weight, transposeB: true, beta: bias == nil ? 0 : 1)
}

/// y = x·Wᵀ + b written rounded to bfloat16 (a bf16 pass; float32 weights): a projection that
/// only products read (attention's q, k and v), made without its float32 copy. With `relu`,
/// y = max(x·Wᵀ + b, 0) (the feed-forward layer's hidden units).
public func linearForward(_ y: BF16Matrix, _ x: LinearInput, weight: Tensor, bias: Tensor?, relu: Bool = false) {
    requireBF16Pass("linearForward")
    checkShape(x.columns == weight.columns, "linearForward: input vs weight [out, in]", x.shape, weight.shape)
    checkShape(y.rows == x.rows && y.columns == weight.rows, "linearForward: output vs input·weightᵀ", Shape(y.rows, y.columns), Shape(x.rows, weight.rows))
    if let bias { checkShape(bias.count == weight.rows, "linearForward: bias vs weight [out, in]", bias.shape, weight.shape) }
    BF16Matmul.multiply(rounded: y.pointer, x.operand, .float32(weight.pointer, ld: weight.columns), transposeB: true,
                        m: y.rows, n: y.columns, k: x.columns, bias: bias.map { UnsafePointer($0.pointer) }, relu: relu)
}

/// Accumulates dx (if given), dW and db (if given) from dy. With `accumulateDx` false, dx is
/// overwritten instead (a fresh tensor: no zeroing pass). In a bf16 pass with an `arena`, dy is
/// rounded once there (a temporary) for both products.
public func linearBackward(dx: Tensor?, dWeight: Tensor, dBias: Tensor?,
                           dy: Tensor, x: Tensor, weight: Tensor, accumulateDx: Bool = true, arena: Arena? = nil) {
    linearBackward(dx: dx, dWeight: dWeight, dBias: dBias, dy: dy, x: .float32(x), weight: .float32(weight), accumulateDx: accumulateDx,
                   arena: arena)
}

/// The same where x and W are float32 or (in a bf16 pass) already rounded. With `roundedDx` (a
/// bf16 pass; instead of dx), dx = dy·W is written rounded: an input gradient only products read.
/// With `dyDropout`, the output gradient is dropout′(dy) = dy · the mask's factors (a sub-layer's
/// dropout before the residual sum): in a bf16 pass it is applied as dy is rounded, else into a
/// temporary (`arena` required).
public func linearBackward(dx: Tensor?, roundedDx: BF16Matrix? = nil, dWeight: Tensor, dBias: Tensor?,
                           dy: Tensor, dyDropout: DropoutMask? = nil, x: LinearInput, weight: LinearInput, accumulateDx: Bool = true,
                           arena: Arena? = nil) {
    checkLinearBackward(dx: dx, dWeight: dWeight, dy: dy.shape, x: x, weight: weight)
    // The one pass that can apply dropout′ as it reads dy: a bf16 pass's rounding that also sums
    // the bias gradient. Otherwise dropout′(dy) goes into a temporary first.
    let roundingSumsBias = BF16Matmul.inPass && arena != nil && dBias != nil
    if let dyDropout, !roundingSumsBias {
        require(arena != nil, "linearBackward: dropout′(dy) needs an arena for its temporary")
        let arena = arena!, mark = arena.mark()
        defer { arena.release(to: mark) }
        let dF = arena.tensor(dy.shape)
        dyDropout.apply(dy, into: dF)
        linearBackward(dx: dx, roundedDx: roundedDx, dWeight: dWeight, dBias: dBias, dy: dF, x: x, weight: weight, accumulateDx: accumulateDx,
                       arena: arena)
        return
    }
    if let roundedDx {
        requireBF16Pass("linearBackward")
        require(dx == nil && !accumulateDx, "linearBackward: a rounded dx is written, not accumulated")
        checkShape(roundedDx.rows == x.rows && roundedDx.columns == x.columns, "linearBackward: dx vs x", Shape(roundedDx.rows, roundedDx.columns), x.shape)
    }
    let dxBeta: Float = accumulateDx ? 1 : 0
    var biasDone = false
    if BF16Matmul.inPass {
        // dy rounded once for both products (each would otherwise round its own copy).
        let mark = arena?.mark()
        defer { if let arena, let mark { arena.release(to: mark) } }
        var dy16 = BF16Matmul.Operand.float32(dy.pointer, ld: dy.columns)
        if let arena {
            let rounded = arena.bfloat16(rows: dy.rows, columns: dy.columns)
            if roundingSumsBias, let dBias {
                // The bias gradient is summed as dy is read for rounding.
                checkShape(dBias.count == weight.rows, "linearBackward: dBias vs weight [out, in]", dBias.shape, weight.shape)
                roundToBFloat16SummingColumns(rounded, dy, sums: dBias.pointer, dropout: dyDropout)
                biasDone = true
            } else {
                rounded.round(from: dy)
            }
            dy16 = rounded.operand
        }
        if let roundedDx {
            BF16Matmul.multiply(rounded: roundedDx.pointer, dy16, weight.operand, transposeB: false,
                                m: roundedDx.rows, n: roundedDx.columns, k: dy.columns)
        }
        bf16Products(dx: dx, dWeight: dWeight, dy16, rows: dy.rows, outputs: dy.columns, x: x, weight: weight, dxBeta: dxBeta)
    } else {
        guard case .float32(let x) = x, case .float32(let weight) = weight else { requireBF16Pass("linearBackward"); return }
        if let dx { matmul(dx, dy, weight, beta: dxBeta) }
        matmul(dWeight, dy, x, transposeA: true, beta: 1)
    }
    if let dBias, !biasDone {
        checkShape(dBias.count == weight.rows, "linearBackward: dBias vs weight [out, in]", dBias.shape, weight.shape)
        columnSumAccumulate(dBias.pointer, dy)
    }
}

/// The same (bf16 pass, no bias) with dy given rounded already: the output projection, whose loss
/// gradient is written rounded (labelSmoothedCrossEntropy's `roundedGradient`).
public func linearBackward(dx: Tensor?, dWeight: Tensor, dy16: BF16Matrix, x: LinearInput, weight: LinearInput, accumulateDx: Bool = true) {
    requireBF16Pass("linearBackward")
    checkLinearBackward(dx: dx, dWeight: dWeight, dy: Shape(dy16.rows, dy16.columns), x: x, weight: weight)
    bf16Products(dx: dx, dWeight: dWeight, dy16.operand, rows: dy16.rows, outputs: dy16.columns, x: x, weight: weight, dxBeta: accumulateDx ? 1 : 0)
}

private func checkLinearBackward(dx: Tensor?, dWeight: Tensor, dy: Shape, x: LinearInput, weight: LinearInput) {
    checkShape(dy.rows == x.rows && dy.columns == weight.rows, "linearBackward: dy vs x·Wᵀ", dy, Shape(x.rows, weight.rows))
    checkShape(dWeight.rows == weight.rows && dWeight.columns == weight.columns, "linearBackward: dWeight vs weight", dWeight.shape, weight.shape)
    if let dx { checkShape(dx.rows == x.rows && dx.columns == x.columns, "linearBackward: dx vs x", dx.shape, Shape(x.rows, x.columns)) }
}

/// dx (+)= dy·W and dW += dyᵀ·x in bfloat16, dy [rows, outputs].
private func bf16Products(dx: Tensor?, dWeight: Tensor, _ dy16: BF16Matmul.Operand, rows: Int, outputs: Int, x: LinearInput, weight: LinearInput,
                          dxBeta: Float) {
    if let dx {
        BF16Matmul.multiply(dx.pointer, dy16, transposeA: false, weight.operand, transposeB: false,
                            m: dx.rows, n: dx.columns, k: outputs, alpha: 1, beta: dxBeta)
    }
    BF16Matmul.multiply(dWeight.pointer, dy16, transposeA: true, x.operand, transposeB: false,
                        m: dWeight.rows, n: dWeight.columns, k: rows, alpha: 1, beta: 1)
}

/// Rounded inputs exist only in a bf16 pass, on the thread that runs it.
private func requireBF16Pass(_ operation: String) {
    require(BF16Matmul.inPass, "\(operation): a bfloat16 input outside a bf16 pass")
}

/// out[c] += Σ_r m[r, c]: rows in order for every column (deterministic), each worker a block of columns.
public func columnSumAccumulate(_ out: UnsafeMutablePointer<Float>, _ m: Tensor) {
    let columns = m.columns
    Threads.parallelColumnBlocks(columns, unit: 128) { block in  // blocks of whole cache lines
        nmt_column_sums(out + block.lowerBound, m.pointer + block.lowerBound, m.rows, block.count, columns)  // Kernels/float_rows.c
    }
}
