// nmt-bench: speed measurements behind scripts/bench-*. Not a user command.
//
//   nmt-bench kernels    GFLOP/s of the matmul wrapper vs direct cblas_sgemm; GB/s of softmax,
//                        layer norm and the fused loss.

import CBLAS
import Foundation
import NMT
import CKernels

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best time of `repeats` runs after one warm-up run (the minimum is the least noisy statistic
/// on a shared 2-core machine).
func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<repeats {
        let t0 = now()
        body()
        best = min(best, now() - t0)
    }
    return best
}

func randomFill(_ t: Tensor, seed: UInt64, scale: Float = 1) {
    var rng = RandomGenerator(seed: seed)
    for i in 0..<t.count { t[i] = (rng.nextUnitFloat() * 2 - 1) * scale }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

/// bfloat16 products (oneDNN) against nmt's float32 matmul on a Linear layer's three products.
func benchBF16() {
    let arena = Arena()
    let compute = Compute(precision: .bfloat16)
    print("## bf16 (\(compute.kernels)) vs float32 matmul (GFLOP/s, best of 5)")
    print("| product | M×K×N | threads | float32 | bf16 | bf16/float32 |")
    print("|---|---|---|---|---|---|")
    for (m, k, n) in [(4096, 256, 1024), (4096, 1024, 256), (4096, 256, 8000), (4096, 512, 2048)] {
        let x = arena.tensor(Shape(m, k)), w = arena.tensor(Shape(n, k)), y = arena.tensor(Shape(m, n))
        let dx = arena.tensor(Shape(m, k)), dw = arena.tensor(Shape(n, k))
        randomFill(x, seed: 1); randomFill(w, seed: 2); randomFill(y, seed: 3)
        let flops = 2.0 * Double(m * n * k)
        let cases: [(String, () -> Void, () -> Void)] = [
            ("x·Wᵀ", { matmul(y, x, w, transposeB: true) },
             { compute.multiply(y, x, w, transposeB: true) }),
            ("dy·W", { matmul(dx, y, w) },
             { compute.multiply(dx, y, w) }),
            ("dyᵀ·x", { matmul(dw, y, x, transposeA: true, beta: 1) },
             { compute.multiply(dw, y, x, transposeA: true, beta: 1) }),
        ]
        for threads in [1, 2] {
            Threads.set(threads)
            for (name, float32, bf16) in cases {
                let f = flops / bestTime(repeats: 5, float32) / 1e9, b = flops / bestTime(repeats: 5, bf16) / 1e9
                print("| \(name) | \(m)×\(k)×\(n) | \(threads) | \(fmt(f)) | \(fmt(b)) | \(fmt(b / f, 2))× |")
            }
        }
    }
}

/// Decoding's linear product: OpenBLAS (the `matmul` wrapper, weights as stored) against the
/// row-independent panel product (weights packed once), one thread, GFLOP/s best of 7.
func benchPanels() {
    print("## linear x[M,K]·W[N,K]ᵀ + b: OpenBLAS matmul vs packed panels (one thread, GFLOP/s, best of 7)")
    let avx2Column = nmt_panel_product_level() == 2  // the AVX2 copy too, as on a CPU without AVX-512
    print("| M | K | N | OpenBLAS | panels | panels/OpenBLAS |" + (avx2Column ? " panels AVX2 | AVX2/OpenBLAS |" : ""))
    print("|---|---|---|---|---|---|" + (avx2Column ? "---|---|" : ""))
    for (k, n) in [(256, 256), (256, 1024), (1024, 256), (256, 8000), (512, 512), (512, 2048), (2048, 512), (512, 32000)] {
        for m in [1, 5, 32, 160, 800] {
            let arena = Arena()
            let x = arena.tensor(Shape(m, k)), w = arena.tensor(Shape(n, k)), y = arena.tensor(Shape(m, n)), b = arena.tensor(Shape(n))
            randomFill(x, seed: 1); randomFill(w, seed: 2); randomFill(b, seed: 3)
            let panels = PageMemory.allocate(PackedMatrix.size(rows: n, columns: k))
            let packed = PackedMatrix.pack(w, into: panels)
            let flops = 2.0 * Double(m * n * k)
            let repeats = 7
            let blas = Threads.serially { bestTime(repeats: repeats) { linearForward(.float32(y), .float32(x), weight: .float32(w), bias: b, compute: .float32) } }
            let mine = Threads.serially { bestTime(repeats: repeats) { panelLinearForward(y, x, weight: packed, bias: b) } }
            var avx2 = ""
            if avx2Column {
                let t = bestTime(repeats: repeats) { nmt_panel_product_on(1, y.pointer, n, x.pointer, k, m, panels, n, k, b.pointer, 0, 0, (n + 15) / 16) }
                avx2 = " \(fmt(flops / t / 1e9)) | \(fmt(blas / t, 2)) |"
            }
            print("| \(m) | \(k) | \(n) | \(fmt(flops / blas / 1e9)) | \(fmt(flops / mine / 1e9)) | \(fmt(blas / mine, 2)) |" + avx2)
            PageMemory.deallocate(panels, PackedMatrix.size(rows: n, columns: k))
        }
    }
}

func benchKernels() {
    let arena = Arena()
    print("## matmul: nmt wrapper vs direct cblas_sgemm (GFLOP/s, best of 5)")
    print("| shape (M×K×N) | op | threads | direct | wrapper | wrapper/direct |")
    print("|---|---|---|---|---|---|")
    let (m, k, n) = (4096, 512, 2048)
    // Linear forward x[M,K]·W[N,K]ᵀ, input gradient dy[M,N]·W[N,K], weight gradient dyᵀ[N,M]·x[M,K].
    let x = arena.tensor(Shape(m, k)), w = arena.tensor(Shape(n, k)), y = arena.tensor(Shape(m, n))
    let dx = arena.tensor(Shape(m, k)), dw = arena.tensor(Shape(n, k))
    randomFill(x, seed: 1); randomFill(w, seed: 2); randomFill(y, seed: 3)
    typealias Case = (name: String, shape: String, flops: Double, direct: () -> Void, wrapper: () -> Void)
    let cases: [Case] = [
        ("x·Wᵀ", "4096×512×2048", 2.0 * Double(m * n * k),
         { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, x.pointer, Int32(k), w.pointer, Int32(k), 0, y.pointer, Int32(n)) },
         { matmul(y, x, w, transposeB: true) }),
        ("dy·W", "4096×2048×512", 2.0 * Double(m * n * k),
         { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(k), Int32(n), 1, y.pointer, Int32(n), w.pointer, Int32(k), 0, dx.pointer, Int32(k)) },
         { matmul(dx, y, w) }),
        ("dyᵀ·x", "2048×4096×512", 2.0 * Double(m * n * k),
         { cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(k), Int32(m), 1, y.pointer, Int32(n), x.pointer, Int32(k), 0, dw.pointer, Int32(k)) },
         { matmul(dw, y, x, transposeA: true) }),
    ]
    for threads in [1, 2] {
        Threads.set(threads)
        for c in cases {
            // Interleave direct and wrapper runs so that load changes hit both alike.
            var direct = Double.infinity, wrapped = Double.infinity
            for _ in 0..<3 {
                // The direct call gets OpenBLAS's own threading; nmt keeps OpenBLAS at one thread
                // and splits output rows across its own workers.
                openblas_set_num_threads(Int32(threads))
                direct = min(direct, bestTime(repeats: 2, c.direct))
                openblas_set_num_threads(1)
                wrapped = min(wrapped, bestTime(repeats: 2, c.wrapper))
            }
            let gd = c.flops / direct / 1e9, gw = c.flops / wrapped / 1e9
            print("| \(c.shape) | \(c.name) | \(threads) | \(fmt(gd)) | \(fmt(gw)) | \(fmt(gw / gd, 3)) |")
        }
    }

    print("\n## element-wise kernels (GB/s of memory traffic, best of 10)")
    print("| kernel | shape | threads | ms | GB/s |")
    print("|---|---|---|---|---|")
    // Attention: 128 sentences × 8 heads × 32 queries × 32 keys; LayerNorm: 4096 × 512; loss: 4096 × 8000.
    let scores = arena.tensor(Shape(128, 8, 32, 32)), probs = arena.tensor(Shape(128, 8, 32, 32))
    randomFill(scores, seed: 4, scale: 4)
    let lnIn = arena.tensor(Shape(4096, 512)), lnOut = arena.tensor(Shape(4096, 512)), lnGrad = arena.tensor(Shape(4096, 512))
    let gamma = arena.tensor(Shape(512)), beta = arena.tensor(Shape(512)), dGamma = arena.tensor(Shape(512)), dBeta = arena.tensor(Shape(512))
    let mean = arena.floats(4096), rstd = arena.floats(4096)
    randomFill(lnIn, seed: 5); randomFill(gamma, seed: 6); randomFill(beta, seed: 7)
    let logits = arena.tensor(Shape(4096, 8000)), lossGrad = arena.tensor(Shape(4096, 8000))
    randomFill(logits, seed: 8, scale: 5)
    let targets = UnsafeMutablePointer<Int32>.allocate(capacity: 4096)
    for i in 0..<4096 { targets[i] = Int32((i * 7919) % 7999 + 1) }
    let rowLoss = arena.floats(4096), rowNLL = arena.floats(4096)
    typealias Kernel = (name: String, shape: String, bytes: Double, run: () -> Void)
    let kernels: [Kernel] = [
        ("softmax forward (masked, causal)", "[128, 8, 32, 32]", 8.0 * Double(scores.count),
         { probs.copy(from: scores); attentionSoftmaxForward(probs, batch: 128, heads: 8, queries: 32, keys: 32, mask: AttentionMask(causal: true)) }),
        ("layer norm forward", "[4096, 512]", 8.0 * Double(lnIn.count),
         { layerNormForward(lnOut, mean: mean, rstd: rstd, lnIn, weight: gamma, bias: beta) }),
        ("layer norm backward", "[4096, 512]", 16.0 * Double(lnIn.count),
         { layerNormBackward(dx: lnGrad, dWeight: dGamma, dBias: dBeta, dy: lnOut, x: lnIn, weight: gamma, mean: mean, rstd: rstd) }),
        ("fused log-softmax + smoothed CE + gradient", "[4096, 8000]", 8.0 * Double(logits.count),
         { labelSmoothedCrossEntropy(logits: logits, targets: targets, paddingIndex: 0, labelSmoothing: 0.1, rowLoss: rowLoss, rowNLL: rowNLL, gradient: .float32(lossGrad), gradientScale: 1e-4) }),
    ]
    for threads in [1, 2] {
        Threads.set(threads)
        for kernel in kernels {
            let t = bestTime(repeats: 10, kernel.run)
            print("| \(kernel.name) | \(kernel.shape) | \(threads) | \(fmt(t * 1e3, 2)) | \(fmt(kernel.bytes / t / 1e9)) |")
        }
    }
}

