// Token embedding lookup, scaled (the Transformer multiplies embeddings by √dModel).
//
//   forward:  out[n, :] = scale · E[ids[n], :]
//   backward: dE[ids[n], :] += scale · dout[n, :]   (scatter-add; repeated ids add up)
// Like PyTorch's `Embedding(padding_idx=…)`, lookups of the padding id give no gradient.

public func embeddingForward(_ out: Tensor, ids: UnsafePointer<Int32>, table: Tensor, scale: Float) {
    checkShape(out.columns == table.columns, "embeddingForward: output vs table [V, C]", out.shape, table.shape)
    let c = table.columns, vocabulary = Int32(table.rows)
    for n in 0..<out.rows {
        let id = ids[n]
        require(id >= 0 && id < vocabulary, "embeddingForward: id \(id) outside a vocabulary of \(vocabulary)")
        let src = table.pointer + Int(id) * c, dst = out.pointer + n * c
        for j in 0..<c { dst[j] = scale * src[j] }
    }
}

/// The lookup from an int8 table (quantized decoding): out[n, :] = scale · q[id, :] / s_id.
public func embeddingForward(_ out: Tensor, ids: UnsafePointer<Int32>, table q: QuantizedMatrix, scale: Float) {
    checkShape(out.columns == q.columns, "embeddingForward: output vs int8 table [V, C]", out.shape, Shape(q.rows, q.columns))
    let c = q.columns, vocabulary = Int32(q.rows)
    for n in 0..<out.rows {
        let id = ids[n]
        require(id >= 0 && id < vocabulary, "embeddingForward: id \(id) outside a vocabulary of \(vocabulary)")
        let src = q.values + Int(id) * c, dst = out.pointer + n * c, factor = scale / q.scales[Int(id)]
        for j in 0..<c { dst[j] = factor * Float(src[j]) }
    }
}

/// The lookup from a packed table (decoding): the same floats, read across the panels (row id is
/// lane id mod 16 of panel ⌊id/16⌋, PanelLinear.swift).
public func embeddingForward(_ out: Tensor, ids: UnsafePointer<Int32>, table p: PackedMatrix, scale: Float) {
    checkShape(out.columns == p.columns, "embeddingForward: output vs packed table [V, C]", out.shape, Shape(p.rows, p.columns))
    let c = p.columns, vocabulary = Int32(p.rows)
    for n in 0..<out.rows {
        let id = ids[n]
        require(id >= 0 && id < vocabulary, "embeddingForward: id \(id) outside a vocabulary of \(vocabulary)")
        let src = p.panels + Int(id) / 16 * c * 16 + Int(id) % 16, dst = out.pointer + n * c
        for j in 0..<c { dst[j] = scale * src[j * 16] }
    }
}

public func embeddingBackward(dTable: Tensor, dOut: Tensor, ids: UnsafePointer<Int32>, scale: Float, paddingIndex: Int32?) {
    checkShape(dOut.columns == dTable.columns, "embeddingBackward: dOut vs table [V, C]", dOut.shape, dTable.shape)
    let c = dTable.columns
    for n in 0..<dOut.rows where ids[n] != paddingIndex {
        addScaled(dTable.pointer + Int(ids[n]) * c, dOut.pointer + n * c, c, scale)
    }
}
