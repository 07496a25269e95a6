// nmt train: train a Transformer on two aligned text files.

import ArgumentParser
import Foundation
import NMT

extension TrainingOptions.Preset: ExpressibleByArgument {}
extension Activation: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
extension TrainingOptions.BestMetric: ExpressibleByArgument {}
extension MatrixPrecision: ExpressibleByArgument {}

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

    @Option(help: "YAML file of options (keys are the long flag names, e.g. max-tokens: 8192); flags override it.") var config: String?
    @Flag(help: "Print the effective configuration as YAML and exit.") var dumpConfig = false

    @Option(help: "Training prefix: reads PREFIX.SRC and PREFIX.TGT.") var train: String?
    @Option(help: "Validation prefix: reads PREFIX.SRC and PREFIX.TGT.") var valid: String?
    @Option(help: "Source language suffix.") var src: String?
    @Option(help: "Target language suffix.") var tgt: String?
    @Option(help: "Training source file (instead of --train/--src).") var trainSrc: String?
    @Option(help: "Training target file.") var trainTgt: String?
    @Option(help: "How often the training pairs are drawn per epoch, against --corpus weights (default 1).") var trainWeight: Double?
    @Option(help: "Another training corpus, SRC,TGT[,WEIGHT[,TAG]]: drawn WEIGHT times per epoch (default 1; 0.5: a random half), TAG put before each source line (tagged back-translation). Repeatable.")
    var corpus: [String] = []
    @Option(help: "Word alignments of the training pairs (Moses format \"0-0 1-2 …\", a line per pair, words = whitespace-separated words, as fast_align/eflomal print them): one cross-attention head learns them (Marian's option), and --alignments reads it.")
    var guidedAlignment: String?
    @Option(help: "Weight of the guided-alignment loss against the token cross-entropy (default \(d.guidedAlignmentWeight)).") var guidedAlignmentWeight: Double?
    @Option(help: "Decoder layer (1-based) whose first head learns the alignments (default: the last).") var guidedAlignmentLayer: Int?
    @Option(help: "Validation source file.") var validSrc: String?
    @Option(help: "Validation target file.") var validTgt: String?
    @Option(help: "Output directory for checkpoints, log.jsonl and config.yaml (default \(d.outputDirectory)).") var out: String?

    @Option(help: "BPE codes to use (default: learn a joint BPE on the training data).") var bpe: String?
    @Option(help: "Merges of the joint BPE learned when --bpe is not given (default \(d.bpeMerges)).") var bpeMerges: Int?
    @Option(help: "BPE-dropout probability on training batches (default \(d.bpeDropout)).") var bpeDropout: Double?
    @Option(help: "Drop pairs with a side longer than this many subword tokens (default \(d.maxLength)).") var maxLen: Int?
    @Option(help: "Drop pairs whose token-length ratio exceeds this (default \(d.maxLengthRatio)).") var maxLenRatio: Double?

    @Option(help: "Model preset: tiny (256/1024/4/3+3), base (512/2048/8/6+6), big (1024/4096/16/6+6); finetune: the schedule for --init (lr 1e-4, warmup 400) (default tiny; finetune with --init).") var preset: TrainingOptions.Preset?
    @Option(help: "Override dModel.") var dModel: Int?
    @Option(help: "Override the feed-forward size.") var ffnDim: Int?
    @Option(help: "Override the number of attention heads.") var heads: Int?
    @Option(help: "Override encoder layers.") var encoderLayers: Int?
    @Option(help: "Override decoder layers.") var decoderLayers: Int?
    @Option(help: "Residual dropout.") var dropout: Float?
    @Option(help: "Attention dropout.") var attentionDropout: Float?
    @Option(help: "Dropout after the feed-forward activation.") var activationDropout: Float?
    @Option(help: "Maximum positions (sentence length + 2).") var maxPositions: Int?
    @Flag(inversion: .prefixedNo, help: "Pre-norm (default) or the paper's post-norm (--no-pre-norm).") var preNorm: Bool?
    @Option(help: "Feed-forward activation: relu or gelu (default \(d.activation.rawValue)).") var activation: Activation?

    @Option(help: "Padded tokens per batch, fairseq's meaning (default \(d.maxTokens)).") var maxTokens: Int?
    @Option(help: "Accumulate gradients over this many batches per update (default \(d.updateFrequency)).") var updateFreq: Int?
    @Option(help: "Random seed: initialisation, batch order, dropout (default \(d.seed)).") var seed: UInt64?
    @Option(help: "Label smoothing ε (default \(d.labelSmoothing)).") var labelSmoothing: Float?
    @Option(help: "Peak learning rate (default: the preset's; tiny 2e-3, base 7e-4, big 5e-4, finetune 1e-4).") var lr: Double?
    @Option(help: "Warmup steps (default: the preset's; tiny 300, base and big 4000, finetune 400).") var warmupSteps: Int?
    @Option(help: "Learning rate at step 0 of the warmup (default \(d.warmupInitLR)).") var warmupInitLr: Double?
    @Option(help: "inverse-sqrt, noam or constant (default \(d.schedule.rawValue)).") var lrSchedule: LearningRateSchedule?
    @Option(help: "Adam β1,β2 (default 0.9,0.98).") var adamBetas: String?
    @Option(help: "Adam ε (default \(d.adamEpsilon)).") var adamEps: Float?
    @Option(help: "Decoupled weight decay (default \(d.weightDecay)).") var weightDecay: Float?
    @Option(help: "Clip the global gradient norm to this (0: off, the default).") var clipNorm: Double?
    @Option(help: "Matrix products of training: fp32 (the default) or bf16 (bfloat16 inputs, float32 sums; needs AVX512-BF16). Checkpoints are float32 either way.") var precision: MatrixPrecision?

    @Option(help: "Validate every N updates (default \(d.validEvery)).") var validEvery: Int?
    @Option(help: "Beam for validation BLEU (1: greedy, the default).") var validBeam: Int?
    @Option(help: "Translate at most this many validation sentences for BLEU.") var validMaxSentences: Int?
    @Option(help: "Stop after N validations without improvement.") var patience: Int?
    @Option(help: "loss or bleu: what 'best' means (default \(d.bestMetric.rawValue)).") var bestMetric: TrainingOptions.BestMetric?
    @Option(help: "Save a numbered checkpoint every N updates (default: --valid-every).") var saveEvery: Int?
    @Option(help: "Keep this many numbered checkpoints (default \(d.keepLast)).") var keepLast: Int?
    @Option(help: "Continue from this checkpoint (default: the run's checkpoint-last, if any).") var resume: String?
    @Flag(help: "With --resume: start a fresh optimizer and schedule (fine-tuning).") var resetOptimizer = false
    @Option(name: .customLong("init"), help: "Fine-tune: start a new run from this model's weights, architecture and tokenizer (any nmt model, an imported one included), with a fresh optimizer.") var initFrom: String?
    @Option(help: "Keep these parts' weights as they are: a comma-separated list of embeddings, encoder, decoder.") var freeze: String?

    @Option(help: "Stop after this many updates.") var maxSteps: Int?
    @Option(help: "Stop after this many epochs (default 100 when no limit is given).") var maxEpochs: Int?
    @Option(name: .customLong("max-time"), help: "Stop after this many minutes.") var maxTime: Double?
    @Option(help: "Log every N updates when not on a terminal (default \(d.logEvery)).") var logEvery: Int?
    @Option(help: "Threads (default: all cores).") var threads: Int?

    /// The defaults, for the help texts.
    private static let d = TrainingOptions()

    /// The options: the defaults, then the --config file, then the flags given.
    func options() throws -> TrainingOptions {
        var o = try config.map { try ConfigFile.read($0) } ?? TrainingOptions()
        // One side from the command line, the other from the config: the pair is both.
        func pair(_ prefix: String?, _ s: String?, _ t: String?, _ name: String, configured: (String?, String?)) throws -> (String, String)? {
            if let s = s ?? (t != nil ? configured.0 : nil), let t = t ?? (s != nil ? configured.1 : nil) { return (s, t) }
            if s != nil || t != nil { throw NMTError("--\(name)-src and --\(name)-tgt go together") }
            guard let prefix else { return nil }
            guard let src, let tgt else { throw NMTError("--\(name) PREFIX needs --src and --tgt language suffixes") }
            return ("\(prefix).\(src)", "\(prefix).\(tgt)")
        }
        let configuredTrain = (o.trainSource.isEmpty ? nil : o.trainSource, o.trainTarget.isEmpty ? nil : o.trainTarget)
        if let files = try pair(train, trainSrc, trainTgt, "train", configured: configuredTrain) { (o.trainSource, o.trainTarget) = files }
        if let files = try pair(valid, validSrc, validTgt, "valid", configured: (o.validSource, o.validTarget)) { (o.validSource, o.validTarget) = (files.0, files.1) }
        func set<T>(_ value: T?, _ keyPath: WritableKeyPath<TrainingOptions, T>) { if let value { o[keyPath: keyPath] = value } }
        func set<T>(_ value: T?, _ keyPath: WritableKeyPath<TrainingOptions, T?>) { if let value { o[keyPath: keyPath] = value } }
        set(trainWeight, \.trainWeight)
        set(guidedAlignment, \.guidedAlignment); set(guidedAlignmentWeight, \.guidedAlignmentWeight); set(guidedAlignmentLayer, \.guidedAlignmentLayer)
        if !corpus.isEmpty { o.corpora = try corpus.map(TrainingOptions.Corpus.init(argument:)) }
        set(out, \.outputDirectory); set(bpe, \.bpeCodes); set(bpeMerges, \.bpeMerges); set(bpeDropout, \.bpeDropout)
        set(maxLen, \.maxLength); set(maxLenRatio, \.maxLengthRatio)
        set(preset, \.preset); set(dModel, \.dModel); set(ffnDim, \.ffnDim); set(heads, \.heads)
        set(encoderLayers, \.encoderLayers); set(decoderLayers, \.decoderLayers); set(dropout, \.dropout)
        set(attentionDropout, \.attentionDropout); set(activationDropout, \.activationDropout); set(maxPositions, \.maxPositions)
        set(preNorm, \.preNorm); set(activation, \.activation)
        set(maxTokens, \.maxTokens); set(updateFreq, \.updateFrequency); set(seed, \.seed); set(labelSmoothing, \.labelSmoothing)
        set(lr, \.lr); set(warmupSteps, \.warmupSteps); set(warmupInitLr, \.warmupInitLR); set(lrSchedule, \.schedule)
        if let adamBetas {
            let betas = adamBetas.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard betas.count == 2 else { throw NMTError("--adam-betas takes two numbers, e.g. 0.9,0.98") }
            o.adamBetas = betas
        }
        set(adamEps, \.adamEpsilon); set(weightDecay, \.weightDecay); set(clipNorm, \.clipNorm); set(precision, \.precision)
        set(validEvery, \.validEvery); set(validBeam, \.validBeam); set(validMaxSentences, \.validMaxSentences)
        set(patience, \.patience); set(bestMetric, \.bestMetric); set(saveEvery, \.saveEvery); set(keepLast, \.keepLast)
        set(resume, \.resume)
        if resetOptimizer { o.resetOptimizer = true }
        set(initFrom, \.initFrom)
        if let freeze {
            o.freeze = try freeze.split(separator: ",").map { part in
                guard let p = TrainingOptions.FrozenPart(rawValue: part.trimmingCharacters(in: .whitespaces)) else {
                    throw NMTError("--freeze: '\(part)' is not one of \(TrainingOptions.FrozenPart.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return p
            }
        }
        set(maxSteps, \.maxSteps); set(maxEpochs, \.maxEpochs); set(maxTime, \.maxMinutes); set(logEvery, \.logEvery)
        set(threads, \.threads)
        return o.resolved()
    }

    func run() throws {
        try reportingErrors {
            let world: Communicator
            do { world = try joinWorld() } catch let error as CollectiveError where error.message.isEmpty { throw ExitCode.failure }
            do {
                // Options are the same on every rank, so are their errors. The trainer checks them.
                let o = try world.agree { try options() }
                if dumpConfig {
                    try world.agree { try o.validate(requireData: false) }
                    if world.isLeader { try StandardStreams.writeOutput(try ConfigFile.yaml(o)) }
                    world.finish()
                    return
                }
                _ = try Trainer(options: o, log: TrainingLog(), world: world).run()
                world.finish()
            } catch let error as CollectiveError {
                // Every rank knows; the leader says it once and all leave together.
                if world.isLeader { printError("nmt: error: \(error.message)") }
                world.finish()
                throw ExitCode.failure
            } catch {
                // Only this rank knows: say it (naming the rank) and end the whole job.
                guard world.size > 1 else { throw error }
                let message = (error as? NMTError)?.message ?? "\(error)"
                printError("nmt: error: \(world.isLeader ? "" : "rank \(world.rank): ")\(message)")
                world.abort(status: 1)
            }
        }
    }
}
