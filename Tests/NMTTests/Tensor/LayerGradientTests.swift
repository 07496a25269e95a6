// Every backward kernel against central finite differences (see GradientCheck for the tolerance).

import CKernels
import Foundation
import Testing
@testable import NMT

@Suite struct LayerGradientTests {
    let check = GradientCheck()

    @Test func linearBackwardMatchesFiniteDifferences() {
        var rng = RandomGenerator(seed: 10)
        let x = OwnedTensor(Shape(5, 4), uniform: 1, rng: &rng)
        let w = OwnedTensor(Shape(3, 4), uniform: 1, rng: &rng)
        let b = OwnedTensor(Shape(3), uniform: 1, rng: &rng)
        let r = OwnedTensor(Shape(5, 3), uniform: 1, rng: &rng)
        let y = OwnedTensor(Shape(5, 3))
        let dx = OwnedTensor(Shape(5, 4)), dw = OwnedTensor(Shape(3, 4)), db = OwnedTensor(Shape(3))
        linearForward(.float32(y.t), .float32(x.t), weight: .float32(w.t), bias: b.t, compute: .float32)
        linearBackward(dx: .float32(dx.t), dWeight: dw.t, dBias: db.t, dy: .float32(r.t), x: .float32(x.t), weight: w.t, compute: .float32, arena: Arena())
        let bad = check.mismatches(inputs: [("x", x.t, dx.t), ("weight", w.t, dw.t), ("bias", b.t, db.t)]) {
            linearForward(.float32(y.t), .float32(x.t), weight: .float32(w.t), bias: b.t, compute: .float32)
            return weightedSum(y.t, r.t)
        }
        #expect(bad.isEmpty, "\(bad)")
    }

    @Test func linearForwardAddsTheBiasToEveryRow() {
        let x = OwnedTensor(Shape(2, 2), values: [1, 2, 3, 4])
        let w = OwnedTensor(Shape(1, 2), values: [10, 1])
        let b = OwnedTensor(Shape(1), values: [0.5])
        let y = OwnedTensor(Shape(2, 1))
        linearForward(.float32(y.t), .float32(x.t), weight: .float32(w.t), bias: b.t, compute: .float32)
        #expect(y.t.array == [12.5, 34.5])
    }

