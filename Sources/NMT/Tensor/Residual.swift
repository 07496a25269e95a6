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

public func residualBackward(da: Tensor, db: Tensor, dy: Tensor) {
    checkShape(da.count == dy.count && db.count == dy.count, "residualBackward: da/db vs dy", da.shape, dy.shape)
    addScaled(da.pointer, dy.pointer, dy.count)
    addScaled(db.pointer, dy.pointer, dy.count)
}