/// BLEU and chrF on 100,000 sentence pairs: references are Bible verses (data/bible-en-es/train.es
/// repeated), hypotheses the same verses with every fifth word dropped.
func benchScore() throws {
    let verses = try readLines(path: "data/bible-en-es/train.es")
    var references: [String] = [], hypotheses: [String] = []
    while references.count < 100_000 {
        for verse in verses where references.count < 100_000 {
            references.append(verse)
            let words = verse.split(separator: " ")
            hypotheses.append(words.enumerated().filter { $0.offset % 5 != 4 }.map { String($0.element) }.joined(separator: " "))
        }
    }
    print("## nmt score on 100,000 sentence pairs (best of 3, seconds)")
    print("| metric | threads | seconds | score |")
    print("|---|---|---|---|")
    for threads in [1, 2] {
        Threads.set(threads)
        var bleuScore = 0.0, chrfScore = 0.0
        let bleuTime = bestTime(repeats: 3) { bleuScore = BLEU().corpusScore(hypotheses: hypotheses, references: [references]).score }
        let chrfTime = bestTime(repeats: 3) { chrfScore = CHRF().corpusScore(hypotheses: hypotheses, references: [references]) }
        print("| BLEU | \(threads) | \(fmt(bleuTime, 3)) | \(fmt(bleuScore, 2)) |")
        print("| chrF | \(threads) | \(fmt(chrfTime, 3)) | \(fmt(chrfScore, 2)) |")
    }
}

