// `--precision bf16`: bfloat16 matrix products with float32 sums — on every backend this CPU runs:
// natively (oneDNN and nmt's AVX512-BF16 kernels) where it has AVX512-BF16, and everywhere through
// the portable reference (bfloat16-rounded inputs, OpenBLAS's float32 sums), so the bf16 pass's
// rounding, layouts and gradients are checked on every CI machine.
//
// The tolerance bf16 supports: a bfloat16 keeps 8 of float32's 24 significand bits, so rounding
// moves each input by at most 2⁻⁹ of itself and a product of two by at most 2⁻⁸ (0.4 %). Those
// errors are independent across the k terms of a sum, so a product's result is typically off by
// far less, but a gradient passes through several products per layer and cancellation makes small
// entries relatively worse: whole-tensor agreement within 3 % (≈ 8 × 2⁻⁸) is what bf16 supports,
// against fp32's 1e-6 (measured: 0.6 % over the whole gradient, at most 3 % for one tensor). The
// model uses GELU: with ReLU, a pre-activation that bf16 moves across zero switches a unit off, and
// a freshly initialised model has many near zero (fc1 gradients then differ by 5 %). What bf16
// must not change — the float32 sums of exactly rounded inputs — is checked to float32 precision.

import CKernels
import Foundation
import Testing
@testable import NMT

/// The bf16 backends this CPU runs (tests take each).
let bf16Backends = BF16Backend.available

/// A bf16 pass on `backend`.
func bf16(_ backend: BF16Backend) -> Compute { Compute(precision: .bfloat16, backend: backend) }

@Suite struct BF16ProductsTests {
    private func bfloat16(_ x: Float) -> Float {
        var rounded: UInt16 = 0
        withUnsafePointer(to: x) { roundToBFloat16(&rounded, $0, rows: 1, columns: 1, ld: 1) }
        return Float(bitPattern: UInt32(rounded) << 16)
    }

    @Test func roundingIsToNearestWithTiesToEven() {
        #expect(bfloat16(1) == 1)
        #expect(bfloat16(Float(bitPattern: 0x3F80_8000)) == 1)  // halfway to the next: ties to even (down)
        #expect(bfloat16(Float(bitPattern: 0x3F81_8000)) == Float(bitPattern: 0x3F82_0000))  // halfway, odd below: up
        #expect(bfloat16(Float(bitPattern: 0x3F80_8001)) == Float(bitPattern: 0x3F81_0000))  // just past halfway: up
        #expect(bfloat16(-3.1415927) == -3.140625)
        #expect(bfloat16(.infinity) == .infinity && bfloat16(.nan).isNaN)
    }

