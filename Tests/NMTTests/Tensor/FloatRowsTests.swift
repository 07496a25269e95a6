// The row primitives (Kernels/float_rows.c): their order of summation is part of their result —
// training's losses and decoding's scores are the same bits on every CPU only if it is fixed.

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
}
