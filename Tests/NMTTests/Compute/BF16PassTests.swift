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

import Foundation
import Testing
@testable import NMT

/// The bf16 backends this CPU runs (tests take each).
let bf16Backends = BF16Backend.available

/// A bf16 pass on `backend`.
func bf16(_ backend: BF16Backend) -> Compute { Compute(precision: .bfloat16, backend: backend) }

@Suite struct BF16PassTests {
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

    @Test(.enabled(if: BF16Backend.nativeAvailable, "only the native backend packs activations"))
    func productsSharingActivationsPackTheirCommonInputOnceWithTheSameBits() {
        let products = bf16(.native).bf16!
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
        #expect(products.activations.packings == before + 3)
        let shared = gradients(sharing: true)
        #expect(products.activations.packings == before + 4)
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

    /// Random values in [-scale, scale) into a fresh arena tensor.
    private func random(_ shape: Shape, _ arena: Arena, _ rng: inout RandomGenerator, scale: Float = 1) -> Tensor {
        let t = arena.tensor(shape)
        for i in 0..<t.count { t[i] = (rng.nextUnitFloat() * 2 - 1) * scale }
        return t
    }

    private func bitwiseEqual(_ a: Tensor, _ b: Tensor) -> Bool {
        a.count == b.count && (0..<a.count).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
    }

    @Test(arguments: bf16Backends)
    func aLinearLayersOutputGradientRoundedOnceGivesWhatRoundingPerProductGives(backend: BF16Backend) {
        let compute = bf16(backend)
        let (rows, inputs, outputs) = (70, 48, 40)
        let arena = Arena()
        var rng = RandomGenerator(seed: 9)
        let x = random(Shape(rows, inputs), arena, &rng), w = random(Shape(outputs, inputs), arena, &rng), dy = random(Shape(rows, outputs), arena, &rng)
        let start = random(Shape(rows, inputs), arena, &rng), startW = random(w.shape, arena, &rng)
        func copy(_ t: Tensor) -> Tensor { let c = arena.tensor(t.shape); c.copy(from: t); return c }
        let (dx, dw, db) = (copy(start), copy(startW), arena.zeros(Shape(outputs)))
        let (dxPerProduct, dwPerProduct) = (copy(start), copy(startW))
        linearBackward(dx: .float32(dx), dWeight: dw, dBias: db, dy: .float32(dy), x: .float32(x), weight: w, compute: compute, arena: arena)
        compute.multiply(dxPerProduct, dy, w, beta: 1)
        compute.multiply(dwPerProduct, dy, x, transposeA: true, beta: 1)
        #expect(bitwiseEqual(dx, dxPerProduct))
        #expect(bitwiseEqual(dw, dwPerProduct))
        // The bias gradient, summed while dy is rounded, is the column sum of the float32 dy.
        let dbExpected = arena.zeros(Shape(outputs))
        columnSumAccumulate(dbExpected.pointer, dy)
        #expect(bitwiseEqual(db, dbExpected))
    }

    @Test(arguments: [Compute.float32] + bf16Backends.map(bf16))
    func aSublayersDropoutAppliedAsTheOutputGradientIsRoundedGivesTheBitsOfApplyingItFirst(compute: Compute) {
        // A pre-norm sub-layer's dropout′ reaches F's first linear layer as a mask: a bf16 pass
        // applies it in the rounding pass (its columns: 300, a strip of 256 and a tail of 44 and
        // of one), float32 into a temporary — both the bits of dropout′(dy) first.
        let (rows, inputs, outputs) = (70, 48, 301)
        let arena = Arena()
        var rng = RandomGenerator(seed: 16)
        let x = random(Shape(rows, inputs), arena, &rng), w = random(Shape(outputs, inputs), arena, &rng), dy = random(Shape(rows, outputs), arena, &rng)
        let mask = dropoutForward(arena.tensor(dy.shape), dy, kept: arena.bytes(dy.count), probability: 0.3, rng: &rng)
        let dropped = arena.tensor(dy.shape)
        mask.apply(dy, into: dropped)
        func gradients(masked: Bool) -> [Tensor] {
            let (dx, dw, db) = (arena.zeros(x.shape), arena.zeros(w.shape), arena.zeros(Shape(outputs)))
            linearBackward(dx: .float32(dx), dWeight: dw, dBias: db, dy: .float32(masked ? dy : dropped), dyDropout: masked ? mask : nil, x: .float32(x),
                           weight: w, compute: compute, arena: arena)
            return [dx, dw, db]
        }
        let first = gradients(masked: false), fused = gradients(masked: true)
        #expect(zip(first, fused).allSatisfy { bitwiseEqual($0, $1) })
        #expect(first[2].array.contains { $0 != 0 })
    }

    @Test(arguments: bf16Backends, [Float(0.2), 0])
    func theFeedForwardLayerKeepsItsHiddenActivationsInBFloat16WithTheSameNumbers(backend: BF16Backend, activationDropout: Float) {
        let compute = bf16(backend)
        // Forward and backward (ReLU, dropout: fused with the rounding into one pass each way; without
        // dropout, ReLU and the rounding done by fc1's product) in a bf16 pass against the separate
        // passes with every product rounding its own float32 inputs: identical bits, and half the
        // hidden layer's memory. F = 150: the kernels' 128-column step, a 16-column step and a
        // tail; 50·150 values: 8-value steps and a tail.
        let (rows, c, f) = (50, 32, 150)
        let weightsArena = Arena()
        var rng = RandomGenerator(seed: 10)
        func linear(_ out: Int, _ inputs: Int) -> LinearWeights {
            LinearWeights(weight: .float32(random(Shape(out, inputs), weightsArena, &rng, scale: 0.3)), bias: random(Shape(out), weightsArena, &rng, scale: 0.1))
        }
        let w = FeedForwardWeights(fc1: linear(f, c), fc2: linear(c, f))
        let x = random(Shape(rows, c), weightsArena, &rng), dy = random(Shape(rows, c), weightsArena, &rng)
        let config = TransformerConfig(vocabularySize: 10, dModel: c, ffnDim: f, heads: 4, encoderLayers: 1, decoderLayers: 1,
                                       dropout: 0, attentionDropout: 0, activationDropout: activationDropout, maxPositions: 8)
        func zeroGradients() -> FeedForwardWeights {
            func zeros(_ l: LinearWeights) -> LinearWeights {
                LinearWeights(weight: .float32(weightsArena.zeros(l.weight.float32.shape)), bias: weightsArena.zeros(l.bias.shape))
            }
            return FeedForwardWeights(fc1: zeros(w.fc1), fc2: zeros(w.fc2))
        }
        let arena = Arena()
        let y = weightsArena.tensor(Shape(rows, c)), dx = weightsArena.zeros(x.shape), g = zeroGradients()
        let activations = FeedForward.forward(y, .float32(x), weights: w, activation: .relu,
                                              dropout: DropoutSampler(config: config, rng: RandomGenerator(seed: 11)), compute: compute, arena: arena)
        let bf16InUse = arena.mark()  // floats held after the forward pass
        guard case .bfloat16 = activations.activated else { Issue.record("a' is not kept in bfloat16"); return }
        FeedForward.backward(dx: dx, dy: dy, activations, weights: w, gradients: g, activation: .relu, compute: compute, arena: arena)

        // The reference: float32 a', each product rounding its inputs.
        let reference = Arena()
        let u = reference.tensor(Shape(rows, f))
        linearForward(.float32(u), .float32(x), weight: w.fc1.weight, bias: w.fc1.bias, compute: compute)
        activationForward(u, u, .relu)
        var dropoutRNG = RandomGenerator(seed: 11)
        let mask = activationDropout > 0 ? dropoutForward(u, u, kept: reference.bytes(u.count), probability: activationDropout, rng: &dropoutRNG) : nil
        let referenceInUse = reference.mark()
        let yReference = reference.tensor(y.shape)
        linearForward(.float32(yReference), .float32(u), weight: w.fc2.weight, bias: w.fc2.bias, compute: compute)
        #expect(bitwiseEqual(y, yReference))
        let dxReference = reference.zeros(x.shape), gReference = zeroGradients()
        let da = reference.tensor(u.shape)
        compute.multiply(da, dy, w.fc2.weight.float32)
        compute.multiply(gReference.fc2.weight.float32, dy, u, transposeA: true, beta: 1)
        columnSumAccumulate(gReference.fc2.bias.pointer, dy)
        for i in 0..<da.count { da[i] = u[i] > 0 ? da[i] * (mask?.scale ?? 1) : 0 }
        compute.multiply(dxReference, da, w.fc1.weight.float32, beta: 1)
        compute.multiply(gReference.fc1.weight.float32, da, x, transposeA: true, beta: 1)
        columnSumAccumulate(gReference.fc1.bias.pointer, da)
        #expect(bitwiseEqual(dx, dxReference))
        #expect(bitwiseEqual(g.fc1.weight.float32, gReference.fc1.weight.float32) && bitwiseEqual(g.fc1.bias, gReference.fc1.bias))
        #expect(bitwiseEqual(g.fc2.weight.float32, gReference.fc2.weight.float32) && bitwiseEqual(g.fc2.bias, gReference.fc2.bias))
        // Kept for backward: a' at 2 bytes and the mask (if any) at 1 (each rounded up to 64 bytes),
        // against a' at 4 bytes and the mask.
        let maskBytes = activationDropout > 0 ? 1 : 0
        #expect(bf16InUse * 4 <= rows * f * (2 + maskBytes) + 2 * 64 && referenceInUse * 4 >= rows * f * (4 + maskBytes))
    }

    @Test func aPreNormSublayerInABF16PassGivesItsFunctionTheRoundedLayerNormAndKeepsNoFloat32Copy() {
        let (rows, c) = (37, 48)
        let arena = Arena()
        var rng = RandomGenerator(seed: 14)
        let x = random(Shape(rows, c), arena, &rng, scale: 3)
        let norm = NormWeights(weight: random(Shape(c), arena, &rng), bias: random(Shape(c), arena, &rng))
        let plain = Sublayer.begin(x, norm: norm, preNorm: true, arena: arena)
        let beforeRounded = arena.mark()
        let rounded = Sublayer.begin(x, norm: norm, preNorm: true, rounded: true, arena: arena)
        let roundedFloats = arena.mark() - beforeRounded
        guard case .float32(let n) = plain.functionInput, case .bfloat16(let n16) = rounded.functionInput else {
            Issue.record("function inputs: float32 and bfloat16 expected"); return
        }
        let expected = arena.bfloat16(of: n)
        #expect((0..<n16.count).allSatisfy { n16.pointer[$0] == expected.pointer[$0] })
        #expect((0..<rows).allSatisfy { plain.mean[$0] == rounded.mean[$0] && plain.rstd[$0] == rounded.rstd[$0] })
        #expect(rounded.normOutput == nil)
        #expect(roundedFloats < rows * c / 2 + 2 * rows + 64)  // the bfloat16 output and the statistics only
    }

    @Test(arguments: bf16Backends, [true, false])
    func bf16GradientsAgreeWithFloat32WithinBF16Precision(backend: BF16Backend, preNorm: Bool) throws {
        let config = TransformerConfig(vocabularySize: 300, dModel: 64, ffnDim: 128, heads: 4, encoderLayers: 2, decoderLayers: 2,
                                       dropout: 0, attentionDropout: 0, activationDropout: 0, maxPositions: 40, preNorm: preNorm, activation: .gelu)
        let model = try Transformer(config: config)
        model.initialize(seed: 3)
        var rng = RandomGenerator(seed: 5)
        let batch = Batch(pairs: (0..<12).map { i in
            ((0..<(8 + i)).map { _ in Int32(4 + rng.next() % 296) }, (0..<(14 - i / 2)).map { _ in Int32(4 + rng.next() % 296) })
        })
        let arena = Arena()
        func gradients(bf16: Bool) -> (TransformerGradients, Double) {
            let g = TransformerGradients(for: model)
            let compute = bf16 ? NMTTests.bf16(backend) : .float32
            let loss = model.backward(model.forward(batch, dropout: nil, compute: compute, arena: arena), labelSmoothing: 0.1, gradients: g,
                                      compute: compute, arena: arena).loss
            return (g, loss.loss)
        }
        let (exact, exactLoss) = gradients(bf16: false), (reduced, reducedLoss) = gradients(bf16: true)
        #expect(abs(reducedLoss - exactLoss) <= 1e-3 * exactLoss, "loss \(reducedLoss) in bf16, \(exactLoss) in fp32")
        var failures: [String] = []
        var totalDifference = 0.0, totalNorm = 0.0
        // The key projection's bias has no gradient in exact arithmetic (it adds q·b to every score
        // of a row, which softmax ignores): both precisions give rounding noise, bf16's larger (the
        // rounded dS rows no longer sum to zero), so it is not compared.
        for entry in model.parameters.entries where !entry.name.hasSuffix("k_proj.bias") {
            var difference = 0.0, norm = 0.0
            for i in entry.offset..<(entry.offset + entry.count) {
                let (a, b) = (Double(reduced.buffer.pointer[i]), Double(exact.buffer.pointer[i]))
                difference += (a - b) * (a - b)
                norm += b * b
            }
            (totalDifference, totalNorm) = (totalDifference + difference, totalNorm + norm)
            if difference.squareRoot() > 0.03 * norm.squareRoot() + 1e-7 {
                failures.append("\(entry.name): ‖bf16 − fp32‖ / ‖fp32‖ = \((difference / norm).squareRoot())")
            }
        }
        #expect(failures.isEmpty, "\(failures)")
        print("bf16 vs fp32 gradient: ‖bf16 − fp32‖ / ‖fp32‖ = \((totalDifference / totalNorm).squareRoot()) over the whole model")
    }

    @Test(arguments: bf16Backends, [(64, 128), (48, 80)])
    func aBF16PassThatRoundsAndPacksTheParametersOnceGivesTheGradientsOfRoundingThemPerProduct(backend: BF16Backend, sizes: (Int, Int)) throws {
        let (dModel, ffnDim) = sizes
        // roundParameters: every weight rounded once per update, and packed once in the layout
        // oneDNN's kernel reads (instead of oneDNN packing it in every product) — the same bits.
        // 64 and 128: whole 32 × 64 blocks, laid out by the pairs kernels; 48 and 80: oneDNN's reorder.
        let config = TransformerConfig(vocabularySize: 300, dModel: dModel, ffnDim: ffnDim, heads: 4, encoderLayers: 2, decoderLayers: 2,
                                       dropout: 0.1, attentionDropout: 0.1, activationDropout: 0, maxPositions: 40)
        let model = try Transformer(config: config)
        model.initialize(seed: 3)
        var rng = RandomGenerator(seed: 6)
        let batch = Batch(pairs: (0..<10).map { i in
            ((0..<(6 + i)).map { _ in Int32(4 + rng.next() % 296) }, (0..<(12 - i / 2)).map { _ in Int32(4 + rng.next() % 296) })
        })
        let arena = Arena()
        func gradients(roundingOnce: Bool) -> TransformerGradients {
            let g = TransformerGradients(for: model)
            let compute = bf16(backend)
            if roundingOnce { compute.beginUpdate(parameters: UnsafeBufferPointer(model.parameters.valueBuffer)) }
            defer { compute.endUpdate() }
            let dropout = DropoutSampler(config: config, rng: RandomGenerator(seed: 7))
            model.backward(model.forward(batch, dropout: dropout, compute: compute, arena: arena), labelSmoothing: 0.1, gradients: g,
                           compute: compute, arena: arena)
            return g
        }
        let perProduct = gradients(roundingOnce: false), once = gradients(roundingOnce: true)
        #expect((0..<once.buffer.count).allSatisfy { once.buffer.pointer[$0].bitPattern == perProduct.buffer.pointer[$0].bitPattern })
    }

    @Test(arguments: bf16Backends)
    func twoBF16RunsWithTheSameSeedWriteTheSameCheckpoint(backend: BF16Backend) throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 200)
        var checkpoints: [Data] = []
        for run in ["a", "b"] {
            var o = smallOptions(dir, corpus, out: "run-" + run)
            o.validSource = nil; o.validTarget = nil
            o.precision = .bfloat16
            o.maxSteps = 4
            _ = try Trainer(options: o, log: quietLog(), bf16Backend: backend).run()
            checkpoints.append(try Data(contentsOf: URL(fileURLWithPath: o.outputDirectory + "/checkpoint-last.safetensors")))
        }
        #expect(checkpoints[0] == checkpoints[1])
    }

    @Test(arguments: bf16Backends)
    func aBF16RunResumesInFP32AndBack(backend: BF16Backend) throws {
        let dir = try TemporaryDirectory()
        let corpus = try smallCorpus(dir, lines: 200)
        var o = smallOptions(dir, corpus)
        o.validSource = nil; o.validTarget = nil
        for (precision, steps) in [(MatrixPrecision.bfloat16, 4), (.float32, 8), (.bfloat16, 12)] {
            o.precision = precision
            o.maxSteps = steps
            let summary = try Trainer(options: o, log: quietLog(), bf16Backend: backend).run()
            #expect(summary.steps == steps)
        }
        let log = try String(contentsOfFile: o.outputDirectory + "/log.jsonl", encoding: .utf8)
        #expect(log.components(separatedBy: "\"precision\":\"bf16\"").count - 1 == 2)
        #expect(log.components(separatedBy: "\"precision\":\"fp32\"").count - 1 == 1)
        #expect(try ModelFile.load(o.outputDirectory + "/checkpoint-last.safetensors").step == 12)
    }
}

@Suite struct BF16AvailabilityTests {
    @Test func bf16IsRefusedInOneLineOnACPUWithoutAVX512BF16() throws {
        // oneDNN's DNNL_MAX_CPU_ISA hides the instructions, as an older CPU would lack them.
        let dir = try TemporaryDirectory()
        let (en, es) = try smallCorpus(dir, lines: 20)
        let r = try runNMT(["train", "--train-src", en, "--train-tgt", es, "--out", dir.path("run"), "--precision", "bf16"],
                           environment: ["DNNL_MAX_CPU_ISA": "AVX512_CORE"])
        #expect(r.status == 1)
        #expect(r.stderr == "nmt: error: --precision bf16 needs a CPU with AVX512-BF16 (vdpbf16ps), which this one lacks; without it bf16 products are slower than fp32 ones — use --precision fp32\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("run")))
    }
}