/// Forward + backward (no optimizer) for a preset at ≈4,096 target tokens per batch, batched as
/// the trainer batches (sorted by length, so a batch holds sentences of one length): three
/// batches of random sentence pairs of 15, 25 and 35 tokens (+ </s>), the mean of 10–40, V = 8,000.
/// Time = sum of each batch's best of 3. FLOPs are counted analytically (matrix products only;
/// backward = 2× forward). scripts/bench/train_step_torch.py builds the same batches.
func benchTrainStep(presets: [TransformerConfig.Preset]) throws {
    print("## train step (forward + backward), batches of ≈4,096 target tokens (lengths 15/25/35), V = 8000")
    print("| preset | precision | threads | target tokens (3 batches) | ms/batch | target tokens/s | GFLOP/s | peak memory MB | of which oneDNN products, ms/batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    // bf16 rows only where the CPU runs bf16 natively (the trainer refuses it elsewhere).
    // NMT_BENCH_PRECISION=fp32|bf16 runs one (to profile it alone).
    let only = ProcessInfo.processInfo.environment["NMT_BENCH_PRECISION"].flatMap(MatrixPrecision.init(rawValue:))
    let precisions: [MatrixPrecision] = only.map { [$0] } ?? (BF16Backend.nativeAvailable ? [.float32, .bfloat16] : [.float32])
    // NMT_BENCH_THREADS=1|2 runs one thread count (its own peak memory).
    let threadCounts = ProcessInfo.processInfo.environment["NMT_BENCH_THREADS"].flatMap(Int.init).map { [$0] } ?? [1, 2]
    for preset in presets {
        let config = TransformerConfig.preset(preset, vocabularySize: 8000)
        let model = try Transformer(config: config)
        model.initialize(seed: 1)
        var rng = RandomGenerator(seed: 2)
        let batches = [15, 25, 35].map { length in
            Batch(pairs: (0..<(4096 / (length + 1))).map { _ in
                ((0..<length).map { _ in Int32(4 + rng.next() % 7996) }, (0..<length).map { _ in Int32(4 + rng.next() % 7996) })
            })
        }
        let c = Double(config.dModel), f = Double(config.ffnDim), v = Double(config.vocabularySize)
        var flops = 0.0, targetTokens = 0
        for batch in batches {
            let s = Double(batch.sourceLength), t = Double(batch.targetLength)
            let srcPadded = Double(batch.size) * s, tgtPadded = Double(batch.size) * t
            let encoder = Double(config.encoderLayers) * srcPadded * (2 * (4 * c * c + 2 * c * f) + 4 * s * c)
            let decoder = Double(config.decoderLayers) * (tgtPadded * (2 * (4 * c * c + 2 * c * c + 2 * c * f) + 4 * t * c + 4 * s * c)
                                                          + srcPadded * 2 * (2 * c * c))
            flops += 3 * (encoder + decoder + tgtPadded * 2 * c * v)
            targetTokens += batch.targetTokens
        }
        let gradients = TransformerGradients(for: model)
        let arena = Arena()
        for precision in precisions {
        for threads in threadCounts {
            Threads.set(threads)
            let dropout = DropoutSampler(config: config, rng: RandomGenerator(seed: 3))
            var time = 0.0, productTime = 0.0
            let compute = Compute(precision: precision)
            for batch in batches {
                // Best of 3 after a warm-up, and the time oneDNN's products took in that best run.
                var best = (step: Double.infinity, products: 0.0)
                for run in 0..<4 {
                    let (t0, p0) = (now(), compute.productSeconds)
                    gradients.zero()
                    // As the trainer does: a bf16 pass rounds the parameters once.
                    compute.beginUpdate(parameters: UnsafeBufferPointer(model.parameters.valueBuffer))
                    let pass = model.forward(batch, dropout: dropout, compute: compute, arena: arena)
                    model.backward(pass, labelSmoothing: 0.1, gradients: gradients, compute: compute, arena: arena)
                    compute.endUpdate()
                    let step = now() - t0
                    if run > 0 && step < best.step { best = (step, compute.productSeconds - p0) }
                }
                time += best.step
                productTime += best.products
            }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let memory = Double(usage.ru_maxrss) / 1024  // peak resident set, MB
            let perBatch = time / Double(batches.count)
            print("| \(preset.rawValue) | \(precision.rawValue) | \(threads) | \(targetTokens) | \(fmt(perBatch * 1e3, 0)) | \(fmt(Double(targetTokens) / time, 0)) | \(fmt(flops / time / 1e9)) | \(fmt(memory, 0)) | \(precision == .bfloat16 ? fmt(productTime / Double(batches.count) * 1e3, 0) : "-") |")
            print("\(precision == .float32 ? "RESULT" : "BF16") \(preset.rawValue) \(threads) \(fmt(perBatch * 1e3, 0)) \(fmt(Double(targetTokens) / time, 0)) \(fmt(flops / time / 1e9)) \(fmt(memory, 0)) \(fmt(productTime / Double(batches.count) * 1e3, 0))")
        }
        }
    }
}

/// A fixed padded batch for cross-checks: 3 sentence pairs of different lengths.
func checkBatch(vocabularySize: Int) -> Batch {
    var rng = RandomGenerator(seed: 77)
    func sentence(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(4 + Int(rng.next() % UInt64(vocabularySize - 4))) } }
    return Batch(pairs: [(sentence(7), sentence(5)), (sentence(3), sentence(9)), (sentence(11), sentence(2))])
}

