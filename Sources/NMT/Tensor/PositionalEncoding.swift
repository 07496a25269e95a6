// Sinusoidal positional encoding (Vaswani et al. 2017, §3.5) in fairseq's layout:
// row p = [sin(p·ω_0) … sin(p·ω_{h−1}) | cos(p·ω_0) … cos(p·ω_{h−1})], h = C/2,
// ω_i = 10000^(−i/(h−1)), positions counted from 0; an odd C gets a zero last column.
//
// The encoding is a constant added to the embeddings, so its backward pass is the identity:
// d(embeddings) = d(out). No kernel is needed for it.

import Foundation

/// The table [maxPositions, C] (computed once, in Double, then rounded).
public func sinusoidalTable(into table: Tensor) {
    let c = table.columns, half = c / 2
    let step = half > 1 ? log(10000.0) / Double(half - 1) : 0
    table.zero()
    for p in 0..<table.rows {
        let row = table.pointer + p * c
        for i in 0..<half {
            let angle = Double(p) * exp(Double(i) * -step)
            row[i] = Float(sin(angle))
            row[half + i] = Float(cos(angle))
        }
    }
}

/// x[b, t, :] += table[t, :] for x seen as [B, T, C] with T = `length`; positions start at `offset`
/// (incremental decoding adds the position of the one new token).
public func addPositions(_ x: Tensor, length: Int, table: Tensor, offset: Int = 0) {
    let c = x.columns
    checkShape(c == table.columns && x.rows % max(length, 1) == 0, "addPositions: x [B·T, C] vs table [P, C]", x.shape, table.shape)
    require(offset + length <= table.rows, "addPositions: position \(offset + length - 1) beyond the table's \(table.rows)")
    for r in 0..<x.rows {
        addScaled(x.pointer + r * c, table.pointer + (offset + r % length) * c, c)
    }
}
