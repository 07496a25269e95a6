// `--precision bf16`: the layers and training in a bf16 pass — on every backend this CPU runs:
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

@Suite struct BF16PassTests {
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
        let plain = Sublayer.begin(x, norm: norm, preNorm: true, compute: .float32, arena: arena)
        let beforeRounded = arena.mark()
        let rounded = Sublayer.begin(x, norm: norm, preNorm: true, compute: bf16(.reference), arena: arena)
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
        // Compute.beginUpdate: every weight rounded once per update, and packed once in the layout
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
