// nmt train: train a Transformer on two aligned text files.

import ArgumentParser
import Foundation
import NMT

extension TransformerConfig.Preset: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
extension TrainingOptions.BestMetric: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an encoder-decoder Transformer on parallel text.",
        discussion: """
        Example: nmt train --train data/bible-en-es/train --valid data/bible-en-es/valid --src en --tgt es \\
                           --preset tiny --max-time 10 --out runs/en-es
        Running the same command again continues from the run's last checkpoint.
        """
    )

    @Option(help: "Training prefix: reads PREFIX.SRC and PREFIX.TGT.") var train: String?
    @Option(help: "Validation prefix: reads PREFIX.SRC and PREFIX.TGT.") var valid: String?
    @Option(help: "Source language suffix.") var src: String?
    @Option(help: "Target language suffix.") var tgt: String?
    @Option(help: "Training source file (instead of --train/--src).") var trainSrc: String?
    @Option(help: "Training target file.") var trainTgt: String?
    @Option(help: "Validation source file.") var validSrc: String?
    @Option(help: "Validation target file.") var validTgt: String?
    @Option(help: "Output directory for checkpoints and log.jsonl.") var out = "runs/model"

    @Option(help: "BPE codes to use (default: learn a joint BPE on the training data).") var bpe: String?
    @Option(help: "Merges of the joint BPE learned when --bpe is not given.") var bpeMerges = 8000
    @Option(help: "BPE-dropout probability on training batches.") var bpeDropout = 0.0
    @Option(help: "Drop pairs with a side longer than this many subword tokens.") var maxLen = 256
    @Option(help: "Drop pairs whose token-length ratio exceeds this.") var maxLenRatio = 4.0

    @Option(help: "Model preset: tiny (256/1024/4/3+3), base (512/2048/8/6+6), big (1024/4096/16/6+6).") var preset = TransformerConfig.Preset.tiny
    @Option(help: "Override dModel.") var dModel: Int?
    @Option(help: "Override the feed-forward size.") var ffnDim: Int?
    @Option(help: "Override the number of attention heads.") var heads: Int?
    @Option(help: "Override encoder layers.") var encoderLayers: Int?
    @Option(help: "Override decoder layers.") var decoderLayers: Int?
    @Option(help: "Residual dropout.") var dropout: Float?
    @Option(help: "Attention dropout.") var attentionDropout: Float?
    @Option(help: "Dropout after the feed-forward activation.") var activationDropout: Float?
    @Option(help: "Maximum positions (sentence length + 2).") var maxPositions: Int?
    @Flag(inversion: .prefixedNo, help: "Pre-norm (default) or the paper's post-norm (--no-pre-norm).") var preNorm = true
    @Option(help: "Feed-forward activation: relu or gelu.") var activation = Activation.relu

    @Option(help: "Padded tokens per batch (fairseq's meaning).") var maxTokens = 4096
    @Option(help: "Accumulate gradients over this many batches per update.") var updateFreq = 1
    @Option(help: "Random seed (initialisation, batch order, dropout).") var seed: UInt64 = 1
    @Option(help: "Label smoothing ε.") var labelSmoothing: Float = 0.1
    @Option(help: "Peak learning rate (default depends on the preset).") var lr: Double?
    @Option(help: "Warmup steps (default depends on the preset).") var warmupSteps: Int?
    @Option(help: "Learning rate at step 0 of the warmup.") var warmupInitLr = 1e-7
    @Option(help: "inverse-sqrt, noam or constant.") var lrSchedule = LearningRateSchedule.inverseSqrt
    @Option(help: "Adam β1,β2.") var adamBetas = "0.9,0.98"
    @Option(help: "Adam ε.") var adamEps: Float = 1e-9
    @Option(help: "Decoupled weight decay.") var weightDecay: Float = 0
    @Option(help: "Clip the global gradient norm to this (0: off).") var clipNorm = 0.0

    @Option(help: "Validate every N updates.") var validEvery = 500
    @Option(help: "Beam for validation BLEU (1: greedy).") var validBeam = 1
    @Option(help: "Translate at most this many validation sentences for BLEU.") var validMaxSentences: Int?
    @Option(help: "Stop after N validations without improvement.") var patience: Int?
    @Option(help: "loss or bleu: what 'best' means.") var bestMetric = TrainingOptions.BestMetric.loss
    @Option(help: "Save a numbered checkpoint every N updates (default: --valid-every).") var saveEvery: Int?
    @Option(help: "Keep this many numbered checkpoints.") var keepLast = 5
    @Option(help: "Continue from this checkpoint (default: the run's checkpoint-last, if any).") var resume: String?
    @Flag(help: "With --resume: start a fresh optimizer and schedule (fine-tuning).") var resetOptimizer = false

    @Option(help: "Stop after this many updates.") var maxSteps: Int?
    @Option(help: "Stop after this many epochs.") var maxEpochs: Int?
    @Option(name: .customLong("max-time"), help: "Stop after this many minutes.") var maxTime: Double?
    @Option(help: "Log every N updates (when not on a terminal).") var logEvery = 50
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            if let threads { guard threads >= 1 else { throw NMTError("--threads must be at least 1") }; Threads.set(threads) }
            var o = TrainingOptions()
            func pair(_ prefix: String?, _ s: String?, _ t: String?, _ name: String) throws -> (String, String)? {
                if let s, let t { return (s, t) }
                guard let prefix else { return nil }
                guard let src, let tgt else { throw NMTError("--\(name) PREFIX needs --src and --tgt language suffixes") }
                return ("\(prefix).\(src)", "\(prefix).\(tgt)")
            }
            guard let trainFiles = try pair(train, trainSrc, trainTgt, "train") else {
                throw NMTError("give the training data with --train PREFIX --src L1 --tgt L2, or --train-src FILE --train-tgt FILE")
            }
            (o.trainSource, o.trainTarget) = trainFiles
            if let v = try pair(valid, validSrc, validTgt, "valid") { (o.validSource, o.validTarget) = (v.0, v.1) }
            o.outputDirectory = out
            o.bpeCodes = bpe
            o.bpeMerges = bpeMerges
            o.bpeDropout = bpeDropout
            o.maxLength = maxLen
            o.maxLengthRatio = maxLenRatio
            o.maxTokens = maxTokens
            o.updateFrequency = updateFreq
            o.seed = seed
            o.labelSmoothing = labelSmoothing
            // Defaults per preset: small models take a higher peak rate and a short warmup.
            let (defaultLR, defaultWarmup): (Double, Int) = preset == .tiny ? (2e-3, 300) : (preset == .base ? (7e-4, 4000) : (5e-4, 4000))
            o.lr = lr ?? defaultLR
            o.warmupSteps = warmupSteps ?? defaultWarmup
            o.warmupInitLR = warmupInitLr
            o.schedule = lrSchedule
            let betas = adamBetas.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard betas.count == 2 else { throw NMTError("--adam-betas takes two numbers, e.g. 0.9,0.98") }
            o.adamBetas = (betas[0], betas[1])
            o.adamEpsilon = adamEps
            o.weightDecay = weightDecay
            o.clipNorm = clipNorm
            o.validEvery = validEvery
            o.validBeam = validBeam
            o.validMaxSentences = validMaxSentences
            o.patience = patience
            o.bestMetric = bestMetric
            o.saveEvery = saveEvery
            o.keepLast = keepLast
            o.resume = resume
            o.resetOptimizer = resetOptimizer
            if resetOptimizer && resume == nil { throw NMTError("--reset-optimizer needs --resume FILE") }
            o.maxSteps = maxSteps
            o.maxEpochs = maxEpochs
            o.maxMinutes = maxTime
            o.logEvery = logEvery
            if maxSteps == nil && maxEpochs == nil && maxTime == nil { o.maxEpochs = 100 }

            var config = TransformerConfig.preset(preset, vocabularySize: 0)
            if let v = dModel { config.dModel = v }
            if let v = ffnDim { config.ffnDim = v }
            if let v = heads { config.heads = v }
            if let v = encoderLayers { config.encoderLayers = v }
            if let v = decoderLayers { config.decoderLayers = v }
            if let v = dropout { config.dropout = v }
            if let v = attentionDropout { config.attentionDropout = v }
            if let v = activationDropout { config.activationDropout = v }
            if let v = maxPositions { config.maxPositions = v }
            config.preNorm = preNorm
            config.activation = activation
            var check = config
            check.vocabularySize = 100
            try check.validate()

            let log = TrainingLog()
            let trainer = Trainer(options: o, config: config, log: log)
            _ = try trainer.run()
        }
    }
}
