// Trainer: the `nmt train` loop — data, BPE, model, Adam, validation, checkpoints, resume.
//
// One update: `updateFrequency` batches, each forward + backward with gradients scaled by
// 1/(target tokens of all of them), so the loss is a per-token mean; then global-norm clipping,
// the learning rate of the schedule, and one Adam step. A checkpoint is a complete model file
// plus a sibling training-state file; both are written atomically. Resuming restores the model,
// Adam, the epoch position and the random generators, so the run continues exactly.

import Foundation

public struct TrainingSummary: Sendable {
    public var steps: Int
    public var epochs: Int
    public var lastCheckpoint: String?
    public var bestCheckpoint: String?
    public var stoppedBecause: String
    public var trainLosses: [(step: Int, loss: Double)]
}

public final class Trainer {
    let options: TrainingOptions
    var configTemplate: TransformerConfig
    let log: TrainingLog
    /// Loss of every update, for tests (resume equivalence).
    public private(set) var lossHistory: [(step: Int, loss: Double)] = []

    public init(options: TrainingOptions, config: TransformerConfig, log: TrainingLog) {
        self.options = options
        configTemplate = config
        self.log = log
    }

    var directory: String { options.outputDirectory }
    func checkpointPath(_ name: String) -> String { directory + "/checkpoint-\(name).safetensors" }

    public func run() throws -> TrainingSummary {
        let o = options
        guard o.maxTokens >= o.maxLength + 1 else {
            throw NMTError("--max-tokens \(o.maxTokens) is smaller than the longest allowed sentence (--max-len \(o.maxLength) + 1 for </s>)")
        }
        guard o.maxLength + 2 <= configTemplate.maxPositions else {
            throw NMTError("--max-len \(o.maxLength) needs at least \(o.maxLength + 2) positions but the model has --max-positions \(configTemplate.maxPositions)")
        }
        guard o.updateFrequency >= 1, o.keepLast >= 1, o.validEvery >= 1, o.logEvery >= 1 else {
            throw NMTError("--update-freq, --keep-last, --valid-every and --log-every must be at least 1")
        }
        for path in [o.trainSource, o.trainTarget] + [o.validSource, o.validTarget].compactMap({ $0 }) {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw NMTError("cannot open \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "No such file or directory")")
            }
        }
        // Data problems are found before anything is written.
        try checkAligned(o.trainSource, o.trainTarget)
        if let vs = o.validSource, let vt = o.validTarget { try checkAligned(vs, vt) }
        try checkOutputDirectory()

        // What to resume from: an explicit file, or the run's last checkpoint.
        var resumeFrom = o.resume
        if resumeFrom == nil && FileManager.default.fileExists(atPath: checkpointPath("last")) { resumeFrom = checkpointPath("last") }

