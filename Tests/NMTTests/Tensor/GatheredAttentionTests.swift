import CKernels
import Testing
@testable import NMT

/// The C kernels behind decoding self-attention compute the sums in the order gathered_attention.c
/// writes down, on whatever instruction set the CPU dispatched to (scripts/check/kernels
/// compares the three builds with each other).
@Suite struct GatheredAttentionTests {
    /// The documented order: 16 lanes of fused multiply-adds, then lanes j + j+8, +4, +2, +1.
    static func referenceDot(_ q: [Float], _ k: [Float], _ d: Int) -> Float {
        var lanes = [Float](repeating: 0, count: 16)
        for i in 0..<d { lanes[i % 16] = lanes[i % 16].addingProduct(q[i], k[i]) }
        var width = 8
        while width > 0 {
            for j in 0..<width { lanes[j] = lanes[j] + lanes[j + width] }
            width /= 2
        }
        return lanes[0]
    }

    struct Case {
        var q: [Float], rows: [Float], index: [Int32], heads: Int, d: Int, count: Int
        var stride: Int { heads * d + 3 }  // rows are not packed: a node holds more than one head set
    }

    static func randomCase(heads: Int, d: Int, count: Int, seed: UInt64) -> Case {
        var rng = RandomGenerator(seed: seed)
        let stride = heads * d + 3, nodes = count + 5
        let q = (0..<(heads * d)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        let rows = (0..<(nodes * stride)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        let index = (0..<count).map { Int32(($0 * 7 + 3) % nodes) }
        return Case(q: q, rows: rows, index: index, heads: heads, d: d, count: count)
    }

    @Test(arguments: [16, 29, 64])
    func scoresAreTheDocumentedSumOfEachHeadsProducts(d: Int) {
        let c = Self.randomCase(heads: 3, d: d, count: 11, seed: UInt64(d))
        var s = [Float](repeating: 0, count: c.heads * c.count)
        let scale: Float = 0.125
        nmt_gathered_scores(&s, c.count, c.q, c.rows, c.index, c.count, c.stride, c.heads, d, scale)
        for h in 0..<c.heads {
            for t in 0..<c.count {
                let base = Int(c.index[t]) * c.stride + h * d
                let k = Array(c.rows[base..<(base + d)]), q = Array(c.q[(h * d)..<((h + 1) * d)])
                #expect(s[h * c.count + t].bitPattern == (Self.referenceDot(q, k, d) * scale).bitPattern, "head \(h) key \(t)")
            }
        }
    }

    @Test(arguments: [16, 29, 64])
    func weightedValuesAreTheDocumentedSumOverPositions(d: Int) {
        let c = Self.randomCase(heads: 3, d: d, count: 11, seed: UInt64(d) + 100)
        var rng = RandomGenerator(seed: 7)
        let p = (0..<(c.heads * c.count)).map { _ in rng.nextUnitFloat() }
        var context = [Float](repeating: .nan, count: c.heads * d)
        nmt_gathered_weighted_values(&context, p, c.count, c.rows, c.index, c.count, c.stride, c.heads, d)
        for h in 0..<c.heads {
            for i in 0..<d {
                var expected: Float = 0
                for t in 0..<c.count { expected = expected.addingProduct(p[h * c.count + t], c.rows[Int(c.index[t]) * c.stride + h * d + i]) }
                #expect(context[h * d + i].bitPattern == expected.bitPattern, "head \(h) column \(i)")
            }
        }
    }
}