/// Writes a random model (for scripts/check/against-pytorch): tiny-shaped, pre- or post-norm.
func randomModel(path: String, postNorm: Bool, activation: Activation) throws {
    let tokenizer = try BPETokenizer.learn(files: ["data/bible-en-es/valid.en"], merges: 200)
    var config = TransformerConfig(vocabularySize: tokenizer.vocabulary.count, dModel: 64, ffnDim: 128, heads: 4,
                                   encoderLayers: 2, decoderLayers: 2, maxPositions: 64, preNorm: !postNorm, activation: activation)
    config.dropout = 0.1
    let model = try Transformer(config: config)
    model.initialize(seed: 5)
    // Move LayerNorm and bias parameters off their initial 1/0 so every term is exercised.
    var rng = RandomGenerator(seed: 6)
    for entry in model.parameters.entries where !entry.name.hasPrefix("embed") {
        let t = model.parameters.value(entry.name)
        for i in 0..<t.count { t[i] += (rng.nextUnitFloat() - 0.5) * 0.2 }
    }
    try ModelFile.save(model, tokenizer: tokenizer, step: 0, to: path)
}

/// Runs the check batch through MODEL (dropout off, label smoothing 0.1) and writes the logits,
/// the loss and every gradient into DUMP (safetensors), for scripts/check/against-pytorch.
func dumpStep(modelPath: String, dumpPath: String) throws {
    let loaded = try ModelFile.load(modelPath)
    let model = loaded.model
    let batch = checkBatch(vocabularySize: model.config.vocabularySize)
    let arena = Arena()
    let logits = Array(model.score(batch, labelSmoothing: 0.1, arena: arena).logits.buffer)
    let gradients = TransformerGradients(for: model)
    let result = model.backward(model.forward(batch, dropout: nil, compute: .float32, arena: arena), labelSmoothing: 0.1, gradients: gradients,
                                compute: .float32, arena: arena).loss
    var loss: [Float] = [Float(result.loss), Float(result.nll)]
    var source = batch.source.map(Float.init), targetIn = batch.targetInput.map(Float.init), targetOut = batch.targetOutput.map(Float.init)
    var copies = logits
    var tensors: [(String, [Int], UnsafePointer<Float>)] = []
    let store = model.parameters
    for e in store.entries { tensors.append(("grad." + e.name, e.shape, UnsafePointer(gradients.buffer.pointer + e.offset))) }
    try copies.withUnsafeMutableBufferPointer { l in
        try loss.withUnsafeMutableBufferPointer { lo in
            try source.withUnsafeMutableBufferPointer { s in
                try targetIn.withUnsafeMutableBufferPointer { ti in
                    try targetOut.withUnsafeMutableBufferPointer { to in
                        tensors += [("logits", [batch.size * batch.targetLength, model.config.vocabularySize], UnsafePointer(l.baseAddress!)),
                                    ("loss_and_nll", [2], UnsafePointer(lo.baseAddress!)),
                                    ("batch.source", [batch.size, batch.sourceLength], UnsafePointer(s.baseAddress!)),
                                    ("batch.target_input", [batch.size, batch.targetLength], UnsafePointer(ti.baseAddress!)),
                                    ("batch.target_output", [batch.size, batch.targetLength], UnsafePointer(to.baseAddress!))]
                        try SafeTensors.write(path: dumpPath, tensors: tensors.map { ($0.0, $0.1, $0.2) }, metadata: ["label_smoothing": "0.1"])
                    }
                }
            }
        }
    }
    print("loss \(result.loss) nll \(result.nll) tokens \(result.tokens)")
}

