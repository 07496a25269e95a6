// A tiny model must learn a simple task quickly: reversing short random sequences.

import Foundation
import Testing
@testable import NMT

@Suite struct TransformerLearningTests {
    /// Random sequences of 3–6 symbols from ids 4…19, and their reversals.
    static func reversalBatch(_ rng: inout RandomGenerator, size: Int) -> Batch {
        Batch(pairs: reversalSources(&rng, size: size).map { (source: $0, target: Array($0.reversed())) })
    }

    static func reversalSources(_ rng: inout RandomGenerator, size: Int) -> [[Int32]] {
        (0..<size).map { _ in
            let length = 3 + Int(rng.next() % 4)
            return (0..<length).map { _ in Int32(4 + rng.next() % 16) }
        }
    }

    /// Teacher-forced argmax accuracy over non-pad target tokens.
    func accuracy(_ model: Transformer, _ batch: Batch) -> Double {
        let arena = Arena()
        let logits = model.score(batch, labelSmoothing: 0, arena: arena).logits
        var correct = 0, total = 0
        for (row, target) in batch.targetOutput.enumerated() where target != Vocabulary.padding {
            let p = logits.pointer + row * logits.columns
            var best = 0
            for j in 1..<logits.columns where p[j] > p[best] { best = j }
            if best == Int(target) { correct += 1 }
            total += 1
        }
        return Double(correct) / Double(total)
    }

    @Test func tinyModelLearnsToReverseSequences() throws {
        let model = try TransformerLearningTests.trainedReversalModel.get()
        var heldOut = RandomGenerator(seed: 1234)
        let acc = accuracy(model, TransformerLearningTests.reversalBatch(&heldOut, size: 200))
        #expect(acc >= 0.99, "token accuracy \(acc)")
    }

    /// int8 decoding of a trained model: the quantized model's greedy outputs are the float32
    /// model's on (nearly) every held-out sequence.
    @Test func anInt8ModelsGreedyOutputAgreesWithFloat32OnMostSequences() throws {
        let model = try TransformerLearningTests.trainedReversalModel.get()
        let int8 = try Transformer(config: model.config, quantized: QuantizedWeights(quantizing: model.parameters, config: model.config),
                                   parameters: model.parameters)
        #expect(int8.computeType == .int8)
        var heldOut = RandomGenerator(seed: 99)
        let sources = TransformerLearningTests.reversalSources(&heldOut, size: 200)
        var options = SearchOptions()
        options.beam = 1
        let fp32Outputs = beamSearch(model: model, sources: sources, options: options).map { $0[0].tokens }
        let int8Outputs = beamSearch(model: int8, sources: sources, options: options).map { $0[0].tokens }
        let agreeing = zip(fp32Outputs, int8Outputs).filter { $0 == $1 }.count
        let correct = zip(sources, int8Outputs).filter { Array($0.reversed()) == $1 }.count
        #expect(agreeing >= 190, "int8 agrees with float32 on \(agreeing) of 200")
        #expect(correct >= 180, "int8 reverses \(correct) of 200")
    }

    /// Trained once, shared by the tests above (800 Adam steps on reversals).
    static let trainedReversalModel: Result<Transformer, Error> = Result {
        let config = TransformerConfig(vocabularySize: 20, dModel: 32, ffnDim: 64, heads: 4, encoderLayers: 1, decoderLayers: 1,
                                       dropout: 0, maxPositions: 16)
        let model = try Transformer(config: config)
        model.initialize(seed: 5)
        let adam = Adam(count: model.parameters.count, beta2: 0.98)
        var data = RandomGenerator(seed: 6)
        let dropout = DropoutSampler(config: config, rng: RandomGenerator(seed: 7))
        let gradients = TransformerGradients(for: model), arena = Arena()
        for step in 1...800 {
            gradients.zero()
            let pass = model.forward(TransformerLearningTests.reversalBatch(&data, size: 32), dropout: dropout, compute: .float32, arena: arena)
            model.backward(pass, labelSmoothing: 0, gradients: gradients, compute: .float32, arena: arena)
            let lr = LearningRateSchedule.inverseSqrt.rate(step: step, lr: 5e-3, warmup: 50, warmupInitLR: 1e-5, dModel: 32)
            adam.update(parameters: model.parameters.values, gradients: gradients.buffer.pointer, lr: Float(lr))
        }
        return model
    }
}
