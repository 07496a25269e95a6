// The whole model's hand-written backward pass against central finite differences, on a tiny
// model with padding in both source and target, for pre- and post-norm.
//
// The checks use GELU: ReLU's kink makes a central difference wrong wherever a perturbation
// flips a hidden unit, which at h = 2e-3 happens for a few elements of every ReLU model. ReLU's
// own derivative is checked at the kernel level; the ReLU model gets a normwise check here.

import Foundation
import Testing
@testable import NMT

func tinyConfig(preNorm: Bool, activation: Activation = .gelu, dropout: Float = 0) -> TransformerConfig {
    TransformerConfig(vocabularySize: 20, dModel: 8, ffnDim: 12, heads: 2, encoderLayers: 1, decoderLayers: 1,
                      dropout: dropout, attentionDropout: dropout, activationDropout: dropout, maxPositions: 16,
                      preNorm: preNorm, activation: activation)
}

/// Two pairs of different lengths, so both sides have padding.
let paddedBatch = Batch(pairs: [(source: [5, 6, 7, 8, 9], target: [10, 11, 12]),
                                (source: [13, 14], target: [15, 16, 17, 18, 19])])

@Suite struct TransformerGradientTests {
    /// With `alignmentWeight` λ, the loss is CE + λ·L_align/tokens over `batch`'s links.
    func check(_ config: TransformerConfig, seed: UInt64, elementwise: Bool = true, normwise: Double = 0.02, batch: Batch = paddedBatch,
               alignmentWeight: Float = 0) throws -> [String] {
        let model = try Transformer(config: config)
        model.initialize(seed: seed)
        // Larger weights than the initialisation makes every path carry signal.
        var rng = RandomGenerator(seed: seed + 1)
        for i in 0..<model.parameters.count { model.parameters.values[i] += (rng.nextUnitFloat() - 0.5) * 0.2 }
        let dropoutSeed: UInt64 = 99
        let gradients = TransformerGradients(for: model), arena = Arena()
        // The same dropout masks every time (none without dropout).
        func sampler() -> DropoutSampler? {
            config.dropout > 0 ? DropoutSampler(config: config, rng: RandomGenerator(seed: dropoutSeed)) : nil
        }
        model.backward(model.forward(batch, dropout: sampler(), compute: .float32, arena: arena), labelSmoothing: 0.1, alignmentWeight: alignmentWeight,
                       gradients: gradients, compute: .float32, arena: arena)
        var failures: [String] = []
        let h: Float = 2e-3
        for entry in model.parameters.entries {
            let n = entry.count
            var worst = 0.0
            var numericNorm = 0.0, differenceNorm = 0.0
            for i in stride(from: 0, to: n, by: max(1, n / 24)) {
                let p = model.parameters.values + entry.offset + i
                let saved = p.pointee
                func loss() -> Double {
                    let pass = model.forward(batch, dropout: sampler(), compute: .float32, arena: arena)
                    let alignment = alignmentWeight == 0 ? 0 : GuidedAlignmentLoss.evaluate(
                        probs: pass.decoderLayers[config.alignmentLayer!].crossAttention.probs, head: config.alignmentHead!, links: batch.alignment,
                        scale: 1, arena: arena).0.lossSum
                    return model.loss(pass, labelSmoothing: 0.1, arena: arena).loss.loss + Double(alignmentWeight) * alignment / Double(batch.targetTokens)
                }
                p.pointee = saved + h
                let plus = loss()
                p.pointee = saved - h
                let minus = loss()
                p.pointee = saved
                let numeric = (plus - minus) / (2 * Double(h))
                let analytic = Double(gradients.buffer.pointer[entry.offset + i])
                numericNorm += numeric * numeric
                differenceNorm += (numeric - analytic) * (numeric - analytic)
                worst = max(worst, abs(numeric - analytic) - 1e-2 * abs(analytic))
            }
            // Elementwise: |fd − g| ≤ 1.5e-3 + 1e-2·|g|; and normwise within 2 % per tensor.
            if (elementwise && worst > 1.5e-3) || differenceNorm.squareRoot() > normwise * numericNorm.squareRoot() + 1e-4 {
                failures.append("\(entry.name): worst excess \(worst), relative norm error \(differenceNorm.squareRoot() / max(numericNorm.squareRoot(), 1e-12))")
            }
        }
        return failures
    }

