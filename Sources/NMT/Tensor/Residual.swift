// Residual connection (He et al. 2016): y = a + b.
//   backward: da += dy, db += dy — the gradient flows unchanged into both branches.

public func residualForward(_ y: Tensor, _ a: Tensor, _ b: Tensor) {
    checkShape(a.count == b.count && y.count == a.count, "residualForward: a vs b", a.shape, b.shape)
    let yp = y.pointer, ap = a.pointer, bp = b.pointer
    Threads.parallelChunks(y.count, minChunk: 1 << 16) { range in
        for i in range { yp[i] = ap[i] + bp[i] }
    }
}

public func residualBackward(da: Tensor, db: Tensor, dy: Tensor) {
    checkShape(da.count == dy.count && db.count == dy.count, "residualBackward: da/db vs dy", da.shape, dy.shape)
    addScaled(da.pointer, dy.pointer, dy.count)
    addScaled(db.pointer, dy.pointer, dy.count)
}
