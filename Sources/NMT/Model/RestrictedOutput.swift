// A batch's output vocabulary under a lexical shortlist (Shortlist.swift): the union U of its
// sentences' allowed tokens, the output projection's rows for U — gathered and packed once per
// batch, in the model's weight type (float32 panels, or int8 rows with their scales) — and which
// tokens of U each sentence may produce. A step then projects onto U alone,
//   logits[r, U_j] = h_r · W[U_j] (+ b[U_j])  for U_j allowed to row r's sentence,  −∞ elsewhere,
// so its cost falls from V to |U| columns, and a sentence's logits do not depend on its batch.

import CKernels

public struct RestrictedOutput {
    /// U, sorted.
    let tokens: UnsafeMutablePointer<Int32>
    let count: Int
    /// W[U] [|U|, C] and b[U].
    let weight: WeightMatrix
    let bias: Tensor?
    /// [B, |U|]: 1 where sentence b may produce U_j.
    let allowed: UnsafeMutablePointer<UInt8>
    /// The whole vocabulary's moments, to estimate the excluded tokens' mass (nil: normalise over
    /// the allowed tokens alone).
    let moments: OutputMoments?
}

extension Transformer {
    /// The restricted output of a batch whose sentence b may produce the sorted tokens `allowed[b]`,
    /// in `memory` (the batch's arena); `moments`: the vocabulary's (OutputMoments.swift).
    func restrictedOutput(allowed: [[Int32]], moments: OutputMoments?, memory: Arena) -> RestrictedOutput {
        let union = Set(allowed.joined()).sorted()
        let u = union.count, c = config.dModel
        let tokens = memory.ids(u)
        for (j, t) in union.enumerated() { tokens[j] = t }
        let position = Dictionary(uniqueKeysWithValues: union.enumerated().map { ($1, $0) })
        let mask = memory.bytes(allowed.count * u)
        mask.initialize(repeating: 0, count: allowed.count * u)
        for (b, list) in allowed.enumerated() { for t in list { mask[b * u + position[t]!] = 1 } }
        var bias: Tensor? = nil
        if let b = weights.outputBias {
            let gathered = memory.tensor(Shape(u))
            for j in 0..<u { gathered[j] = b[Int(tokens[j])] }
            bias = gathered
        }
        let weight: WeightMatrix
        switch weights.outputProjection {
        case .int8(let q):
            let values = UnsafeMutableRawPointer(memory.floats((u * c + 3) / 4)).bindMemory(to: Int8.self, capacity: u * c)
            let scales = memory.floats(u)
            for j in 0..<u {
                (values + j * c).update(from: q.values + Int(tokens[j]) * c, count: c)
                scales[j] = q.scales[Int(tokens[j])]
            }
            var packed: (values: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int32>)? = nil
            if q.packed != nil {
                let size = nmt_int8_packed_size(u, c)
                let p = UnsafeMutableRawPointer(memory.floats((size + 3) / 4)).bindMemory(to: Int8.self, capacity: size), sums = memory.ids(u)
                nmt_int8_pack(p, sums, values, u, c)
                packed = (p, sums)
            }
            weight = .int8(QuantizedMatrix(values: values, scales: scales, rows: u, columns: c, packed: packed))
        case .packed(let p):
            // A decoding model keeps its float32 matrices only as panels: rows read across them.
            let rows = memory.tensor(Shape(u, c))
            embeddingForward(rows, ids: tokens, table: p, scale: 1)
            weight = .packed(PackedMatrix.pack(rows, into: memory.floats(PackedMatrix.size(rows: u, columns: c))))
        case .float32(let w):
            let rows = memory.tensor(Shape(u, c))
            for j in 0..<u { (rows.pointer + j * c).update(from: w.pointer + Int(tokens[j]) * c, count: c) }
            weight = .packed(PackedMatrix.pack(rows, into: memory.floats(PackedMatrix.size(rows: u, columns: c))))
        }
        return RestrictedOutput(tokens: tokens, count: u, weight: weight, bias: bias, allowed: mask, moments: moments)
    }

    /// logits [R, V] of `x` [R, C] under `restriction` — −∞ but at the tokens row r's sentence
    /// (`sentenceOf(r)`) may produce — and their log-normalisers `logZ` [R]: with the vocabulary's
    /// moments (then `excluded` [R] is given), including the excluded tokens' estimated mass `excluded`.
    func restrictedLogits(_ logits: Tensor, logZ: UnsafeMutablePointer<Float>, excluded: UnsafeMutablePointer<Float>?, _ x: Tensor,
                          _ restriction: RestrictedOutput, sentenceOf: (Int) -> Int, arena: Arena) {
        let u = restriction.count, v = logits.columns
        let partial = arena.tensor(Shape(x.rows, u))
        linearForward(.float32(partial), .float32(x), weight: restriction.weight, bias: restriction.bias, compute: .rowIndependent)
        logits.fill(-.infinity)
        for r in 0..<x.rows {
            let allowed = restriction.allowed + sentenceOf(r) * u, row = logits.pointer + r * v, values = partial.pointer + r * u
            for j in 0..<u where allowed[j] != 0 { row[Int(restriction.tokens[j])] = values[j] }
        }
        logNormalizers(logits, into: logZ)
        guard let moments = restriction.moments, let excluded else { return }
        moments.addExcludedMass(to: logZ, excluded: excluded, x: x, arena: arena) { r, body in
            let allowed = restriction.allowed + sentenceOf(r) * u, values = partial.pointer + r * u
            for j in 0..<u where allowed[j] != 0 { body(restriction.tokens[j], values[j]) }
        }
    }
}
