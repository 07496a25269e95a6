import Foundation
import Testing
@testable import NMT

@Suite struct DropoutTests {
    @Test func dropoutZeroesAboutPAndScalesSurvivors() {
        var rng = RandomGenerator(seed: 20)
        let n = 100_000
        let x = OwnedTensor(Shape(n)), y = OwnedTensor(Shape(n))
        var kept = [UInt8](repeating: 0, count: n)
        x.t.fill(1)
        kept.withUnsafeMutableBufferPointer { _ = dropoutForward(y.t, x.t, kept: $0.baseAddress!, probability: 0.3, rng: &rng) }
        let zeros = y.t.array.filter { $0 == 0 }.count
        #expect(abs(Double(zeros) / Double(n) - 0.3) < 0.01)
        #expect(y.t.array.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
    }

    @Test func dropoutBackwardUsesTheForwardMask() {
        var rng = RandomGenerator(seed: 21)
        let x = OwnedTensor(Shape(64), uniform: 1, rng: &rng), y = OwnedTensor(Shape(64))
        let kept = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
        defer { kept.deallocate() }
        let mask = dropoutForward(y.t, x.t, kept: kept, probability: 0.5, rng: &rng)
        let dy = OwnedTensor(Shape(64), uniform: 1, rng: &rng), dx = OwnedTensor(Shape(64))
        dropoutBackward(dx: dx.t, dy: dy.t, mask: mask)
        // The layer is linear in x given the mask: y = mask·x, so dx = mask·dy exactly.
        #expect((0..<64).contains { mask[$0] == 0 } && (0..<64).contains { mask[$0] == 2 })
        for i in 0..<64 {
            #expect(y.t[i] == x.t[i] * mask[i])
            #expect(dx.t[i] == dy.t[i] * mask[i])
        }
    }

    @Test func aResidualWithDropoutOnItsBranchTakesOnePassEachWayWithTheBitsOfTheSeparatePasses() {
        // Forward, the fused kernel (in place, as Sublayer runs it) against dropoutForward then
        // residualForward: the same mask, the same bits, the same number taken from the generator.
        var rng = RandomGenerator(seed: 24)
        let n = 100_003
        let x = OwnedTensor(Shape(n), uniform: 1, rng: &rng), f = OwnedTensor(Shape(n), uniform: 1, rng: &rng)
        let dropped = OwnedTensor(Shape(n)), expected = OwnedTensor(Shape(n))
        let config = TransformerConfig(vocabularySize: 10, dModel: 8, ffnDim: 8, heads: 2, encoderLayers: 1, decoderLayers: 1,
                                       dropout: 0.1, maxPositions: 8)
        let sampler = DropoutSampler(config: config, rng: RandomGenerator(seed: 25))
        var separate = RandomGenerator(seed: 25)
        var keptSeparate = [UInt8](repeating: 7, count: n), keptFused = [UInt8](repeating: 7, count: n)
        keptSeparate.withUnsafeMutableBufferPointer { _ = dropoutForward(dropped.t, f.t, kept: $0.baseAddress!, probability: 0.1, rng: &separate) }
        residualForward(expected.t, x.t, dropped.t)
        let mask = keptFused.withUnsafeMutableBufferPointer {
            residualForward(f.t, x.t, f.t, dropout: sampler.fusedMask(probability: 0.1, kept: $0.baseAddress!)!)
        }
        #expect((0..<n).allSatisfy { f.t[$0].bitPattern == expected.t[$0].bitPattern })
        #expect(keptFused == keptSeparate && mask.scale == 1 / Float(0.9))
        #expect(sampler.rng == separate)
        // Backward: dx += dy and the branch's gradient through the mask, in one pass, against the two passes.
        let dy = OwnedTensor(Shape(n), uniform: 1, rng: &rng)
        let dx = OwnedTensor(Shape(n), uniform: 1, rng: &rng), dxExpected = OwnedTensor(Shape(n))
        let df = OwnedTensor(Shape(n)), dfExpected = OwnedTensor(Shape(n))
        dxExpected.t.copy(from: dx.t)
        addScaled(dxExpected.t.pointer, dy.t.pointer, n)
        mask.apply(dy.t, into: dfExpected.t)
        residualBackward(dx: dx.t, df: df.t, dy: dy.t, mask: mask)
        #expect((0..<n).allSatisfy { dx.t[$0].bitPattern == dxExpected.t[$0].bitPattern && df.t[$0].bitPattern == dfExpected.t[$0].bitPattern })
    }

    @Test func sameSeedGivesTheSameMask() {
        let x = OwnedTensor(Shape(256)), y = OwnedTensor(Shape(256))
        x.t.fill(1)
        var m1 = [UInt8](repeating: 0, count: 256), m2 = [UInt8](repeating: 0, count: 256)
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7)
        m1.withUnsafeMutableBufferPointer { _ = dropoutForward(y.t, x.t, kept: $0.baseAddress!, probability: 0.1, rng: &a) }
        m2.withUnsafeMutableBufferPointer { _ = dropoutForward(y.t, x.t, kept: $0.baseAddress!, probability: 0.1, rng: &b) }
        #expect(m1 == m2)
        #expect(a == b)
    }

    @Test func elementIKeepsOrDropsByItsOwnDrawWhateverTheSplit() {
        // The C kernel against the documented draw (uniformDraw), element by element, over more
        // elements than one parallel chunk so both workers' ranges are checked.
        var rng = RandomGenerator(seed: 23)
        let n = 100_003, p: Float = 0.1
        let x = OwnedTensor(Shape(n), uniform: 1, rng: &rng), y = OwnedTensor(Shape(n))
        var kept = [UInt8](repeating: 7, count: n)
        var copy = rng
        let stream = copy.next()
        copy = rng
        let mask = kept.withUnsafeMutableBufferPointer { dropoutForward(y.t, x.t, kept: $0.baseAddress!, probability: p, rng: &rng) }
        let differing = (0..<n).filter { i in
            let keep = uniformDraw(stream, i) >= p
            return kept[i] != (keep ? 1 : 0) || y.t[i].bitPattern != (keep ? x.t[i] * mask.scale : 0).bitPattern
        }
        #expect(differing.isEmpty)
        // In place (how the layers call it), from the same generator state: the same result.
        kept.withUnsafeMutableBufferPointer { _ = dropoutForward(x.t, x.t, kept: $0.baseAddress!, probability: p, rng: &copy) }
        #expect(x.t.array.map(\.bitPattern) == y.t.array.map(\.bitPattern))
        // Applying the mask again (the backward pass's use): x · factor i, bit for bit.
        let again = OwnedTensor(Shape(n))
        mask.apply(y.t, into: again.t)
        #expect((0..<n).allSatisfy { again.t[$0].bitPattern == (y.t[$0] * mask[$0]).bitPattern })
    }

    @Test func probabilityZeroIsTheIdentity() {
        var rng = RandomGenerator(seed: 22)
        let x = OwnedTensor(Shape(100), uniform: 1, rng: &rng), y = OwnedTensor(Shape(100))
        var kept = [UInt8](repeating: 0, count: 100)
        kept.withUnsafeMutableBufferPointer { _ = dropoutForward(y.t, x.t, kept: $0.baseAddress!, probability: 0, rng: &rng) }
        #expect(y.t.array == x.t.array)
    }
}