    /// The training step makes logits a chunk of rows at a time; chunks of 2 rows give the same
    /// loss and gradients as one chunk.
    @Test func chunkedOutputProjectionGivesTheSameLossAndGradients() throws {
        let model = try Transformer(config: tinyConfig(preNorm: true, activation: .relu, dropout: 0.1))
        model.initialize(seed: 8)
        let gradients = TransformerGradients(for: model), arena = Arena()
        func step(chunkFloats: Int) -> (Double, [Float]) {
            gradients.zero()
            let pass = model.forward(paddedBatch, dropout: DropoutSampler(config: model.config, rng: RandomGenerator(seed: 5)), compute: .float32, arena: arena)
            let loss = model.backward(pass, labelSmoothing: 0.1, gradients: gradients, compute: .float32, arena: arena, chunkFloats: chunkFloats).loss.loss
            return (loss, Array(gradients.buffer.buffer))
        }
        let (wholeLoss, wholeGradients) = step(chunkFloats: 1 << 22)
        let (chunkedLoss, chunkedGradients) = step(chunkFloats: 2 * model.config.vocabularySize)
        #expect(abs(chunkedLoss - wholeLoss) <= 1e-6 * wholeLoss)  // products of 2 rows round differently
        let worst = zip(wholeGradients, chunkedGradients).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-6, "largest gradient difference \(worst)")
    }

    @Test func preNormGradientsMatchFiniteDifferences() throws {
        let failures = try check(tinyConfig(preNorm: true), seed: 1)
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func postNormGradientsMatchFiniteDifferences() throws {
        let failures = try check(tinyConfig(preNorm: false), seed: 2)
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func reluModelGradientsMatchFiniteDifferencesNormwise() throws {
        let failures = try check(tinyConfig(preNorm: true, activation: .relu), seed: 1, elementwise: false, normwise: 0.08)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// ReLU with dropout takes the in-place path (no stored pre-activation, derivative read off a').
    @Test func reluDropoutGradientsMatchFiniteDifferencesNormwise() throws {
        let failures = try check(tinyConfig(preNorm: false, activation: .relu, dropout: 0.2), seed: 4, elementwise: false, normwise: 0.08)
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func dropoutGradientsMatchFiniteDifferencesWithFixedMasks() throws {
        let failures = try check(tinyConfig(preNorm: true, activation: .gelu, dropout: 0.2), seed: 3)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Marian's variants: a source embedding of its own (another vocabulary size), an output
    /// projection of its own, LayerNorm over the embeddings after their dropout.
    @Test func separateEmbeddingsUntiedOutputAndEmbeddingNormGradientsMatchFiniteDifferences() throws {
        var config = tinyConfig(preNorm: false, activation: .gelu, dropout: 0.2)
        config.sharedEmbeddings = false
        config.sourceVocabularySize = 16
        config.tiedOutput = false
        config.embeddingNorm = true
        let failures = try check(config, seed: 6)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Guided alignment (λ·L_align on head 1 of the first of two decoder layers, through attention
    /// dropout): the gradient at the head's probabilities reaches every weight below it.
    @Test func guidedAlignmentGradientsMatchFiniteDifferences() throws {
        var config = tinyConfig(preNorm: true, activation: .gelu, dropout: 0.2)
        config.decoderLayers = 2
        config.alignmentLayer = 0
        config.alignmentHead = 1
        var batch = paddedBatch
        // Pair 0: 5 source and 3 target tokens, pair 1: 2 and 5; a token per word.
        batch.alignment = AlignmentLinks.tokenLinks(pair: 0, words: [0, 0, 2, 0, 4, 2], sourceWords: Array(0..<5), targetWords: Array(0..<3))
            + AlignmentLinks.tokenLinks(pair: 1, words: [1, 0, 0, 3, 1, 4], sourceWords: Array(0..<2), targetWords: Array(0..<5))
        let failures = try check(config, seed: 7, batch: batch, alignmentWeight: 0.5)
        #expect(failures.isEmpty, "\(failures)")
    }
}