    @Test func embeddingBackwardScatterAddsRepeatedIdsAndSkipsPadding() {
        var rng = RandomGenerator(seed: 11)
        let table = OwnedTensor(Shape(6, 4), uniform: 1, rng: &rng)
        let ids: [Int32] = [3, 1, 3, 0, 5]  // id 3 repeated, id 0 is padding
        let out = OwnedTensor(Shape(5, 4)), r = OwnedTensor(Shape(5, 4), uniform: 1, rng: &rng)
        let dTable = OwnedTensor(Shape(6, 4))
        let scale: Float = 2
        ids.withUnsafeBufferPointer { idp in
            embeddingBackward(dTable: dTable.t, dOut: r.t, ids: idp.baseAddress!, scale: scale, paddingIndex: 0)
            // Padding is not looked up in the objective, matching PyTorch's padding_idx semantics.
            let bad = check.mismatches(inputs: [("table", table.t, dTable.t)]) {
                embeddingForward(out.t, ids: idp.baseAddress!, table: table.t, scale: scale)
                var s = 0.0
                for n in 0..<5 where ids[n] != 0 { for j in 0..<4 { s += Double(out.t[n * 4 + j]) * Double(r.t[n * 4 + j]) } }
                return s
            }
            #expect(bad.isEmpty, "\(bad)")
        }
        for j in 0..<4 { #expect(dTable.t[j] == 0) }  // the padding row
        for j in 0..<4 { #expect(dTable.t[2 * 4 + j] == 0) }  // an id never looked up
    }

    @Test func positionalTableHasSinesThenCosines() {
        let table = OwnedTensor(Shape(50, 8))
        sinusoidalTable(into: table.t)
        // C = 8: h = 4, ω_i = 10000^(−i/3).
        for p in [0, 1, 7, 49] {
            for i in 0..<4 {
                let angle = Double(p) * pow(10000.0, -Double(i) / 3)
                #expect(abs(Double(table.t[p * 8 + i]) - sin(angle)) < 1e-6)
                #expect(abs(Double(table.t[p * 8 + 4 + i]) - cos(angle)) < 1e-6)
            }
        }
        #expect(Array(table.t.array[0..<8]) == [0, 0, 0, 0, 1, 1, 1, 1])
    }

    @Test func addPositionsAddsRowTOfTheTableToEveryPositionT() {
        let table = OwnedTensor(Shape(10, 2), values: (0..<20).map(Float.init))
        let x = OwnedTensor(Shape(6, 2))  // B = 2, T = 3
        addPositions(x.t, length: 3, table: table.t, offset: 1)
        #expect(x.t.array == [2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7])
    }

    @Test func layerNormBackwardMatchesFiniteDifferences() {
        var rng = RandomGenerator(seed: 12)
        let (rows, c) = (4, 19)  // 19: exercises the SIMD tail
        let x = OwnedTensor(Shape(rows, c), uniform: 2, rng: &rng)
        let w = OwnedTensor(Shape(c), uniform: 1, rng: &rng), b = OwnedTensor(Shape(c), uniform: 1, rng: &rng)
        let r = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
        let y = OwnedTensor(Shape(rows, c)), mean = OwnedTensor(Shape(rows)), rstd = OwnedTensor(Shape(rows))
        let dx = OwnedTensor(Shape(rows, c)), dw = OwnedTensor(Shape(c)), db = OwnedTensor(Shape(c))
        layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
        layerNormBackward(dx: dx.t, dWeight: dw.t, dBias: db.t, dy: r.t, x: x.t, weight: w.t, mean: mean.t.pointer, rstd: rstd.t.pointer)
        let bad = check.mismatches(inputs: [("x", x.t, dx.t), ("weight", w.t, dw.t), ("bias", b.t, db.t)]) {
            layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
            return weightedSum(y.t, r.t)
        }
        #expect(bad.isEmpty, "\(bad)")
    }

    @Test func layerNormBackwardWithAResidualWritesTheResidualPlusItsGradient() {
        // A pre-norm sub-layer's input gradient: dx = dy_residual + LN′, with the bits of adding
        // LN′ to a dx that holds the residual.
        var rng = RandomGenerator(seed: 14)
        let (rows, c) = (5, 19)
        let x = OwnedTensor(Shape(rows, c), uniform: 2, rng: &rng), dy = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
        let w = OwnedTensor(Shape(c), uniform: 1, rng: &rng), b = OwnedTensor(Shape(c), uniform: 1, rng: &rng)
        let residual = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
        let y = OwnedTensor(Shape(rows, c)), mean = OwnedTensor(Shape(rows)), rstd = OwnedTensor(Shape(rows))
        layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
        let added = OwnedTensor(Shape(rows, c), values: residual.t.array), written = OwnedTensor(Shape(rows, c), uniform: 9, rng: &rng)
        let cases: [(OwnedTensor, Tensor?)] = [(added, nil), (written, residual.t)]
        for (dx, base) in cases {
            let dw = OwnedTensor(Shape(c)), db = OwnedTensor(Shape(c))
            layerNormBackward(dx: dx.t, dWeight: dw.t, dBias: db.t, dy: dy.t, x: x.t, weight: w.t, mean: mean.t.pointer, rstd: rstd.t.pointer,
                              residual: base)
        }
        #expect(written.t.array.map(\.bitPattern) == added.t.array.map(\.bitPattern))
    }

    @Test func layerNormBackwardGivesTheBitsOfTheRowByRowFormula() {
        // Sixteen rows at a time in vector lanes must give what each row's serial sums give:
        // Σ g and Σ g·x̂ in column order, then dx = base + rstd·((g − mean g) − x̂·mean(g·x̂)).
        var rng = RandomGenerator(seed: 16)
        for (rows, c) in [(37, 150), (200, 64)] {  // row blocks of 16 and a tail; a column tail; enough rows for two workers
            let x = OwnedTensor(Shape(rows, c), uniform: 2, rng: &rng), dy = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
            let w = OwnedTensor(Shape(c), uniform: 1, rng: &rng), b = OwnedTensor(Shape(c), uniform: 1, rng: &rng)
            let residual = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
            let y = OwnedTensor(Shape(rows, c)), mean = OwnedTensor(Shape(rows)), rstd = OwnedTensor(Shape(rows))
            layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
            var expected = residual.t.array
            for r in 0..<rows {
                let (mu, s) = (mean.t.pointer[r], rstd.t.pointer[r])
                var gSum: Float = 0, gxSum: Float = 0
                for j in 0..<c {
                    let g = dy.t.pointer[r * c + j] * w.t.pointer[j]
                    gSum += g
                    gxSum += g * (x.t.pointer[r * c + j] - mu) * s
                }
                let (gMean, gxMean) = (gSum / Float(c), gxSum / Float(c))
                for j in 0..<c {
                    let xhat = (x.t.pointer[r * c + j] - mu) * s
                    expected[r * c + j] = expected[r * c + j] + s * (dy.t.pointer[r * c + j] * w.t.pointer[j] - gMean - xhat * gxMean)
                }
            }
            let written = OwnedTensor(Shape(rows, c)), added = OwnedTensor(Shape(rows, c), values: residual.t.array)
            for (dx, base) in [(written, Optional(residual.t)), (added, nil)] {
                let dw = OwnedTensor(Shape(c)), db = OwnedTensor(Shape(c))
                layerNormBackward(dx: dx.t, dWeight: dw.t, dBias: db.t, dy: dy.t, x: x.t, weight: w.t, mean: mean.t.pointer, rstd: rstd.t.pointer,
                                  residual: base)
                let differing = zip(dx.t.array, expected).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(rows) × \(c), residual: \(base != nil)")
            }
        }
    }

    @Test func layerNormBackwardSumsItsParameterGradientsWithTheBitsOfTheColumnKernel() {
        // One worker sums dw and db in its row pass; several run the column-block kernel afterwards.
        // Both take the rows in order with the same operations.
        var rng = RandomGenerator(seed: 15)
        let (rows, c) = (100, 150)
        let x = OwnedTensor(Shape(rows, c), uniform: 2, rng: &rng), dy = OwnedTensor(Shape(rows, c), uniform: 1, rng: &rng)
        let w = OwnedTensor(Shape(c), uniform: 1, rng: &rng), b = OwnedTensor(Shape(c), uniform: 1, rng: &rng)
        let y = OwnedTensor(Shape(rows, c)), mean = OwnedTensor(Shape(rows)), rstd = OwnedTensor(Shape(rows)), dx = OwnedTensor(Shape(rows, c))
        layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
        let dw = OwnedTensor(Shape(c), uniform: 1, rng: &rng), db = OwnedTensor(Shape(c), uniform: 1, rng: &rng)
        let dwColumns = OwnedTensor(Shape(c), values: dw.t.array), dbColumns = OwnedTensor(Shape(c), values: db.t.array)
        layerNormBackward(dx: dx.t, dWeight: dw.t, dBias: db.t, dy: dy.t, x: x.t, weight: w.t, mean: mean.t.pointer, rstd: rstd.t.pointer)
        nmt_layer_norm_parameter_gradients(dwColumns.t.pointer, dbColumns.t.pointer, dy.t.pointer, x.t.pointer, mean.t.pointer, rstd.t.pointer,
                                           rows, c, c)
        #expect(dw.t.array.map(\.bitPattern) == dwColumns.t.array.map(\.bitPattern))
        #expect(db.t.array.map(\.bitPattern) == dbColumns.t.array.map(\.bitPattern))
    }

    @Test func layerNormOutputHasZeroMeanAndUnitVariance() {
        var rng = RandomGenerator(seed: 13)
        let x = OwnedTensor(Shape(3, 64), uniform: 5, rng: &rng)
        let w = OwnedTensor(Shape(64)), b = OwnedTensor(Shape(64))
        w.t.fill(1)
        let y = OwnedTensor(Shape(3, 64)), mean = OwnedTensor(Shape(3)), rstd = OwnedTensor(Shape(3))
        layerNormForward(y.t, mean: mean.t.pointer, rstd: rstd.t.pointer, x.t, weight: w.t, bias: b.t)
        for r in 0..<3 {
            let row = y.t.array[r * 64 ..< (r + 1) * 64].map(Double.init)
            let mu = row.reduce(0, +) / 64
            let variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 64
            #expect(abs(mu) < 1e-5)
            #expect(abs(variance - 1) < 1e-3)
        }
    }

    @Test(arguments: Activation.allCases)
    func activationBackwardMatchesFiniteDifferences(kind: Activation) {
        // Inputs keep away from ReLU's kink at 0 by more than h, where the derivative jumps.
        let values: [Float] = [-2.5, -1.1, -0.4, -0.1, 0.1, 0.3, 0.9, 1.7, 3.2, -3.3, 0.6, -0.7]
        var rng = RandomGenerator(seed: 14)
        let x = OwnedTensor(Shape(12), values: values), r = OwnedTensor(Shape(12), uniform: 1, rng: &rng)
        let y = OwnedTensor(Shape(12)), dx = OwnedTensor(Shape(12))
        activationBackward(dx: dx.t, dy: r.t, x: x.t, kind)
        let bad = check.mismatches(inputs: [("x", x.t, dx.t)]) {
            activationForward(y.t, x.t, kind)
            return weightedSum(y.t, r.t)
        }
        #expect(bad.isEmpty, "\(bad)")
    }

    @Test func geluMatchesTheErfFormula() {
        let x = OwnedTensor(Shape(3), values: [-1, 0, 2]), y = OwnedTensor(Shape(3))
        activationForward(y.t, x.t, .gelu)
        // PyTorch: torch.nn.functional.gelu(torch.tensor([-1., 0., 2.]))
        #expect(abs(y.t[0] - -0.15865529) < 1e-6)
        #expect(y.t[1] == 0)
        #expect(abs(y.t[2] - 1.9544997) < 1e-6)
    }

    @Test func residualBackwardSendsTheGradientToBothBranches() {
        var rng = RandomGenerator(seed: 15)
        let a = OwnedTensor(Shape(2, 3), uniform: 1, rng: &rng), b = OwnedTensor(Shape(2, 3), uniform: 1, rng: &rng)
        let r = OwnedTensor(Shape(2, 3), uniform: 1, rng: &rng), y = OwnedTensor(Shape(2, 3))
        let da = OwnedTensor(Shape(2, 3)), db = OwnedTensor(Shape(2, 3))
        residualBackward(da: da.t, db: db.t, dy: r.t)
        let bad = check.mismatches(inputs: [("a", a.t, da.t), ("b", b.t, db.t)]) {
            residualForward(y.t, a.t, b.t)
            return weightedSum(y.t, r.t)
        }
        #expect(bad.isEmpty, "\(bad)")
    }
}
