// Trainer: the `nmt train` run — checks everything before writing anything, builds or resumes
// the model, then a loop that only schedules: the next batches (`EpochBatches`), one update
// (`TrainingStep`), progress lines (`TrainingLog`), validation (`Validation`), checkpoints
// (`Checkpointer`), and the stopping rules. Resuming restores the model, Adam, the epoch position
// and the random generators, so the run continues exactly; the options it ran with are compared
// field by field first.

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
    /// The options with every default resolved.
    public let options: TrainingOptions
    let log: TrainingLog
    let checkpoints: Checkpointer
    /// Held from the moment the run directory exists until the run ends.
    private var lock: RunDirectoryLock?
    /// Loss of every update, for tests (resume equivalence).
    public private(set) var lossHistory: [(step: Int, loss: Double)] = []

    /// The ranks this run trains with (one process unless started by `mpirun`); only the leader
    /// (rank 0) writes into the run directory, logs and validates.
    public let world: Communicator
    /// Updates between checks that every rank holds the same parameters.
    public static let agreementInterval = 100

    /// What runs bf16 products (`--precision bf16`): native for users; tests choose the reference
    /// on CPUs without AVX512-BF16.
    let bf16Backend: BF16Backend

    public init(options: TrainingOptions, log: TrainingLog, world: Communicator = SingleProcess(), bf16Backend: BF16Backend = .native) {
        self.options = options.resolved()
        self.bf16Backend = bf16Backend
        self.log = log
        self.world = world
        if !world.isLeader { log.silence() }
        checkpoints = Checkpointer(directory: options.outputDirectory, keepLast: options.keepLast)
    }

    var directory: String { options.outputDirectory }

    /// What a run starts from once every check has passed.
    private struct Start {
        var options: TrainingOptions
        var resumed: Bool
        var model: Transformer
        var tokenizer: any Tokenizer
        var corpus: ParallelCorpus
        var validation: Validation?
        var adam: Adam
        var progress: TrainingProgress
        /// What checkpoints carry over from the file the weights came from.
        var metadata: [String: String]
    }

    public func run() throws -> TrainingSummary {
        // A run that cannot start leaves its directory as it found it: the files it made there
        // (lock, log, config) and the directories it created are removed again.
        let startFiles = [".lock", "log.jsonl", "config.yaml"].map { directory + "/" + $0 }
        let existing = Set(startFiles.filter { FileManager.default.fileExists(atPath: $0) })
        var createdDirectories: [String] = []
        func undoStart() {
            guard world.isLeader else { return }
            for path in startFiles where !existing.contains(path) { try? FileManager.default.removeItem(atPath: path) }
            for path in createdDirectories.reversed() { rmdir(path) }
        }
        // Every rank reads and checks the same files; a problem any rank finds stops all of them.
        var start: Start
        do { start = try world.agree { try prepare() } } catch { undoStart(); throw error }
        let o = start.options
        let model = start.model
        guard try world.allEqual(parameterChecksum(model, start.progress)) else {
            throw CollectiveError(message: "the ranks did not start from the same weights and position; \(flag(.outputDirectory)) \(directory) must be one directory every rank sees, and the data files the same on every machine")
        }
        if world.isLeader {
            do {
                createdDirectories = try RunDirectory.create(directory)
                if lock == nil {
                    try lockDirectory()
                    // Another run may have started and saved here since we looked.
                    if !start.resumed && checkpoints.hasLast {
                        throw NMTError("\(flag(.outputDirectory)) \(directory) received checkpoints from another run while this one started; run the command again to resume from them")
                    }
                }
                try log.open(directory: directory)
                try ConfigFile.write(o, to: directory + "/config.yaml")
            } catch {
                undoStart()
                throw error
            }
        }
        log.say("model: \(model.parameters.parameterCount) parameters (dModel \(model.config.dModel), \(model.config.encoderLayers)+\(model.config.decoderLayers) layers), " +
                (world.size > 1 ? "\(world.size) ranks × \(Threads.count) thread\(Threads.count == 1 ? "" : "s") (\(world.name))" : "\(Threads.count) threads"))
        let precision = o.precision ?? .float32
        if world.size > 1 { log.event("ranks", ["ranks": world.size, "threads_per_rank": Threads.count, "library": world.name, "parameters": model.parameters.count]) }

        let frozen = model.parameters.entries.filter { entry in o.freeze.contains { $0.contains(entry.name) } }
            .map { $0.offset..<($0.offset + $0.shape.reduce(1, *)) }
        let step = TrainingStep(model: model, adam: start.adam, dropout: DropoutSampler(config: model.config, seed: o.seed &+ 1),
                                labelSmoothing: o.labelSmoothing, alignmentWeight: o.guidedAlignment == nil ? 0 : Float(o.guidedAlignmentWeight), clipNorm: o.clipNorm, frozen: frozen, world: world, precision: precision,
                                backend: bf16Backend)
        log.say("precision \(precision.rawValue): \(step.compute.kernels)")
        log.event("precision", ["precision": precision.rawValue, "kernels": step.compute.kernels])
        let batches = EpochBatches(corpus: start.corpus, tokenizer: start.tokenizer, maxTokens: o.maxTokens, seed: o.seed, maxLength: o.maxLength,
                                   bpeDropout: o.bpeDropout, epoch: start.progress.epoch, rng: RandomGenerator(state: start.progress.bpeDropoutRng))
        return try loop(step: step, batches: batches, tokenizer: start.tokenizer, validation: start.validation, metadata: start.metadata,
                        progress: &start.progress)
    }

    /// Checks options and data, then builds or resumes the model, the optimizer and the position.
    /// Nothing is written; the leader takes the run directory's lock when the directory exists.
    private func prepare() throws -> Start {
        var o = options
        // Fine-tuning: the model to start from decides the architecture before options are checked.
        var initial: LoadedModel? = nil
        if let path = o.initFrom {
            let loaded = try ModelFile.load(path)
            if loaded.model.quantized != nil { throw NMTError("\(flag(.initFrom)) \(path) is quantized (int8); fine-tune its float32 original") }
            if loaded.nonFiniteWeights > 0 { throw NMTError("\(flag(.initFrom)) \(path) has \(loaded.nonFiniteWeights) weights that are NaN or infinite") }
            try o.adoptArchitecture(of: loaded.model.config, from: path)
            initial = loaded
        }
        try o.validate(bf16Backend: bf16Backend)
        Threads.set(o.threads ?? Trainer.defaultThreads(ranksOnThisMachine: world.localSize))
        for path in [o.trainSource, o.trainTarget] + o.corpora.flatMap({ [$0.src, $0.tgt] }) + [o.validSource, o.validTarget, o.guidedAlignment].compactMap({ $0 }) {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw NMTError("cannot open \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "No such file or directory")")
            }
        }
        // Data problems are found before anything is written.
        try checkAligned(o.trainSource, o.trainTarget)
        for corpus in o.corpora { try checkAligned(corpus.src, corpus.tgt) }
        if let path = o.guidedAlignment { try AlignmentLinks.check(path, sourcePath: o.trainSource, targetPath: o.trainTarget) }
        if let vs = o.validSource, let vt = o.validTarget { try checkAligned(vs, vt) }
        if world.isLeader {
            try RunDirectory.checkWritable(directory)
            if FileManager.default.fileExists(atPath: directory) { try lockDirectory() }
        }

        // What to resume from: an explicit file, or the run's last checkpoint.
        let resumeFrom = o.resume ?? (checkpoints.hasLast ? checkpoints.last : nil)
        let model: Transformer
        let tokenizer: any Tokenizer
        var resumedStep = 0
        // What checkpoints carry over from the file the weights came from (an imported model's
        // translation defaults, …).
        var carriedMetadata: [String: String] = [:]
        if let resumeFrom {
            let loaded = try ModelFile.load(resumeFrom)
            if loaded.nonFiniteWeights > 0 {
                throw NMTError("\(resumeFrom) has \(loaded.nonFiniteWeights) weights that are NaN or infinite; resume from an earlier checkpoint with \(flag(.resume)) FILE")
            }
            if let codes = o.bpeCodes {
                let given = try loadTokenizer(path: codes)
                guard given.vocabulary == loaded.tokenizer.vocabulary else {
                    throw NMTError("\(resumeFrom) was trained with a different vocabulary than \(flag(.bpeCodes)) \(codes)")
                }
            }
            let expected = o.modelConfig(vocabularySize: loaded.model.config.vocabularySize, initial: initial?.model.config)
            if let d = firstDifference(loaded.model.config, expected) {
                throw NMTError("\(resumeFrom) has a different model config than the options (\(d.key): \(d.a) in the checkpoint vs \(d.b) in the options)")
            }
            model = loaded.model
            tokenizer = loaded.tokenizer
            resumedStep = loaded.step
            if !o.resetOptimizer {
                let statePath = TrainingStateFile.path(forCheckpoint: resumeFrom)
                guard FileManager.default.fileExists(atPath: statePath) else {
                    throw NMTError("\(resumeFrom) has no training-state file \(statePath); use \(flag(.resetOptimizer)) to fine-tune from it")
                }
                let savedProgress = try TrainingStateFile.progress(statePath)
                guard savedProgress.step == loaded.step, savedProgress.modelChecksum.map({ $0 == loaded.model.parameters.checksum() }) ?? true else {
                    throw NMTError("\(resumeFrom) (step \(loaded.step)) and \(statePath) (step \(savedProgress.step)) are not from the same checkpoint"
                                   + "\(savedProgress.step == loaded.step ? ": the weights differ from those the state was saved with" : ""); "
                                   + "resume from a checkpoint with its own state file, or use \(flag(.resetOptimizer))")
                }
                var saved = savedProgress.options
                if let inputFiles = savedProgress.inputFiles {
                    saved?.takeSpelling(of: o, forFilesRecordedAs: inputFiles)  // the files it recorded, resolved, against ours
                } else if let saved {
                    o.adoptSpelling(of: saved)  // older state files: spellings resolved from here
                }
                try checkResumable(options: o, saved: saved, statePath: statePath)
            }
            carriedMetadata = ModelFile.userMetadata(loaded.metadata)
        } else if let initial {
            tokenizer = initial.tokenizer
            model = try Transformer(config: o.modelConfig(vocabularySize: initial.model.config.vocabularySize, initial: initial.model.config),
                                    parameters: initial.model.parameters)
            carriedMetadata = ModelFile.userMetadata(initial.metadata).merging(["fine_tuned_from": o.initFrom!]) { $1 }
            log.say("fine-tuning \(o.initFrom!): its architecture and tokenizer, a fresh optimizer, lr \(o.learningRate), warmup \(o.warmup)"
                    + (o.freeze.isEmpty ? "" : ", frozen: \(o.freeze.map(\.rawValue).joined(separator: ", "))"))
        } else {
            if let codes = o.bpeCodes {
                tokenizer = try loadTokenizer(path: codes)
            } else {
                let start = Date()
                let learned = try BPETokenizer.learn(files: [o.trainSource, o.trainTarget], merges: o.bpeMerges)
                log.say("learned a joint BPE of \(learned.merges.count) merges (vocabulary \(learned.vocabulary.count)) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
                tokenizer = learned
            }
            model = try Transformer(config: o.modelConfig(vocabularySize: tokenizer.vocabulary.count))
            model.initialize(seed: o.seed)
        }

        if o.bpeDropout > 0 && tokenizer.kind == .sentencePiece {
            throw NMTError("\(flag(.bpeDropout)) is not available with a SentencePiece tokenizer (its subword sampling is not implemented)")
        }

        // Data.
        let loadStart = Date()
        let specs = [TrainingOptions.Corpus(src: o.trainSource, tgt: o.trainTarget, weight: o.trainWeight)] + o.corpora
        var loadedCorpora: [(corpus: ParallelCorpus, name: String, weight: Double)] = []
        var stats = ParallelCorpus.Statistics()
        for (index, spec) in specs.enumerated() {
            // Guided alignment's links belong to train-src/train-tgt, the first corpus.
            let (part, partStats) = try ParallelCorpus.load(sourcePath: spec.src, targetPath: spec.tgt, tokenizer: tokenizer, maxLength: o.maxLength,
                                                            maxLengthRatio: o.maxLengthRatio, keepText: o.bpeDropout > 0, sourceTag: spec.tag,
                                                            alignmentPath: index == 0 ? o.guidedAlignment : nil)
            loadedCorpora.append((part, spec.src + "|" + spec.tgt + (spec.tag.map { " tag " + $0 } ?? ""), spec.weight ?? 1))
            (stats.lines, stats.kept, stats.empty) = (stats.lines + partStats.lines, stats.kept + partStats.kept, stats.empty + partStats.empty)
            (stats.tooLong, stats.badRatio) = (stats.tooLong + partStats.tooLong, stats.badRatio + partStats.badRatio)
        }
        let corpus = specs.count == 1 ? loadedCorpora[0].corpus : ParallelCorpus.combine(loadedCorpora)
        guard corpus.count > 0 else {
            throw NMTError("no training pairs left after filtering \(stats.lines) lines (\(stats.empty) empty, \(stats.tooLong) longer than \(flag(.maxLength)) \(o.maxLength), \(stats.badRatio) with a length ratio above \(o.maxLengthRatio))")
        }
        log.say("training data: \(stats.lines) pairs read, \(stats.kept) kept; dropped \(stats.empty) empty, \(stats.tooLong) longer than \(o.maxLength) tokens, \(stats.badRatio) with length ratio > \(o.maxLengthRatio) (\(String(format: "%.1f", Date().timeIntervalSince(loadStart))) s)")
        if specs.count > 1 {
            // Each corpus's share of an epoch's pairs.
            let drawn = corpus.parts.map { Double($0.range.count) * $0.weight }, total = max(drawn.reduce(0, +), 1)
            for (part, n) in zip(corpus.parts, drawn) {
                log.say("corpus \(part.name): \(part.range.count) pairs × weight \(part.weight) = \(String(format: "%.1f", 100 * n / total))% of an epoch")
            }
            log.event("corpora", ["corpora": corpus.parts.map { ["name": $0.name, "pairs": $0.range.count, "weight": $0.weight, "share": Double($0.range.count) * $0.weight / total] as [String: Any] }])
        }
        if let path = o.guidedAlignment {
            let c = model.config
            log.say("guided alignment: \(path) trains head \((c.alignmentHead ?? 0) + 1) of decoder layer \((c.alignmentLayer ?? c.decoderLayers - 1) + 1), weight \(o.guidedAlignmentWeight)")
        }
        var validation: Validation? = nil
        if let vs = o.validSource, let vt = o.validTarget {
            validation = try Validation(sourcePath: vs, targetPath: vt, tokenizer: tokenizer, maxLength: model.config.maxPositions - 2,
                                        maxSentences: o.validMaxSentences)
        }

        // Optimizer and where the run stands.
        let adam = Adam(count: model.parameters.count, beta1: o.adamBetas[0], beta2: o.adamBetas[1], epsilon: o.adamEpsilon, weightDecay: o.weightDecay)
        // The data and batching a resume must keep; files as resolved paths (older state files: as spelled).
        let inputFiles = o.resolvedInputFiles
        func fingerprint(resolved: Bool) -> String {
            let (source, target) = resolved ? (inputFiles["train-src"] ?? o.trainSource, inputFiles["train-tgt"] ?? o.trainTarget) : (o.trainSource, o.trainTarget)
            let parts = specs.count == 1 ? "" : "|corpora=" + corpus.parts.map { "\($0.name):\($0.range.count)×\($0.weight)" }.joined(separator: ",")
            return "train=\(source)|\(target)|pairs=\(corpus.count)|max-tokens=\(o.maxTokens)|seed=\(o.seed)|update-freq=\(o.updateFrequency)" + parts
        }
        var progress = TrainingProgress(dropoutRng: RandomGenerator(seed: o.seed &+ 1).state, bpeDropoutRng: RandomGenerator(seed: o.seed &+ 2).state,
                                        fingerprint: fingerprint(resolved: true), options: o)
        progress.inputFiles = inputFiles
        if let resumeFrom {
            let statePath = TrainingStateFile.path(forCheckpoint: resumeFrom)
            if o.resetOptimizer {
                log.say("fine-tuning from \(resumeFrom) (step \(resumedStep)) with a fresh optimizer")
                log.event("resume", ["from": resumeFrom, "step": resumedStep, "reset_optimizer": true])
            } else {
                let fresh = progress
                progress = try TrainingStateFile.load(statePath, into: adam)
                guard progress.fingerprint == fingerprint(resolved: progress.inputFiles != nil) else {
                    throw NMTError("\(statePath) was saved with other data or batching options (\(progress.fingerprint)); use \(flag(.resetOptimizer)) to fine-tune instead")
                }
                (progress.options, progress.inputFiles, progress.fingerprint) = (o, inputFiles, fresh.fingerprint)
                log.say("resuming from \(resumeFrom) at step \(progress.step) (epoch \(progress.epoch + 1), batch \(progress.batchInEpoch))")
                log.event("resume", ["from": resumeFrom, "step": progress.step, "epoch": progress.epoch])
            }
        }
        log.event("data", ["lines": stats.lines, "kept": stats.kept, "empty": stats.empty, "too_long": stats.tooLong, "bad_ratio": stats.badRatio])
        return Start(options: o, resumed: resumeFrom != nil, model: model, tokenizer: tokenizer, corpus: corpus, validation: validation,
                     adam: adam, progress: progress, metadata: carriedMetadata)
    }

    /// A resumed run continues only with the options it was saved with (except those that say
    /// when to stop, validate, save and log); the error names the first option that differs.
    /// (State files of nmt 0.1 have no options; their fingerprint is checked after loading.)
    private func checkResumable(options: TrainingOptions, saved before: TrainingOptions?, statePath: String) throws {
        guard let before else { return }
        let fixed = Set(TrainingOptions.CodingKeys.allCases).subtracting(TrainingOptions.changeableOnResume)
        if let d = options.firstDifference(from: before, among: fixed) {
            throw NMTError("cannot resume from \(statePath): \(flag(d.key)) is \(d.ours) now but was \(d.theirs) in that run; give the run's value, or \(flag(.resume)) FILE \(flag(.resetOptimizer)) to fine-tune instead")
        }
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

    /// Takes the run directory's lock, then removes temporary files left by crashed writers.
    private func lockDirectory() throws {
        lock = try RunDirectoryLock(directory: directory)
        let removed = TemporaryFiles.removeStale(in: directory)
        if !removed.isEmpty { log.say("removed \(removed.count) temporary file(s) left by an interrupted run: \(removed.joined(separator: ", "))") }
    }

    private func loop(step: TrainingStep, batches: EpochBatches, tokenizer: any Tokenizer, validation: Validation?,
                      metadata: [String: String], progress: inout TrainingProgress) throws -> TrainingSummary {
        let o = options
        let model = step.model
        StopSignal.install(quiet: !world.isLeader)
        let started = Date()
        var translation = TranslationOptions()
        translation.search.beam = o.validBeam
        translation.search.style = model.config.search
        translation.batchSize = 64
        var interval = TrainingLog.Interval()
        var lastCheckpoint: String? = nil
        var bestCheckpoint: String? = checkpoints.hasBest ? checkpoints.best : nil
        let saveEvery = o.saveEvery ?? o.validEvery
        var stopReason: String? = nil
        var lastValidatedStep = -1

        func limitsReached() -> String? {
            if let m = o.maxSteps, progress.step >= m { return "reached \(flag(.maxSteps)) \(m)" }
            if let e = o.maxEpochs, progress.epoch >= e { return "reached \(flag(.maxEpochs)) \(e)" }
            // The clock is the leader's alone, so every rank stops at the same update.
            if let minutes = o.maxMinutes, world.isLeader, Date().timeIntervalSince(started) >= minutes * 60 { return "reached \(flag(.maxMinutes)) \(minutes) minutes" }
            return nil
        }

        func savedThisStep() -> Bool { lastCheckpoint?.hasSuffix("-\(progress.step).safetensors") ?? false }

        func saveCheckpoint() throws {
            guard world.isLeader else { return }
            progress.dropoutRng = step.dropout.rng.state
            progress.bpeDropoutRng = batches.rng.state
            lastCheckpoint = try checkpoints.save(model: model, tokenizer: tokenizer, progress: progress, adam: step.adam, metadata: metadata)
            log.event("checkpoint", ["step": progress.step, "path": lastCheckpoint!])
        }

        func validate() throws {
            lastValidatedStep = progress.step
            guard let validation, world.isLeader else { return }
            let start = Date()
            let loss = validation.loss(model: model, labelSmoothing: o.labelSmoothing, maxTokens: o.maxTokens, arena: step.arena)
            let bleu = validation.bleu(translator: Translator(model: model, tokenizer: tokenizer, options: translation))
            let value = o.bestMetric == .loss ? loss.loss : -bleu
            var improved = false
            if progress.bestValue == nil || value < progress.bestValue! {
                progress.bestValue = value
                progress.bestStep = progress.step
                progress.validationsWithoutImprovement = 0
                improved = true
                try checkpoints.saveBest(model: model, tokenizer: tokenizer, step: progress.step, metadata: metadata)
                bestCheckpoint = checkpoints.best
            } else {
                progress.validationsWithoutImprovement += 1
            }
            log.validation(step: progress.step, epoch: progress.epoch, loss: loss, bleu: bleu, improved: improved,
                           withoutImprovement: progress.validationsWithoutImprovement, trainedSeconds: progress.trainedSeconds,
                           seconds: Date().timeIntervalSince(start))
        }

        /// Every rank holds the same parameters (checked every `agreementInterval` updates and at the end).
        func checkAgreement() throws {
            guard try world.allEqual(parameterChecksum(model, progress)) else {
                throw CollectiveError(message: "after step \(progress.step) the ranks' parameters differ; stopped\(lastGood(lastCheckpoint))")
            }
        }

        while true {
            // A reason to stop on any rank (a limit, patience, a signal) stops them all at this update.
            let reason = stopReason ?? limitsReached()
            if try world.any(reason != nil) { stopReason = reason ?? "stopped with the other ranks"; break }
            // Each update takes update-freq batches per rank; every rank holds the whole list.
            let update = batches.next(o.updateFrequency * world.size, progress: &progress, stopEpoch: o.maxEpochs) { epoch, step in
                log.event("epoch", ["epoch": epoch, "step": step])
            }
            if update.isEmpty { continue }
            let stepStart = Date()
            let lr = o.schedule.rate(step: progress.step + 1, lr: o.learningRate, warmup: o.warmup, warmupInitLR: o.warmupInitLR, dModel: model.config.dModel)
            let result = try step.run(update, lr: lr, update: progress.step + 1)
            if result.diverged {
                throw CollectiveError(message: "training diverged at step \(progress.step + 1): the \(result.lossSum.isFinite ? "gradient norm" : "loss") is \(describe(result.lossSum.isFinite ? result.gradientNorm : result.loss)); nothing of that step was applied or saved\(lastGood(lastCheckpoint)) (try a lower \(flag(.lr)), a longer \(flag(.warmupSteps)) or \(flag(.clipNorm)) 1)")
            }
            progress.step += 1
            progress.trainedSeconds += Date().timeIntervalSince(stepStart)
            lossHistory.append((progress.step, result.loss))
            interval.add(result)
            let elapsed = Date().timeIntervalSince(started)
            log.update(step: progress.step, epoch: progress.epoch, epochFraction: Double(progress.batchInEpoch) / Double(max(batches.batchesPerEpoch, 1)),
                       result: result, lr: lr, interval: &interval, elapsed: elapsed,
                       remaining: remainingSeconds(elapsed: elapsed, step: progress.step),
                       record: progress.step % o.logEvery == 0 || (o.maxSteps.map { progress.step >= $0 } ?? false))
            if progress.step % o.validEvery == 0 {
                try validate()
                if let patience = o.patience, progress.validationsWithoutImprovement >= patience {
                    stopReason = "no improvement of valid \(o.bestMetric.rawValue) in \(patience) validations"
                }
            }
            if progress.step % saveEvery == 0 { try saveCheckpoint() }
            if progress.step % Trainer.agreementInterval == 0 { try checkAgreement() }
            if StopSignal.requested { stopReason = "stopped by signal" }
            if log.writeError != nil {
                // Keep the work since the last checkpoint if the disk still takes it.
                if !savedThisStep() { try? saveCheckpoint() }
                try checkLogWritten(lastCheckpoint)
            }
        }
        // The end: a final validation and checkpoint unless this step already had them.
        try checkAgreement()
        if lastValidatedStep != progress.step && progress.step > 0 { try validate() }
        if !savedThisStep() { try saveCheckpoint() }
        log.say("stopped: \(stopReason ?? "done") at step \(progress.step); last checkpoint \(lastCheckpoint ?? "-")")
        log.event("stop", ["step": progress.step, "reason": stopReason ?? "done", "elapsed_s": Date().timeIntervalSince(started)])
        try checkLogWritten(lastCheckpoint)
        return TrainingSummary(steps: progress.step, epochs: progress.epoch, lastCheckpoint: lastCheckpoint, bestCheckpoint: bestCheckpoint,
                               stoppedBecause: stopReason ?? "done", trainLosses: lossHistory)
    }

    /// The cores this process may use: those it is bound to when `mpirun` bound it to fewer than
    /// the machine has, otherwise the machine's cores divided among the ranks placed on it.
    static func defaultThreads(ranksOnThisMachine ranks: Int) -> Int {
        let machine = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let available = ProcessInfo.processInfo.activeProcessorCount
        return available < machine ? available : max(1, machine / ranks)
    }

    /// A checksum of the parameters and the position in the data, to compare across ranks.
    private func parameterChecksum(_ model: Transformer, _ progress: TrainingProgress) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in [progress.step, progress.epoch, progress.batchInEpoch] { hash = (hash ^ UInt64(bitPattern: Int64(value))) &* 0x100_0000_01B3 }
        let values = model.parameters.values
        for i in 0..<model.parameters.count { hash = (hash ^ UInt64(values[i].bitPattern)) &* 0x100_0000_01B3 }
        return hash
    }

    /// nan / inf / -inf (never "-nan").
    private func describe(_ value: Double) -> String { value.isNaN ? "nan" : "\(value)" }

    /// ", the last good checkpoint is X" (or that there is none yet).
    private func lastGood(_ lastCheckpoint: String?) -> String {
        if let path = lastCheckpoint ?? (checkpoints.hasLast ? checkpoints.last : nil) { return "; the last good checkpoint is \(path)" }
        return "; no checkpoint was saved yet"
    }

    /// A log.jsonl that could not be written (full disk, file-size limit) stops the run with one line.
    private func checkLogWritten(_ lastCheckpoint: String?) throws {
        if let error = log.writeError { throw NMTError("\(error.message); training stopped\(lastGood(lastCheckpoint))") }
    }

    /// Seconds left under --max-steps or --max-time, whichever ends first (nil: no such limit).
    private func remainingSeconds(elapsed: Double, step: Int) -> Double? {
        var remaining: [Double] = []
        if let m = options.maxSteps, step > 0 { remaining.append(elapsed / Double(max(step, 1)) * Double(max(m - step, 0))) }
        if let minutes = options.maxMinutes { remaining.append(max(minutes * 60 - elapsed, 0)) }
        return remaining.min()
    }
}

/// An option as users write it (the one table: TrainingOptions.CodingKeys).
private func flag(_ key: TrainingOptions.CodingKeys) -> String { TrainingOptions.flag(key) }