        let model: Transformer
        let tokenizer: BPETokenizer
        var step0Model: LoadedModel? = nil
        if let resumeFrom {
            let loaded = try ModelFile.load(resumeFrom)
            if let codes = o.bpeCodes {
                let given = try BPETokenizer(path: codes)
                guard given.vocabulary == loaded.tokenizer.vocabulary else {
                    throw NMTError("\(resumeFrom) was trained with a different vocabulary than --bpe \(codes)")
                }
            }
            var expected = configTemplate
            expected.vocabularySize = loaded.model.config.vocabularySize
            if let difference = firstDifference(loaded.model.config, expected) {
                throw NMTError("\(resumeFrom) has a different model config than the options (\(difference))")
            }
            step0Model = loaded
            model = loaded.model
            tokenizer = loaded.tokenizer
        } else {
            if let codes = o.bpeCodes {
                tokenizer = try BPETokenizer(path: codes)
            } else {
                let start = Date()
                tokenizer = try BPETokenizer.learn(files: [o.trainSource, o.trainTarget], merges: o.bpeMerges)
                log.say("learned a joint BPE of \(tokenizer.merges.count) merges (vocabulary \(tokenizer.vocabulary.count)) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
            }
            var config = configTemplate
            config.vocabularySize = tokenizer.vocabulary.count
            model = try Transformer(config: config)
            model.initialize(seed: o.seed)
        }

        // Data.
        let loadStart = Date()
        let (corpus, stats) = try ParallelCorpus.load(sourcePath: o.trainSource, targetPath: o.trainTarget, tokenizer: tokenizer,
                                                      maxLength: o.maxLength, maxLengthRatio: o.maxLengthRatio, keepText: o.bpeDropout > 0)
        guard corpus.count > 0 else {
            throw NMTError("no training pairs left after filtering \(stats.lines) lines (\(stats.empty) empty, \(stats.tooLong) longer than --max-len \(o.maxLength), \(stats.badRatio) with a length ratio above \(o.maxLengthRatio))")
        }
        log.say("training data: \(stats.lines) pairs read, \(stats.kept) kept; dropped \(stats.empty) empty, \(stats.tooLong) longer than \(o.maxLength) tokens, \(stats.badRatio) with length ratio > \(o.maxLengthRatio) (\(String(format: "%.1f", Date().timeIntervalSince(loadStart))) s)")
        var validation: Validation? = nil
        if let vs = o.validSource, let vt = o.validTarget {
            validation = try Validation(sourcePath: vs, targetPath: vt, tokenizer: tokenizer, maxLength: model.config.maxPositions - 2,
                                        maxSentences: o.validMaxSentences)
        }

        // Optimizer and progress.
        let adam = Adam(count: model.parameters.count, beta1: o.adamBetas.0, beta2: o.adamBetas.1, epsilon: o.adamEpsilon, weightDecay: o.weightDecay)
        let fingerprint = "train=\(o.trainSource)|\(o.trainTarget)|pairs=\(corpus.count)|max-tokens=\(o.maxTokens)|seed=\(o.seed)|update-freq=\(o.updateFrequency)"
        var progress = TrainingProgress(dropoutRng: RandomGenerator(seed: o.seed &+ 1).state, bpeDropoutRng: RandomGenerator(seed: o.seed &+ 2).state,
                                        fingerprint: fingerprint)
        if let resumeFrom, let loaded = step0Model {
            let statePath = TrainingStateFile.path(forCheckpoint: resumeFrom)
            if o.resetOptimizer {
                log.say("fine-tuning from \(resumeFrom) (step \(loaded.step)) with a fresh optimizer")
                log.event("resume", ["from": resumeFrom, "step": loaded.step, "reset_optimizer": true])
            } else {
                guard FileManager.default.fileExists(atPath: statePath) else {
                    throw NMTError("\(resumeFrom) has no training-state file \(statePath); use --reset-optimizer to fine-tune from it")
                }
                progress = try TrainingStateFile.load(statePath, into: adam)
                guard progress.fingerprint == fingerprint else {
                    throw NMTError("\(statePath) was saved with other data or batching options (\(progress.fingerprint)); use --reset-optimizer to fine-tune instead")
                }
                log.say("resuming from \(resumeFrom) at step \(progress.step) (epoch \(progress.epoch + 1), batch \(progress.batchInEpoch))")
                log.event("resume", ["from": resumeFrom, "step": progress.step, "epoch": progress.epoch])
            }
        }
        try prepareDirectory()
        try log.open(directory: directory)
        log.event("data", ["lines": stats.lines, "kept": stats.kept, "empty": stats.empty, "too_long": stats.tooLong, "bad_ratio": stats.badRatio])
        log.say("model: \(model.parameters.parameterCount) parameters (dModel \(model.config.dModel), \(model.config.encoderLayers)+\(model.config.decoderLayers) layers), \(Threads.count) threads")

        return try loop(model: model, tokenizer: tokenizer, corpus: corpus, validation: validation, adam: adam, progress: &progress)
    }

    /// Same line count on both sides, and valid UTF-8 everywhere (errors name file:line).
    private func checkAligned(_ source: String, _ target: String) throws {
        let (s, t) = (try ParallelCorpus.countLines(source), try ParallelCorpus.countLines(target))
        guard s == t else {
            throw NMTError("\(source) has \(s) lines but \(target) has \(t); the files must be aligned line by line")
        }
        for path in [source, target] {
            let reader = try LineReader(path: path)
            while try reader.nextString() != nil {}
        }
    }

