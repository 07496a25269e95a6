// The row primitives (Kernels/float_rows.c): their order of summation is part of their result —
// training's losses and decoding's scores are the same bits on every CPU only if it is fixed.

import CKernels
import Testing
@testable import NMT

struct FloatRowsTests {
    /// Values of very different sizes, so that a different order of summation gives different bits.
    private func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<n).map { i in (rng.nextUnitFloat() - 0.5) * (i % 3 == 0 ? 1e6 : 1) }
    }

    /// Lane l sums elements l, l + 16, …; the lanes are then added in order from −0, the tail last.
    private func laneOrderSum(_ x: [Float]) -> Float {
        var lanes = [Float](repeating: 0, count: 16)
        let body = x.count / 16 * 16
        for i in 0..<body { lanes[i % 16] += x[i] }
        var s: Float = -0.0
        for l in lanes { s += l }
        for i in body..<x.count { s += x[i] }
        return s
    }

    @Test(arguments: [5, 16, 37, 1000])
    func rowSumsAddSixteenLanesInOrderThenTheTail(n: Int) {
        let x = values(n, seed: UInt64(n))
        #expect(sum(x, n).bitPattern == laneOrderSum(x).bitPattern)
        let y = values(n, seed: 99)
        #expect(dot(x, y, n).bitPattern == laneOrderSum(zip(x, y).map { $0 * $1 }).bitPattern)
    }

    @Test(arguments: [5, 16, 37, 1000])
    func expShiftedWritesEachTermAndReturnsTheirLaneOrderSum(n: Int) {
        let x = values(n, seed: UInt64(n) + 7).map { $0 / 1e5 }
        var y = [Float](repeating: 0, count: n)
        let total = expShifted(&y, x, n, shift: 2)
        #expect((0..<n).allSatisfy { y[$0].bitPattern == expScalar(x[$0] - 2).bitPattern })
        #expect(total.bitPattern == laneOrderSum(y).bitPattern)
        #expect(expSumOnly(x, n, shift: 2).bitPattern == total.bitPattern)  // the sum alone: the same terms in the same order
    }

    @Test func maximumIsTheLargestElement() {
        for n in [1, 15, 16, 17, 100] {
            let x = values(n, seed: UInt64(n) + 3)
            #expect(maximum(x, n) == x.max()!)
        }
    }

    /// Column sums (and what is summed with them: a bf16 pass's rounding and ReLU gate, LayerNorm's
    /// parameter gradients) add each column's rows in order, whether one worker reads whole rows or
    /// workers take blocks of columns — so the result does not depend on the thread count.
    @Test func columnSumsAddEachColumnsRowsInOrderForWholeRowsAndForBlocksOfColumns() {
        let (rows, columns) = (37, 300)
        let x = values(rows * columns, seed: 21), y = values(rows * columns, seed: 22)
        let initial = (0..<columns).map { Float($0) / 3 }
        let mean = (0..<rows).map { Float($0) / 7 - 2 }, rstd = (0..<rows).map { 1 + Float($0) / 11 }
        let gate: [UInt16] = (0..<rows * columns).map { i in i % 3 == 0 ? 0x3F80 : (i % 3 == 1 ? 0xBF80 : 0) }  // 1, −1, 0
        var sums = initial, dw = initial, db = initial.reversed() as [Float]
        var gated = initial
        for r in 0..<rows {
            for j in 0..<columns {
                let v = x[r * columns + j]
                sums[j] += v
                gated[j] += gate[r * columns + j] == 0x3F80 ? v * 1.25 : 0
                dw[j] += y[r * columns + j] * (v - mean[r]) * rstd[r]
                db[j] += y[r * columns + j]
            }
        }
        for blocks in [[0..<columns], [0..<128, 128..<272, 272..<columns]] {
            var got = initial, gotGated = initial, gotDw = initial, gotDb = initial.reversed() as [Float]
            var rounded = [UInt16](repeating: 0, count: rows * columns), roundedGated = rounded
            for b in blocks {
                let f = b.lowerBound
                got.withUnsafeMutableBufferPointer { s in
                    rounded.withUnsafeMutableBufferPointer { o in
                        nmt_round_to_bfloat16_summing_columns(o.baseAddress! + f, s.baseAddress! + f, Array(x[f...]), Int(rows), b.count, columns)
                    }
                }
                gotGated.withUnsafeMutableBufferPointer { s in
                    roundedGated.withUnsafeMutableBufferPointer { o in
                        nmt_relu_gradient_to_bfloat16_summing_columns(o.baseAddress! + f, s.baseAddress! + f, Array(x[f...]), Array(gate[f...]), 1.25,
                                                                      rows, b.count, columns)
                    }
                }
                gotDw.withUnsafeMutableBufferPointer { w in
                    gotDb.withUnsafeMutableBufferPointer { d in
                        nmt_layer_norm_parameter_gradients(w.baseAddress! + f, d.baseAddress! + f, Array(y[f...]), Array(x[f...]), mean, rstd,
                                                           rows, b.count, columns)
                    }
                }
            }
            #expect(got.map(\.bitPattern) == sums.map(\.bitPattern))
            #expect(gotGated.map(\.bitPattern) == gated.map(\.bitPattern))
            #expect(gotDw.map(\.bitPattern) == dw.map(\.bitPattern) && gotDb.map(\.bitPattern) == db.map(\.bitPattern))
            #expect((0..<rows * columns).allSatisfy { rounded[$0] == UInt16(x[$0].bitPattern >> 16) || rounded[$0] == UInt16(truncatingIfNeeded: (x[$0].bitPattern >> 16) + 1) })
            #expect((0..<rows * columns).allSatisfy { gate[$0] == 0x3F80 || roundedGated[$0] == 0 })
        }
    }
}