    @Test(arguments: bf16Backends, [(false, false), (false, true), (true, false), (true, true)])
    func aProductIsTheFloat32ProductOfTheRoundedInputs(backend: BF16Backend, transposes: (Bool, Bool)) {
        let (transposeA, transposeB) = transposes
        let products = bf16(backend).bf16!
        let (m, n, k) = (37, 29, 45)
        let arena = Arena()
        var rng = RandomGenerator(seed: 4)
        // Stored with spare columns (leading dimensions larger than the matrices).
        let (aRows, aColumns) = transposeA ? (k, m) : (m, k), (bRows, bColumns) = transposeB ? (n, k) : (k, n)
        let a = arena.tensor(Shape(aRows, aColumns + 3)), b = arena.tensor(Shape(bRows, bColumns + 5))
        for i in 0..<a.count { a[i] = rng.nextUnitFloat() * 2 - 1 }
        for i in 0..<b.count { b[i] = rng.nextUnitFloat() * 2 - 1 }
        let start = arena.tensor(Shape(m, n))
        for i in 0..<start.count { start[i] = rng.nextUnitFloat() }
        for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, 0.25)] {
            let c = arena.tensor(Shape(m, n))
            for i in 0..<c.count { c[i] = start[i] }
            products.multiply(c.pointer, .float32(a.pointer, ld: a.columns), transposeA: transposeA, .float32(b.pointer, ld: b.columns),
                              transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta)
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k {
                        let x = transposeA ? a[p * a.columns + i] : a[i * a.columns + p]
                        let y = transposeB ? b[j * b.columns + p] : b[p * b.columns + j]
                        sum += Double(bfloat16(x)) * Double(bfloat16(y))
                    }
                    let expected = Double(alpha) * sum + Double(beta) * Double(start[i * n + j])
                    worst = max(worst, abs(Double(c[i * n + j]) - expected))
                }
            }
            #expect(worst <= 1e-5, "alpha \(alpha) beta \(beta): largest difference \(worst)")
        }
    }

    /// Attention's four product shapes (keys odd: padded pairs). Each head is one worker's, so the
    /// thread count changes only which worker runs it (not set here: tests run side by side).
    @Test(arguments: bf16Backends, ["scores", "context", "valueGradient", "probabilityGradient"])
    func attentionsPerHeadProductsAreTheFloat32ProductsOfTheRoundedInputs(backend: BF16Backend, product: String) {
        let compute = bf16(backend)
        let (batch, heads, d, t, keys) = (3, 2, 40, 18, 19)  // 20 pairs and 19 rows: whole 16×16 tiles and edges
        let c = heads * d
        let arena = Arena()
        var rng = RandomGenerator(seed: 9)
        func rows(_ length: Int) -> BF16Matrix {
            let m = arena.bfloat16(rows: batch * length, columns: c)
            for i in 0..<m.count { m.pointer[i] = UInt16(truncatingIfNeeded: (rng.nextUnitFloat() * 2 - 1).bitPattern >> 16) }
            return m
        }
        let q = rows(t), k = rows(keys), dContext = rows(t)
        let probs = arena.tensor(Shape(batch, heads, t, keys))
        for i in 0..<probs.count { probs[i] = rng.nextUnitFloat() }
        let probsHeads = MultiHeadAttention.perHead(probs, queries: t, keys: keys)
        func rowsPerHead(_ m: BF16Matrix, _ length: Int) -> HeadMatrices { Matrix.bfloat16(m).perHead(length: length, heads: heads) }
        func rounded(_ x: Float) -> Double { Double(Float(bitPattern: UInt32(x.bitPattern &+ 0x7FFF &+ ((x.bitPattern >> 16) & 1)) & 0xFFFF_0000)) }
        func row(_ m: BF16Matrix, _ length: Int, _ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Double { Double(m[(b * length + i) * c + h * d + j]) }
        func p(_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Double { rounded(probs[((b * heads + h) * t + i) * keys + j]) }
        // (m, n, inner, A(b, h, i, r), B(b, h, r, j)) of each product, as attention uses it.
        let (m, n, inner, alpha): (Int, Int, Int, Float)
        let a: (Int, Int, Int, Int) -> Double, bValue: (Int, Int, Int, Int) -> Double
        let out = arena.tensor(Shape(batch * heads * max(t, keys), max(keys, c)))
        var rounded16: BF16Matrix? = nil
        switch product {
        case "scores":  // S = q·kᵀ·α
            (m, n, inner, alpha) = (t, keys, d, 0.5)
            a = { row(q, t, $0, $1, $2, $3) }; bValue = { row(k, keys, $0, $1, $3, $2) }
            compute.headProducts(outer: batch, inner: heads, .float32(MatrixBatch(out.pointer, outerStride: heads * t * keys, innerStride: t * keys, ld: keys)),
                                 rowsPerHead(q, t), rowsPerHead(k, keys), m: t, n: keys, k: d, transposeB: true, alpha: 0.5)
        case "context":  // ctx = P·v, written rounded
            (m, n, inner, alpha) = (t, d, keys, 1)
            a = { p($0, $1, $2, $3) }; bValue = { row(k, keys, $0, $1, $2, $3) }
            let context = arena.bfloat16(rows: batch * t, columns: c)
            rounded16 = context
            compute.headProducts(outer: batch, inner: heads, rowsPerHead(context, t), probsHeads, rowsPerHead(k, keys), m: t, n: d, k: keys)
        case "valueGradient":  // dv = Pᵀ·dctx
            (m, n, inner, alpha) = (keys, d, t, 1)
            a = { p($0, $1, $3, $2) }; bValue = { row(dContext, t, $0, $1, $2, $3) }
            compute.headProducts(outer: batch, inner: heads, .float32(MatrixBatch(out.pointer, outerStride: keys * c, innerStride: d, ld: c)),
                                 probsHeads, rowsPerHead(dContext, t), m: keys, n: d, k: t, transposeA: true)
        default:  // dP = dctx·vᵀ
            (m, n, inner, alpha) = (t, keys, d, 1)
            a = { row(dContext, t, $0, $1, $2, $3) }; bValue = { row(k, keys, $0, $1, $3, $2) }
            compute.headProducts(outer: batch, inner: heads, .float32(MatrixBatch(out.pointer, outerStride: heads * t * keys, innerStride: t * keys, ld: keys)),
                                 rowsPerHead(dContext, t), rowsPerHead(k, keys), m: t, n: keys, k: d, transposeB: true)
        }
        var worst = 0.0
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = 0.0
                        for r in 0..<inner { sum += a(b, h, i, r) * bValue(b, h, r, j) }
                        let expected = Double(alpha) * sum
                        let got: Double
                        if let rounded16 {
                            // Rounded C: the float32 sum rounded, within half a bfloat16 step (≤ 2⁻⁸ relative) of it.
                            got = Double(rounded16[(b * t + i) * c + h * d + j])
                            worst = max(worst, abs(got - expected) - abs(expected) / 256)
                            continue
                        }
                        switch product {
                        case "valueGradient": got = Double(out[(b * keys + i) * c + h * d + j])
                        default: got = Double(out[((b * heads + h) * t + i) * keys + j])
                        }
                        worst = max(worst, abs(got - expected))
                    }
                }
            }
        }
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    @Test(arguments: bf16Backends, [false, true])
    func attentionsRoundedGradientsAndTheirBiasSumsHaveTheBitsOfTheFloat32Product(backend: BF16Backend, transposeA: Bool) {
        let compute = bf16(backend)
        // dq = dS·k·α and dk = dSᵀ·q·α, written rounded with the bias gradient summed by the product:
        // the bits of writing them in float32, then rounding them and summing their columns in row order.
        let (batch, heads, d, t) = (3, 4, 40, 19)
        let c = heads * d
        let arena = Arena()
        var rng = RandomGenerator(seed: 12)
        let k = arena.bfloat16(rows: batch * t, columns: c)
        for i in 0..<k.count { k.pointer[i] = UInt16(truncatingIfNeeded: (rng.nextUnitFloat() * 2 - 1).bitPattern >> 16) }
        let dScores = arena.tensor(Shape(batch, heads, t, t))
        for i in 0..<dScores.count { dScores[i] = rng.nextUnitFloat() - 0.5 }
        let start = (0..<c).map { Float($0) / 7 }
        func heads32(_ t32: Tensor) -> HeadMatrices { .float32(MatrixBatch(t32.pointer, outerStride: t * c, innerStride: d, ld: c)) }
        let float32 = arena.tensor(Shape(batch * t, c)), rounded = arena.bfloat16(rows: batch * t, columns: c), sums = arena.tensor(Shape(c))
        sums.pointer.update(from: start, count: c)
        for (output, columnSums) in [(heads32(float32), nil), (Matrix.bfloat16(rounded).perHead(length: t, heads: heads), sums.pointer)] {
            compute.headProducts(outer: batch, inner: heads, output, MultiHeadAttention.perHead(dScores, queries: t, keys: t),
                                 Matrix.bfloat16(k).perHead(length: t, heads: heads), m: t, n: d, k: t, transposeA: transposeA, alpha: 0.5,
                                 columnSums: columnSums)
        }
        var expectedSums = start
        for r in 0..<(batch * t) { for j in 0..<c { expectedSums[j] += float32[r * c + j] } }
        let expectedRounded = arena.bfloat16(of: float32)
        #expect((0..<rounded.count).allSatisfy { rounded.pointer[$0] == expectedRounded.pointer[$0] })
        #expect(sums.array.map(\.bitPattern) == expectedSums.map(\.bitPattern))
    }

    @Test(arguments: bf16Backends, [false, true])
    func aProductLargerThanOneBlockEqualsTheWholeProduct(backend: BF16Backend, transposeA: Bool) {
        // op(A) [m, k] with m·k = 3 blocks and a half: row blocks, or inner slices summed into C.
        let blockElements = BF16Products.blockElements
        let (m, n, k) = (transposeA ? 48 : 7 * blockElements / 2 / 64, 24, transposeA ? 7 * blockElements / 2 / 48 : 64)
        let arena = Arena()
        var rng = RandomGenerator(seed: 8)
        let a = arena.tensor(transposeA ? Shape(k, m) : Shape(m, k)), b = arena.tensor(Shape(k, n))
        // Values exact in bfloat16 and small integers' products: every order of summation gives the same float32.
        for i in 0..<a.count { a[i] = Float(Int(rng.next() % 5)) - 2 }
        for i in 0..<b.count { b[i] = Float(Int(rng.next() % 5)) - 2 }
        let c = arena.tensor(Shape(m, n)), expected = arena.tensor(Shape(m, n))
        for i in 0..<c.count { (c[i], expected[i]) = (1, 1) }
        bf16(backend).multiply(c, a, b, transposeA: transposeA, beta: 1)
        matmul(expected, a, b, transposeA: transposeA, beta: 1)
        var differences = 0
        for i in 0..<c.count where c[i] != expected[i] { differences += 1 }
        #expect(differences == 0)
    }

    @Test(arguments: bf16Backends, [false, true])
    func aProductSplitByColumnsEqualsTheWholeProduct(backend: BF16Backend, transposeB: Bool) {
        // n > m: on more than one core each worker takes a block of C's columns (and of B).
        let (m, n, k) = (40, 1000, 64)
        let arena = Arena()
        var rng = RandomGenerator(seed: 12)
        let a = arena.tensor(Shape(m, k)), b = arena.tensor(transposeB ? Shape(n, k) : Shape(k, n))
        // Small integers: every order of summation gives the same float32.
        for i in 0..<a.count { a[i] = Float(Int(rng.next() % 5)) - 2 }
        for i in 0..<b.count { b[i] = Float(Int(rng.next() % 5)) - 2 }
        let c = arena.tensor(Shape(m, n)), expected = arena.tensor(Shape(m, n))
        for i in 0..<c.count { (c[i], expected[i]) = (Float(i % 3), Float(i % 3)) }
        bf16(backend).multiply(c, a, b, transposeB: transposeB, beta: 1)
        matmul(expected, a, b, transposeB: transposeB, beta: 1)
        #expect((0..<c.count).allSatisfy { c[$0] == expected[$0] })
    }

    @Test(arguments: bf16Backends, [(99, false), (99, true), (100, false), (64, true)])
    func aWeightGradientsActivationsLaidOutByNmtGiveTheSameProduct(backend: BF16Backend, shape: (Int, Bool)) {
        let (tokens, rounded) = shape
        let products = bf16(backend).bf16!
        // dW [32, 192] = dyᵀ·x, x [tokens, 192]: x is laid out in oneDNN's row-pair blocks by
        // nmt's pairs kernels (rows padded with zeros to whole blocks of 32 when tokens is not a
        // multiple: 99, 100; an odd count pairs its last row with a zero), from float32 or from
        // rounded rows. (One worker's product at any thread count; the reference backend packs nothing.)
        let (m, n, k) = (32, 192, tokens)
        let arena = Arena()
        var rng = RandomGenerator(seed: 14)
        // A product of 128 rows first leaves its packed x where the padding of this one will lie.
        let ones = arena.tensor(Shape(128, max(m, n)))
        for i in 0..<ones.count { ones[i] = 1 }
        let scratch = arena.tensor(Shape(m, n))
        products.multiply(scratch.pointer, .float32(ones.pointer, ld: ones.columns), transposeA: true, .float32(ones.pointer, ld: ones.columns),
                          transposeB: false, m: m, n: n, k: 128, alpha: 1, beta: 0)
        let dy = arena.tensor(Shape(k, m)), x = arena.tensor(Shape(k, n))
        // Small integers: every order of summation gives the same float32.
        for i in 0..<dy.count { dy[i] = Float(Int(rng.next() % 5)) - 2 }
        for i in 0..<x.count { x[i] = Float(Int(rng.next() % 5)) - 2 }
        let c = arena.tensor(Shape(m, n)), expected = arena.tensor(Shape(m, n))
        for i in 0..<c.count { (c[i], expected[i]) = (Float(i % 3), Float(i % 3)) }
        let packedBefore = products.activations.packings
        products.multiply(c.pointer, .float32(dy.pointer, ld: m), transposeA: true, rounded ? arena.bfloat16(of: x).operand : .float32(x.pointer, ld: n),
                          transposeB: false, m: m, n: n, k: k, alpha: 1, beta: 1)
        #expect(products.activations.packings == packedBefore + (backend == .native ? 1 : 0))
        matmul(expected, dy, x, transposeA: true, beta: 1)
        #expect(bitwiseEqual(c, expected))
    }

    @Test(arguments: [false, true])
    func pairBlocksHoldEachRowPairOfTheirBlockAndZerosPastTheRows(fromFloat32: Bool) {
        // The layout the native backend packs weights and activations into (oneDNN's brgemm blocks),
        // checked on every CPU: word (p, j) of block (kb, nb) = (x[kb·X + 2p, nb·Y + j], the next row's).
        let (rows, columns, blockRows, blockColumns) = (37, 96, 8, 32)  // a last row block of 5 rows: padding
        let blocks = (rows + blockRows - 1) / blockRows, kStride = blockRows * columns, nStride = blockRows / 2 * blockColumns
        var rng = RandomGenerator(seed: 21)
        let x = (0..<(rows * columns)).map { _ in rng.nextUnitFloat() * 2 - 1 }
        let x16 = x.map(bfloat16Bits)
        var out = [UInt32](repeating: 0xDEAD_BEEF, count: blocks * kStride / 2)
        x.withUnsafeBufferPointer { x32 in
            x16.withUnsafeBufferPointer { x16 in
                nmt_bf16_pack_pair_blocks(&out, fromFloat32 ? nil : x16.baseAddress, fromFloat32 ? x32.baseAddress : nil, rows, columns, columns,
                                          blockRows, blockColumns, kStride / 2, nStride, 0, blocks)
            }
        }
        var wrong = 0
        for kb in 0..<blocks {
            for nb in 0..<(columns / blockColumns) {
                for p in 0..<(blockRows / 2) {
                    for j in 0..<blockColumns {
                        let r = kb * blockRows + 2 * p, c = nb * blockColumns + j
                        let even = r < rows ? UInt32(x16[r * columns + c]) : 0, odd = r + 1 < rows ? UInt32(x16[(r + 1) * columns + c]) : 0
                        if out[kb * kStride / 2 + nb * nStride + p * blockColumns + j] != even | odd << 16 { wrong += 1 }
                    }
                }
            }
        }
        #expect(wrong == 0)
    }

    @Test func transposedWordsArePairsOfEachRowDownTheColumns() {
        // B for a product with a matrix of bfloat16 rows transposed (attention's kᵀ and vᵀ, Wᵀ's
        // packing): out[p·rows + i] = (x[i, 2p], x[i, 2p + 1]), on every CPU.
        let (rows, columns, ld) = (19, 38, 40)
        let x = (0..<(rows * ld)).map { UInt16(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        var out = [UInt32](repeating: 0, count: rows * columns / 2)
        nmt_bf16_words_transposed(&out, x, rows, columns, ld)
        let expected = (0..<(columns / 2)).flatMap { p in (0..<rows).map { i in UInt32(x[i * ld + 2 * p]) | UInt32(x[i * ld + 2 * p + 1]) << 16 } }
        #expect(out == expected)
    }

    @Test(arguments: bf16Backends)
    func productsSharingActivationsPackTheirCommonInputOnceWithTheSameBits(backend: BF16Backend) {
        // (The reference backend packs nothing: the same bits, no packing.)
        let products = bf16(backend).bf16!
        let packs = backend == .native ? 1 : 0
        // Attention's q, k and v weight gradients read one x: packed once inside sharingActivations.
        let (m, n, k) = (32, 128, 70)
        let arena = Arena()
        var rng = RandomGenerator(seed: 15)
        let x = arena.bfloat16(of: random(Shape(k, n), arena, &rng))
        let dys = (0..<3).map { _ in arena.bfloat16(of: random(Shape(k, m), arena, &rng)) }
        func gradients(sharing: Bool) -> [Tensor] {
            let outputs = (0..<3).map { _ in arena.zeros(Shape(m, n)) }
            let run = {
                for (dy, c) in zip(dys, outputs) {
                    products.multiply(c.pointer, dy.operand, transposeA: true, x.operand, transposeB: false, m: m, n: n, k: k, alpha: 1, beta: 1)
                }
            }
            if sharing { products.sharingActivations(run) } else { run() }
            return outputs
        }
        let before = products.activations.packings
        let separately = gradients(sharing: false)
        #expect(products.activations.packings == before + 3 * packs)
        let shared = gradients(sharing: true)
        #expect(products.activations.packings == before + 4 * packs)
        #expect(zip(separately, shared).allSatisfy { bitwiseEqual($0, $1) })
    }

    @Test(arguments: bf16Backends, [(70, 48), (40, 1000)])
    func aBiasAddedByTheProductEqualsStartingFromTheBiasRows(backend: BF16Backend, shape: (Int, Int)) {
        let (m, n) = shape
        let compute = bf16(backend), products = compute.bf16!
        // (40, 1000): n > m, so on more than one core each worker adds its own columns of the bias.
        let k = 64
        let arena = Arena()
        var rng = RandomGenerator(seed: 13)
        let a = random(Shape(m, k), arena, &rng), b = random(Shape(n, k), arena, &rng), bias = random(Shape(n), arena, &rng)
        let c = arena.tensor(Shape(m, n)), expected = arena.tensor(Shape(m, n))
        products.multiply(c.pointer, .float32(a.pointer, ld: k), transposeA: false, .float32(b.pointer, ld: k), transposeB: true,
                          m: m, n: n, k: k, alpha: 1, beta: 0, bias: bias.pointer)
        for r in 0..<m { (expected.pointer + r * n).update(from: bias.pointer, count: n) }
        compute.multiply(expected, a, b, transposeB: true, beta: 1)
        #expect(bitwiseEqual(c, expected))
    }
}

/// Random values in [-scale, scale) into a fresh arena tensor.
func random(_ shape: Shape, _ arena: Arena, _ rng: inout RandomGenerator, scale: Float = 1) -> Tensor {
    let t = arena.tensor(shape)
    for i in 0..<t.count { t[i] = (rng.nextUnitFloat() * 2 - 1) * scale }
    return t
}

func bitwiseEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.count == b.count && (0..<a.count).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
}