    /// The output directory exists and is writable, or can be created (checked before any work).
    private func checkOutputDirectory() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw NMTError("--out \(directory) exists and is not a directory") }
            guard access(directory, W_OK) == 0 else { throw NMTError("output directory \(directory) is not writable") }
            return
        }
        var ancestor = URL(fileURLWithPath: directory).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) { ancestor.deleteLastPathComponent() }
        guard isDirectory.boolValue else { throw NMTError("cannot create output directory \(directory): \(ancestor.path) is not a directory") }
        guard access(ancestor.path, W_OK) == 0 else { throw NMTError("cannot create output directory \(directory): \(ancestor.path) is not writable") }
    }

    private func prepareDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw NMTError("cannot create output directory \(directory): \(error.localizedDescription)")
        }
        let probe = directory + "/.write-test-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw NMTError("output directory \(directory) is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    private func loop(model: Transformer, tokenizer: BPETokenizer, corpus: ParallelCorpus, validation: Validation?,
                      adam: Adam, progress: inout TrainingProgress) throws -> TrainingSummary {
        let o = options
        StopSignal.install()
        let started = Date()
        var plan = BatchPlan(corpus: corpus, maxTokens: o.maxTokens, seed: o.seed, epoch: progress.epoch)
        let dropout = DropoutSampler(config: model.config, rng: RandomGenerator(state: progress.dropoutRng))
        let gradients = TransformerGradients(for: model)
        let arena = Arena()
        var bpeRng = RandomGenerator(state: progress.bpeDropoutRng)
        var bpeEncoder = tokenizer.encoder()
        var interval = (loss: 0.0, nll: 0.0, tokens: 0, sourceTokens: 0, steps: 0, start: Date())
        var lastCheckpoint: String? = nil
        var bestCheckpoint: String? = FileManager.default.fileExists(atPath: checkpointPath("best")) ? checkpointPath("best") : nil
        let saveEvery = o.saveEvery ?? o.validEvery
        var stopReason: String? = nil
        var lastValidatedStep = -1

        func limitsReached() -> String? {
            if let m = o.maxSteps, progress.step >= m { return "reached --max-steps \(m)" }
            if let e = o.maxEpochs, progress.epoch >= e { return "reached --max-epochs \(e)" }
            if let minutes = o.maxMinutes, Date().timeIntervalSince(started) >= minutes * 60 { return "reached --max-time \(minutes) minutes" }
            return nil
        }

        func saveCheckpoint() throws {
            progress.dropoutRng = dropout.rng.state
            progress.bpeDropoutRng = bpeRng.state
            let numbered = checkpointPath(String(progress.step))
            try ModelFile.save(model, tokenizer: tokenizer, step: progress.step, to: numbered)
            try TrainingStateFile.save(progress, adam: adam, to: TrainingStateFile.path(forCheckpoint: numbered))
            try replaceAtomically(link: numbered, as: checkpointPath("last"))
            try replaceAtomically(link: TrainingStateFile.path(forCheckpoint: numbered), as: TrainingStateFile.path(forCheckpoint: checkpointPath("last")))
            lastCheckpoint = numbered
            log.event("checkpoint", ["step": progress.step, "path": numbered])
            try pruneCheckpoints()
        }

        func validate() throws {
            guard let validation else { return }
            lastValidatedStep = progress.step
            let start = Date()
            let loss = validation.loss(model: model, labelSmoothing: o.labelSmoothing, maxTokens: o.maxTokens, arena: arena)
            let bleu = validation.bleu(model: model, tokenizer: tokenizer, beam: o.validBeam)
            let value = o.bestMetric == .loss ? loss.loss : -bleu
            var improved = false
            if progress.bestValue == nil || value < progress.bestValue! {
                progress.bestValue = value
                progress.bestStep = progress.step
                progress.validationsWithoutImprovement = 0
                improved = true
                try ModelFile.save(model, tokenizer: tokenizer, step: progress.step, to: checkpointPath("best"))
                bestCheckpoint = checkpointPath("best")
            } else {
                progress.validationsWithoutImprovement += 1
            }
            let seconds = Date().timeIntervalSince(start)
            log.say(String(format: "valid | step %d | loss %.3f | nll %.3f | ppl %.2f | bleu %.2f | %@ | %.1f s",
                           progress.step, loss.loss, loss.nll, loss.perplexity, bleu, improved ? "best so far" : "no improvement (\(progress.validationsWithoutImprovement))", seconds))
            log.event("valid", ["step": progress.step, "epoch": progress.epoch + 1, "loss": loss.loss, "nll": loss.nll, "ppl": loss.perplexity,
                                "bleu": bleu, "best": improved, "elapsed_s": progress.trainedSeconds, "valid_seconds": seconds])
        }

        while stopReason == nil {
            if let reason = limitsReached() { stopReason = reason; break }
            // One update over updateFrequency batches.
            var batches: [Batch] = []
            for _ in 0..<o.updateFrequency {
                if progress.batchInEpoch >= plan.batches.count {
                    progress.epoch += 1
                    progress.batchInEpoch = 0
                    log.event("epoch", ["epoch": progress.epoch, "step": progress.step])
                    if let e = o.maxEpochs, progress.epoch >= e { break }
                    plan = BatchPlan(corpus: corpus, maxTokens: o.maxTokens, seed: o.seed, epoch: progress.epoch)
                }
                let indices = plan.batches[progress.batchInEpoch]
                progress.batchInEpoch += 1
                batches.append(makeBatch(indices, corpus: corpus, encoder: &bpeEncoder, rng: &bpeRng, maxLength: o.maxLength))
            }
            if batches.isEmpty { continue }
            let stepStart = Date()
            let targetTokens = batches.reduce(0) { $0 + $1.targetTokens }
            let scale = 1 / Float(targetTokens)
            gradients.zero()
            var lossSum = 0.0, nllSum = 0.0
            for batch in batches {
                let pass = model.forward(batch, dropout: dropout, arena: arena)
                let result = model.backward(pass, labelSmoothing: o.labelSmoothing, gradientScale: scale, gradients: gradients, arena: arena)
                lossSum += result.loss.lossSum
                nllSum += result.loss.nllSum
            }
            let gradientNorm = clipGlobalNorm(gradients.buffer.buffer, maxNorm: o.clipNorm)
            progress.step += 1
            let lr = o.schedule.rate(step: progress.step, lr: o.lr, warmup: o.warmupSteps, warmupInitLR: o.warmupInitLR, dModel: model.config.dModel)
            adam.update(parameters: model.parameters.values, gradients: gradients.buffer.pointer, lr: Float(lr))
            progress.trainedSeconds += Date().timeIntervalSince(stepStart)
            let loss = lossSum / Double(targetTokens)
            lossHistory.append((progress.step, loss))
            interval.loss += lossSum
            interval.nll += nllSum
            interval.tokens += targetTokens
            interval.sourceTokens += batches.reduce(0) { $0 + $1.sourceTokens }
            interval.steps += 1

            let elapsed = Date().timeIntervalSince(started)
            let tokensPerSecond = Double(interval.tokens) / max(Date().timeIntervalSince(interval.start), 1e-9)
            let epochProgress = 100 * Double(progress.batchInEpoch) / Double(max(plan.batches.count, 1))
            let status = String(format: "step %d | epoch %d %.0f%% | loss %.3f | ppl %.2f | lr %.2e | %.0f tgt tok/s | %@ elapsed%@",
                                progress.step, progress.epoch + 1, epochProgress, loss, exp(nllSum / Double(targetTokens)), lr, tokensPerSecond,
                                formatDuration(elapsed), eta(elapsed: elapsed, progress: progress))
            let shown = log.status(status)
            if progress.step % o.logEvery == 0 || (o.maxSteps.map { progress.step >= $0 } ?? false) {
                let meanLoss = interval.loss / Double(interval.tokens), meanNLL = interval.nll / Double(interval.tokens)
                let seconds = max(Date().timeIntervalSince(interval.start), 1e-9)
                log.event("train", ["step": progress.step, "epoch": progress.epoch + 1, "loss": meanLoss, "nll": meanNLL, "ppl": exp(meanNLL),
                                    "lr": lr, "tokens_per_s": Double(interval.tokens) / seconds,
                                    "source_target_tokens_per_s": Double(interval.tokens + interval.sourceTokens) / seconds,
                                    "gradient_norm": gradientNorm, "elapsed_s": elapsed])
                if !shown {
                    log.say(String(format: "train | step %d | epoch %d | loss %.3f | nll %.3f | ppl %.2f | lr %.2e | %.0f tgt tok/s | %@",
                                   progress.step, progress.epoch + 1, meanLoss, meanNLL, exp(meanNLL), lr,
                                   Double(interval.tokens) / seconds, formatDuration(elapsed)))
                }
                interval = (0, 0, 0, 0, 0, Date())
            }
            if progress.step % o.validEvery == 0 {
                try validate()
                if let patience = o.patience, progress.validationsWithoutImprovement >= patience {
                    stopReason = "no improvement of valid \(o.bestMetric.rawValue) in \(patience) validations"
                }
            }
            if progress.step % saveEvery == 0 { try saveCheckpoint() }
            if StopSignal.requested { stopReason = "stopped by signal" }
        }
        // The end: a final validation and checkpoint unless this step already had them.
        if lastValidatedStep != progress.step && progress.step > 0 { try validate() }
        if lastCheckpoint.map({ !$0.hasSuffix("-\(progress.step).safetensors") }) ?? true { try saveCheckpoint() }
        log.say("stopped: \(stopReason ?? "done") at step \(progress.step); last checkpoint \(lastCheckpoint ?? "-")")
        log.event("stop", ["step": progress.step, "reason": stopReason ?? "done", "elapsed_s": Date().timeIntervalSince(started)])
        return TrainingSummary(steps: progress.step, epochs: progress.epoch, lastCheckpoint: lastCheckpoint, bestCheckpoint: bestCheckpoint,
                               stoppedBecause: stopReason ?? "done", trainLosses: lossHistory)
    }

    private func makeBatch(_ indices: [Int], corpus: ParallelCorpus, encoder: inout BPEEncoder, rng: inout RandomGenerator, maxLength: Int) -> Batch {
        if options.bpeDropout > 0, let sources = corpus.sourceText, let targets = corpus.targetText {
            return Batch(pairs: indices.map { i in
                (source: Array(encoder.encode(sources[i], dropout: options.bpeDropout, rng: &rng).prefix(maxLength)),
                 target: Array(encoder.encode(targets[i], dropout: options.bpeDropout, rng: &rng).prefix(maxLength)))
            })
        }
        return Batch(pairs: indices.map { (source: Array(corpus.source($0)), target: Array(corpus.target($0))) })
    }

    private func eta(elapsed: Double, progress: TrainingProgress) -> String {
        var remaining: [Double] = []
        if let m = options.maxSteps, progress.step > 0 { remaining.append(elapsed / Double(max(progress.step, 1)) * Double(max(m - progress.step, 0))) }
        if let minutes = options.maxMinutes { remaining.append(max(minutes * 60 - elapsed, 0)) }
        guard let best = remaining.min() else { return "" }
        return " | ETA " + formatDuration(best)
    }

    /// Keeps the newest `keepLast` numbered checkpoints (and their state files).
    private func pruneCheckpoints() throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let steps = files.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors"), !name.hasSuffix(".state.safetensors") else { return nil }
            return Int(name.dropFirst("checkpoint-".count).dropLast(".safetensors".count))
        }.sorted()
        for step in steps.dropLast(options.keepLast) {
            let path = checkpointPath(String(step))
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: TrainingStateFile.path(forCheckpoint: path))
        }
    }
}