/// Loads every file as nmt would (model files, and training-state files with their moments); for
/// scripts/check/soak-train. Prints one line per file; exit 1 if any did not load.
func checkFiles(_ paths: [String]) -> Int32 {
    var failed: Int32 = 0
    for path in paths {
        do {
            if path.hasSuffix(".state.safetensors") {
                let count = try SafeTensorsFile(path: path).header.tensors["adam.first_moment"]?.shape.first ?? 0
                let progress = try TrainingStateFile.load(path, into: Adam(count: count, beta1: 0.9, beta2: 0.98, epsilon: 1e-9, weightDecay: 0))
                print("ok \(path) step \(progress.step)")
            } else {
                print("ok \(path) step \(try ModelFile.load(path).step)")
            }
        } catch {
            print("corrupt \(path): \(error)")
            failed = 1
        }
    }
    return failed
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "corename": print(String(cString: openblas_get_corename()))  // OpenBLAS's kernel family in this process
case "kernels": benchKernels()
case "panels": benchPanels()
case "bf16": benchBF16()
case "score": try benchScore()
case "random-model": try randomModel(path: Array(arguments)[1], postNorm: arguments.contains("--post-norm"), activation: arguments.contains("--gelu") ? .gelu : .relu)
case "dump-step": try dumpStep(modelPath: Array(arguments)[1], dumpPath: Array(arguments)[2])
case "train-step": try benchTrainStep(presets: arguments.count > 1 ? arguments.dropFirst().compactMap(TransformerConfig.Preset.init) : [.tiny, .base])
case "check-files": exit(checkFiles(Array(arguments.dropFirst())))
default:
    FileHandle.standardError.write("usage: nmt-bench kernels|score|train-step|corename|random-model|dump-step|check-files\n".data(using: .utf8)!)
    exit(2)
}
