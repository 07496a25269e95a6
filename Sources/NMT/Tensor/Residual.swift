// Residual connection (He et al. 2016): y = a + b (with dropout on b in training: one pass).
//   backward: da += dy, db += dy — the gradient flows unchanged into both branches.

import CKernels

public func residualForward(_ y: Tensor, _ a: Tensor, _ b: Tensor) {
    checkShape(a.count == b.count && y.count == a.count, "residualForward: a vs b", a.shape, b.shape)
    let yp = y.pointer, ap = a.pointer, bp = b.pointer
    Threads.parallelChunks(y.count, minChunk: 1 << 16) { range in
        for i in range { yp[i] = ap[i] + bp[i] }
    }
}

/// y = a + dropout(b) in one pass (y may be b): the bits of `dropoutForward` on b and then
/// `residualForward`, the mask drawn as `dropoutForward` draws it (`DropoutSampler.fusedMask`).
func residualForward(_ y: Tensor, _ a: Tensor, _ b: Tensor, dropout: FusedDropout) -> DropoutMask {
    checkShape(a.count == b.count && y.count == a.count, "residualForward: a vs b", a.shape, b.shape)
    let yp = y.pointer, ap = a.pointer, bp = b.pointer
    Threads.parallelChunks(y.count, minChunk: 1 << 15) { range in
        let i = range.lowerBound
        nmt_dropout_residual(yp + i, ap + i, bp + i, dropout.kept + i, i, range.count, dropout.stream, dropout.probability, dropout.scale)
    }
    return DropoutMask(kept: dropout.kept, count: y.count, scale: dropout.scale)
}

/// The backward of y = x + dropout(f) (or x + f without a mask) in one pass: dx += dy, and the
/// branch's gradient df = dropout's mask applied to dy (dy itself without one).
func residualBackward(dx: Tensor, df: Tensor, dy: Tensor, mask: DropoutMask?) {
    checkShape(dx.count == dy.count && df.count == dy.count, "residualBackward: dx/df vs dy", dx.shape, dy.shape)
    if let mask { checkShape(mask.count == dy.count, "residualBackward: mask vs dy", Shape(mask.count), dy.shape) }
    let (dxp, dfp, dyp, kept, scale) = (dx.pointer, df.pointer, dy.pointer, mask?.kept, mask?.scale ?? 1)
    Threads.parallelChunks(dy.count, minChunk: 1 << 15) { range in
        let i = range.lowerBound
        nmt_dropout_residual_backward(dxp + i, dfp + i, dyp + i, kept.map { UnsafePointer($0 + i) }, range.count, scale)
    }
}

public func residualBackward(da: Tensor, db: Tensor, dy: Tensor) {
    checkShape(da.count == dy.count && db.count == dy.count, "residualBackward: da/db vs dy", da.shape, dy.shape)
    addScaled(da.pointer, dy.pointer, dy.count)
    addScaled(db.pointer, dy.pointer, dy.count)
}