/// Makes `destination` name the same file as `source`, atomically (hard link, then rename).
func replaceAtomically(link source: String, as destination: String) throws {
    let temporary = destination + ".tmp-link-\(getpid())"
    unlink(temporary)
    if Foundation.link(source, temporary) != 0 {
        // No hard links here: copy instead.
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
    }
    guard rename(temporary, destination) == 0 else {
        unlink(temporary)
        throw NMTError("cannot write \(destination): \(String(cString: strerror(errno)))")
    }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// The first field where two configs differ, as "field: a vs b".
func firstDifference(_ a: TransformerConfig, _ b: TransformerConfig) -> String? {
    let pairs: [(String, String, String)] = [
        ("vocabularySize", "\(a.vocabularySize)", "\(b.vocabularySize)"), ("dModel", "\(a.dModel)", "\(b.dModel)"),
        ("ffnDim", "\(a.ffnDim)", "\(b.ffnDim)"), ("heads", "\(a.heads)", "\(b.heads)"),
        ("encoderLayers", "\(a.encoderLayers)", "\(b.encoderLayers)"), ("decoderLayers", "\(a.decoderLayers)", "\(b.decoderLayers)"),
        ("dropout", "\(a.dropout)", "\(b.dropout)"), ("attentionDropout", "\(a.attentionDropout)", "\(b.attentionDropout)"),
        ("activationDropout", "\(a.activationDropout)", "\(b.activationDropout)"), ("maxPositions", "\(a.maxPositions)", "\(b.maxPositions)"),
        ("preNorm", "\(a.preNorm)", "\(b.preNorm)"), ("activation", a.activation.rawValue, b.activation.rawValue),
    ]
    return pairs.first { $0.1 != $0.2 }.map { "\($0.0): \($0.1) in the checkpoint vs \($0.2) in the options" }
}
