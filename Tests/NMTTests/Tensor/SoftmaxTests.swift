import Foundation
import Testing
@testable import NMT

@Suite struct SoftmaxTests {
    let check = GradientCheck()

    /// Runs softmax on a copy of `scores` and returns Σ r·P.
    func objective(_ scores: Tensor, _ probs: Tensor, _ r: Tensor, b: Int, h: Int, q: Int, k: Int, mask: AttentionMask) -> Double {
        probs.copy(from: scores)
        attentionSoftmaxForward(probs, batch: b, heads: h, queries: q, keys: k, mask: mask)
        return weightedSum(probs, r)
    }

    @Test func softmaxBackwardMatchesFiniteDifferencesWithBothMasks() {
        var rng = RandomGenerator(seed: 30)
        let (b, h, q, k) = (2, 2, 3, 5)
        let shape = Shape(b, h, q, k)
        let scores = OwnedTensor(shape, uniform: 2, rng: &rng), probs = OwnedTensor(shape)
        let r = OwnedTensor(shape, uniform: 1, rng: &rng), dScores = OwnedTensor(shape)
        let padding: [UInt8] = [0, 0, 0, 0, 1,  0, 0, 0, 1, 1]  // sentence 1 has 4 keys, sentence 2 has 3
        padding.withUnsafeBufferPointer { pad in
            let mask = AttentionMask(keyPadding: pad.baseAddress!, causal: true, queryOffset: 1)
            _ = objective(scores.t, probs.t, r.t, b: b, h: h, q: q, k: k, mask: mask)
            dScores.t.copy(from: r.t)
            attentionSoftmaxBackward(dScores.t, probs: probs.t, rows: b * h * q, keys: k)
            let bad = check.mismatches(inputs: [("scores", scores.t, dScores.t)]) {
                objective(scores.t, probs.t, r.t, b: b, h: h, q: q, k: k, mask: mask)
            }
            #expect(bad.isEmpty, "\(bad)")
        }
    }

    @Test func maskedKeysGetZeroProbabilityAndZeroGradient() {
        var rng = RandomGenerator(seed: 31)
        let (b, h, q, k) = (2, 1, 4, 4)
        let shape = Shape(b, h, q, k)
        let probs = OwnedTensor(shape, uniform: 3, rng: &rng)
        let padding: [UInt8] = [0, 0, 0, 1,  0, 0, 0, 0]
        padding.withUnsafeBufferPointer { pad in
            attentionSoftmaxForward(probs.t, batch: b, heads: h, queries: q, keys: k,
                                    mask: AttentionMask(keyPadding: pad.baseAddress!, causal: true))
        }
        let dP = OwnedTensor(shape, uniform: 1, rng: &rng)
        attentionSoftmaxBackward(dP.t, probs: probs.t, rows: b * h * q, keys: k)
        for s in 0..<b { for i in 0..<q {
            let row = (s * q + i) * k
            var total: Float = 0
            for j in 0..<k {
                let masked = j > i || (s == 0 && j == 3)
                if masked {
                    #expect(probs.t[row + j] == 0, "P[\(s), \(i), \(j)]")
                    #expect(dP.t[row + j] == 0, "dS[\(s), \(i), \(j)]")
                } else {
                    #expect(probs.t[row + j] > 0)
                }
                total += probs.t[row + j]
            }
            #expect(abs(total - 1) < 1e-6)
        } }
    }

    @Test func softmaxMatchesTheDefinition() {
        let probs = OwnedTensor(Shape(1, 1, 1, 3), values: [1, 2, 3])
        attentionSoftmaxForward(probs.t, batch: 1, heads: 1, queries: 1, keys: 3, mask: AttentionMask())
        let z = exp(1.0) + exp(2.0) + exp(3.0)
        for j in 0..<3 { #expect(abs(Double(probs.t[j]) - exp(Double(j + 1)) / z) < 1e-7) }
    }

    @Test func exp16IsAccurateAcrossTheFloatRange() {
        var worst = 0.0
        var x: Float = -80
        while x < 80 {
            let relative = abs(Double(expScalar(x)) - exp(Double(x))) / exp(Double(x))
            worst = max(worst, relative)
            x += 0.0173
        }
        #expect(worst < 5e-7)
    }

    /// A pass with independent rows: a query's probabilities are the same bits whatever padding
    /// follows its sentence's keys (sums over 23 keys: lanes and a tail, then a longer row).
    @Test func visibleKeysOnlyGiveTheSameProbabilitiesWhateverPaddingFollows() {
        var rng = RandomGenerator(seed: 32)
        let real = 23
        let scores = OwnedTensor(Shape(1, 1, 1, real), uniform: 3, rng: &rng), short = OwnedTensor(Shape(1, 1, 1, real))
        short.t.copy(from: scores.t)
        attentionSoftmaxForward(short.t, batch: 1, heads: 1, queries: 1, keys: real, mask: AttentionMask(), visibleKeysOnly: true)
        for keys in [24, 32, 40, 77] {
            let padded = OwnedTensor(Shape(1, 1, 1, keys), uniform: 3, rng: &rng)
            for j in 0..<real { padded.t[j] = scores.t[j] }
            let padding = (0..<keys).map { UInt8($0 < real ? 0 : 1) }
            padding.withUnsafeBufferPointer { pad in
                attentionSoftmaxForward(padded.t, batch: 1, heads: 1, queries: 1, keys: keys, mask: AttentionMask(keyPadding: pad.baseAddress!),
                                        visibleKeysOnly: true)
            }
            #expect((0..<real).allSatisfy { padded.t[$0].bitPattern == short.t[$0].bitPattern }, "\(keys) keys")
            #expect((real..<keys).allSatisfy { padded.t[$0] == 0 })
        }
    }
}
