import Foundation
import Testing
@testable import NMT

@Suite struct MatmulTests {
    /// Plain triple loop: the independent reference.
    func naive(_ a: Tensor, _ b: Tensor, ta: Bool, tb: Bool, m: Int, n: Int, k: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k {
            let av = ta ? a[p * a.columns + i] : a[i * a.columns + p]
            let bv = tb ? b[j * b.columns + p] : b[p * b.columns + j]
            c[i * n + j] += Double(av) * Double(bv)
        } } }
        return c
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulMatchesNaiveProductForEveryTransposition(ta: Bool, tb: Bool) {
        var rng = RandomGenerator(seed: 1)
        let (m, n, k) = (7, 5, 9)
        let a = OwnedTensor(ta ? Shape(k, m) : Shape(m, k), uniform: 1, rng: &rng)
        let b = OwnedTensor(tb ? Shape(n, k) : Shape(k, n), uniform: 1, rng: &rng)
        let c = OwnedTensor(Shape(m, n))
        matmul(c.t, a.t, b.t, transposeA: ta, transposeB: tb)
        let expected = naive(a.t, b.t, ta: ta, tb: tb, m: m, n: n, k: k)
        for i in 0..<m * n { #expect(abs(Double(c.t[i]) - expected[i]) < 1e-5) }
    }

    /// m ≤ 5 rows go through one sgemv per row (decoding one sentence); the result is the same product.
    @Test(arguments: [false, true])
    func fewRowsGiveTheSameProductAsManyRows(tb: Bool) {
        var rng = RandomGenerator(seed: 3)
        for m in 1...7 {
            let (n, k) = (11, 13)
            let a = OwnedTensor(Shape(m, k), uniform: 1, rng: &rng)
            let b = OwnedTensor(tb ? Shape(n, k) : Shape(k, n), uniform: 1, rng: &rng)
            let c = OwnedTensor(Shape(m, n))
            c.t.fill(3)
            matmul(c.t, a.t, b.t, transposeB: tb, alpha: 0.5, beta: 1)
            let expected = naive(a.t, b.t, ta: false, tb: tb, m: m, n: n, k: k)
            for i in 0..<m * n { #expect(abs(Double(c.t[i]) - (3 + 0.5 * expected[i])) < 1e-5, "m = \(m)") }
        }
    }

    @Test func betaOneAccumulatesIntoTheOutput() {
        var rng = RandomGenerator(seed: 2)
        let a = OwnedTensor(Shape(3, 4), uniform: 1, rng: &rng)
        let b = OwnedTensor(Shape(4, 2), uniform: 1, rng: &rng)
        let c = OwnedTensor(Shape(3, 2))
        c.t.fill(10)
        matmul(c.t, a.t, b.t, alpha: 2, beta: 1)
        let expected = naive(a.t, b.t, ta: false, tb: false, m: 3, n: 2, k: 4)
        for i in 0..<6 { #expect(abs(Double(c.t[i]) - (10 + 2 * expected[i])) < 1e-5) }
    }

    @Test func batchedMatmulEqualsOneProductPerHead() {
        // Attention layout: q, k as [B, T, H, d]; scores [B, H, Tq, Tk] = q·kᵀ per (b, h).
        var rng = RandomGenerator(seed: 3)
        let (batch, heads, t, d) = (2, 3, 4, 5)
        let q = OwnedTensor(Shape(batch, t, heads, d), uniform: 1, rng: &rng)
        let k = OwnedTensor(Shape(batch, t, heads, d), uniform: 1, rng: &rng)
        let s = OwnedTensor(Shape(batch, heads, t, t))
        batchedMatmul(outer: batch, inner: heads,
                      MatrixBatch(s.t.pointer, outerStride: heads * t * t, innerStride: t * t, ld: t),
                      MatrixBatch(q.t.pointer, outerStride: t * heads * d, innerStride: d, ld: heads * d),
                      MatrixBatch(k.t.pointer, outerStride: t * heads * d, innerStride: d, ld: heads * d),
                      m: t, n: t, k: d, transposeB: true)
        for b in 0..<batch { for h in 0..<heads { for i in 0..<t { for j in 0..<t {
            var e = 0.0
            for p in 0..<d { e += Double(q.t[((b * t + i) * heads + h) * d + p]) * Double(k.t[((b * t + j) * heads + h) * d + p]) }
            #expect(abs(Double(s.t[((b * heads + h) * t + i) * t + j]) - e) < 1e-5)
        } } } }
    }

    @Test func shapeMismatchStopsWithBothShapesNamed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = OwnedTensor(Shape(2, 3)), b = OwnedTensor(Shape(4, 5)), c = OwnedTensor(Shape(2, 5))
            matmul(c.t, a.t, b.t)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("matmul: inner dimensions of a and b: shape mismatch [2, 3] vs [4, 5]"))
    }
}
