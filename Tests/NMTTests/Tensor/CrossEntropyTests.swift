import Foundation
import Testing
@testable import NMT

@Suite struct CrossEntropyTests {
    func run(_ logits: Tensor, _ targets: [Int32], epsilon: Float, excluded: [Int32] = [], gradient: Tensor? = nil, scale: Float = 1) -> CrossEntropyResult {
        let n = logits.rows
        let loss = OwnedTensor(Shape(n)), nll = OwnedTensor(Shape(n))
        return targets.withUnsafeBufferPointer {
            labelSmoothedCrossEntropy(logits: logits, targets: $0.baseAddress!, paddingIndex: 0, labelSmoothing: epsilon, excluded: excluded,
                                      rowLoss: loss.t.pointer, rowNLL: nll.t.pointer, gradient: gradient.map { .float32($0) }, gradientScale: scale)
        }
    }

    @Test func gradientMatchesFiniteDifferencesAndIgnoresPadding() {
        var rng = RandomGenerator(seed: 40)
        let (n, v) = (5, 21)
        let logits = OwnedTensor(Shape(n, v), uniform: 3, rng: &rng), grad = OwnedTensor(Shape(n, v))
        let targets: [Int32] = [3, 0, 20, 7, 0]  // two padding rows
        let first = run(logits.t, targets, epsilon: 0.1, gradient: grad.t, scale: 1)
        #expect(first.tokens == 3)
        let bad = GradientCheck().mismatches(inputs: [("logits", logits.t, grad.t)]) {
            run(logits.t, targets, epsilon: 0.1).lossSum
        }
        #expect(bad.isEmpty, "\(bad)")
        for j in 0..<v { #expect(grad.t[1 * v + j] == 0 && grad.t[4 * v + j] == 0) }
    }

    @Test func excludedTokensAtMinus1e4AreAsIfTheVocabularyLackedThem() {
        var rng = RandomGenerator(seed: 44)
        let (n, v) = (3, 12)
        let excluded: [Int32] = [0, 2]
        let full = OwnedTensor(Shape(n, v), uniform: 3, rng: &rng), fullGradient = OwnedTensor(Shape(n, v))
        for r in 0..<n { for j in excluded { full.t[r * v + Int(j)] = -10_000 } }
        // The same rows without the excluded columns; targets renumbered.
        let kept = (0..<v).filter { !excluded.contains(Int32($0)) }
        let reduced = OwnedTensor(Shape(n, kept.count)), reducedGradient = OwnedTensor(Shape(n, kept.count))
        for r in 0..<n { for (k, j) in kept.enumerated() { reduced.t[r * kept.count + k] = full.t[r * v + j] } }
        let targets: [Int32] = [3, 11, 5], reducedTargets = targets.map { Int32(kept.firstIndex(of: Int($0))!) }
        // Padding is id 0 in both: row targets are never 0 here, and 0 is excluded in the full vocabulary.
        let a = run(full.t, targets, epsilon: 0.1, excluded: excluded, gradient: fullGradient.t, scale: 0.5)
        let b = run(reduced.t, reducedTargets, epsilon: 0.1, gradient: reducedGradient.t, scale: 0.5)
        #expect(abs(a.lossSum - b.lossSum) < 1e-5 && abs(a.nllSum - b.nllSum) < 1e-5, "\(a.lossSum) vs \(b.lossSum)")
        for r in 0..<n {
            for (k, j) in kept.enumerated() { #expect(abs(fullGradient.t[r * v + j] - reducedGradient.t[r * kept.count + k]) < 1e-6) }
            for j in excluded { #expect(fullGradient.t[r * v + Int(j)] == 0) }
        }
    }

    @Test func gradientCanOverwriteTheLogitsInPlace() {
        var rng = RandomGenerator(seed: 41)
        let a = OwnedTensor(Shape(3, 40), uniform: 2, rng: &rng), b = OwnedTensor(Shape(3, 40)), g = OwnedTensor(Shape(3, 40))
        b.t.copy(from: a.t)
        let separate = run(a.t, [1, 2, 3], epsilon: 0.1, gradient: g.t, scale: 0.5)
        let inPlace = run(b.t, [1, 2, 3], epsilon: 0.1, gradient: b.t, scale: 0.5)
        #expect(separate.lossSum == inPlace.lossSum)
        #expect(g.t.array == b.t.array)
    }

    @Test func aGradientWrittenRoundedIsTheFloat32GradientRounded() {
        var rng = RandomGenerator(seed: 43)
        let (n, v) = (4, 37)
        let targets: [Int32] = [5, 0, 36, 1]  // a padding row; targets at both ends of the vocabulary
        let a = OwnedTensor(Shape(n, v), uniform: 4, rng: &rng), b = OwnedTensor(Shape(n, v))
        b.t.copy(from: a.t)
        let float32 = run(a.t, targets, epsilon: 0.1, gradient: a.t, scale: 0.3)
        let arena = Arena()
        let rounded = arena.bfloat16(rows: n, columns: v), expected = arena.bfloat16(of: a.t)
        for i in 0..<rounded.count { rounded.pointer[i] = 0xFFFF }  // not zero: the padding row must be written
        let loss = OwnedTensor(Shape(n)), nll = OwnedTensor(Shape(n))
        let result = targets.withUnsafeBufferPointer {
            labelSmoothedCrossEntropy(logits: b.t, targets: $0.baseAddress!, paddingIndex: 0, labelSmoothing: 0.1, rowLoss: loss.t.pointer,
                                      rowNLL: nll.t.pointer, gradient: .bfloat16(rounded), gradientScale: 0.3)
        }
        #expect(result.lossSum == float32.lossSum)
        #expect((0..<rounded.count).allSatisfy { rounded.pointer[$0] == expected.pointer[$0] })
    }

    @Test func zeroSmoothingEqualsPlainCrossEntropy() {
        var rng = RandomGenerator(seed: 42)
        let logits = OwnedTensor(Shape(4, 33), uniform: 4, rng: &rng)
        let result = run(logits.t, [5, 9, 1, 32], epsilon: 0)
        #expect(result.lossSum == result.nllSum)
        // And the NLL itself is −log softmax at the target, computed here in Double.
        var expected = 0.0
        for (r, t) in [5, 9, 1, 32].enumerated() {
            let row = (0..<33).map { Double(logits.t[r * 33 + $0]) }
            let m = row.max()!
            let logZ = m + log(row.map { exp($0 - m) }.reduce(0, +))
            expected += logZ - row[t]
        }
        #expect(abs(result.nllSum - expected) < 1e-5)
    }

    @Test func labelSmoothedLossMatchesAHandComputedCase() {
        // V = 3, logits (0, 0, ln 2): p = (1/4, 1/4, 1/2); target 2; ε = 0.2, so q = (0.1, 0.1, 0.8).
        // loss = −(0.1·ln¼ + 0.1·ln¼ + 0.8·ln½) = 0.2·ln4 + 0.8·ln2 = 1.2·ln2; nll = ln2.
        let logits = OwnedTensor(Shape(1, 3), values: [0, 0, Float(log(2.0))])
        let grad = OwnedTensor(Shape(1, 3))
        let r = run(logits.t, [2], epsilon: 0.2, gradient: grad.t)
        #expect(abs(r.lossSum - 1.2 * log(2.0)) < 1e-6)
        #expect(abs(r.nllSum - log(2.0)) < 1e-6)
        #expect(abs(r.perplexity - 2) < 1e-5)
        // p − q = (0.15, 0.15, −0.3)
        #expect(abs(grad.t[0] - 0.15) < 1e-6 && abs(grad.t[1] - 0.15) < 1e-6 && abs(grad.t[2] + 0.3) < 1e-6)
    }
}
