// TrainingOptions: everything `nmt train` is told, in one Codable value — the CLI maps its flags
// onto it, `--config run.yaml` fills it from a file (keys are the flag names), and every run
// directory keeps the resolved value as config.yaml. Defaults are the Transformer paper's recipe
// (Adam 0.9/0.98/1e-9, inverse-sqrt schedule with warmup, label smoothing 0.1); the model and the
// learning rate follow the preset unless given. Fine-tuning (`init`) takes the architecture from
// the model it starts from, and the `finetune` preset's low learning rate unless told otherwise.

import Foundation

public struct TrainingOptions: Codable, Equatable, Sendable {
    // Data
    public var trainSource = ""
    public var trainTarget = ""
    /// How often train-src/train-tgt's pairs are drawn per epoch, against `corpora`'s weights.
    public var trainWeight = 1.0
    /// More training corpora, each drawn `weight` times per epoch (a fraction: a random part of it
    /// each epoch), its source lines prefixed with `tag` if given — tagged back-translation
    /// (Caswell et al. 2019).
    public var corpora: [Corpus] = []
    /// Word alignments of train-src/train-tgt (Moses format, a line per pair) that one
    /// cross-attention head learns (Garg et al. 2019; Marian's --guided-alignment).
    public var guidedAlignment: String?
    /// λ: the alignment loss's weight against the token cross-entropy (Marian's default).
    public var guidedAlignmentWeight = 0.1
    /// The decoder layer (1-based) whose head 0 learns the alignments (nil: the last, Marian's
    /// --transformer-guided-alignment-layer).
    public var guidedAlignmentLayer: Int?
    public var validSource: String?
    public var validTarget: String?
    public var bpeCodes: String?
    public var bpeMerges = 8000
    public var bpeDropout = 0.0
    public var maxLength = 256
    public var maxLengthRatio = 4.0
    // Model: the preset (nil: tiny, or finetune with `initFrom`), and any field of it overridden (nil: the preset's)
    public var preset: Preset?
    public var dModel: Int?
    public var ffnDim: Int?
    public var heads: Int?
    public var encoderLayers: Int?
    public var decoderLayers: Int?
    public var dropout: Float?
    public var attentionDropout: Float?
    public var activationDropout: Float?
    public var maxPositions: Int?
    public var preNorm = true
    public var activation = Activation.relu
    // Batching
    public var maxTokens = 4096
    public var updateFrequency = 1
    public var seed: UInt64 = 1
    // Objective and optimizer (lr and warmup: nil is the preset's)
    public var labelSmoothing: Float = 0.1
    public var lr: Double?
    public var warmupSteps: Int?
    public var warmupInitLR = 1e-7
    public var schedule = LearningRateSchedule.inverseSqrt
    public var adamBetas: [Float] = [0.9, 0.98]
    public var adamEpsilon: Float = 1e-9
    public var weightDecay: Float = 0
    public var clipNorm = 0.0
    /// The matrix products of training (nil: fp32). Checkpoints are float32 either way.
    public var precision: MatrixPrecision?
    // Validation and checkpoints
    public var validEvery = 500
    public var validBeam = 1
    public var validMaxSentences: Int?
    public var patience: Int?
    public var bestMetric = BestMetric.loss
    public var outputDirectory = "runs/model"
    public var saveEvery: Int?
    public var keepLast = 5
    public var resume: String?
    public var resetOptimizer = false
    /// Fine-tuning: the model whose weights, architecture and tokenizer a new run starts from.
    public var initFrom: String?
    /// Parts whose weights stay as they are.
    public var freeze: [FrozenPart] = []
    // Stopping, progress, threads (none of the three: at most 100 epochs)
    public var maxSteps: Int?
    public var maxEpochs: Int?
    public var maxMinutes: Double?
    public var logEvery = 50
    public var threads: Int?

    public init() {}

    public enum BestMetric: String, CaseIterable, Codable, Sendable { case loss, bleu }

    /// A training corpus beside train-src/train-tgt.
    public struct Corpus: Codable, Equatable, Sendable {
        public var src: String
        public var tgt: String
        public var weight: Double?
        public var tag: String?
        public init(src: String, tgt: String, weight: Double? = nil, tag: String? = nil) {
            (self.src, self.tgt, self.weight, self.tag) = (src, tgt, weight, tag)
        }

        /// "SRC,TGT[,WEIGHT[,TAG]]", as `--corpus` takes it.
        public init(argument: String) throws {
            let fields = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard (2...4).contains(fields.count), !fields[0].isEmpty, !fields[1].isEmpty else {
                throw NMTError("--corpus '\(argument)' must be SRC,TGT[,WEIGHT[,TAG]]")
            }
            var weight: Double? = nil
            if fields.count > 2 {
                guard let w = Double(fields[2]) else { throw NMTError("--corpus '\(argument)': weight '\(fields[2])' is not a number") }
                weight = w
            }
            self.init(src: fields[0], tgt: fields[1], weight: weight, tag: fields.count > 3 ? fields[3] : nil)
        }
    }

    /// A model size and its learning-rate schedule, or `finetune`: a schedule for a model given
    /// with `initFrom` (whose architecture stays).
    public enum Preset: String, CaseIterable, Codable, Sendable {
        case tiny, base, big, finetune
        /// The architecture it names (finetune: none, the model's).
        public var architecture: TransformerConfig.Preset? { TransformerConfig.Preset(rawValue: rawValue) }
    }

    /// What `freeze` can hold still: the embeddings and the output projection's weights, the
    /// encoder (its layers, and its own embedding if it has one), the decoder's layers.
    public enum FrozenPart: String, CaseIterable, Codable, Sendable {
        case embeddings, encoder, decoder
        /// Whether parameter `name` belongs to this part.
        public func contains(_ name: String) -> Bool {
            switch self {
            case .embeddings: return name.hasSuffix("embed_tokens.weight") || name == "output_projection.weight"
            case .encoder: return name.hasPrefix("encoder.")
            case .decoder: return name.hasPrefix("decoder.")
            }
        }
    }

    /// The preset in effect: the given one, else finetune with `initFrom`, else tiny.
    public var effectivePreset: Preset { preset ?? (initFrom == nil ? .tiny : .finetune) }

    /// The option names, as flags (`--max-tokens`) and as config-file keys (`max-tokens`).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case trainSource = "train-src", trainTarget = "train-tgt", trainWeight = "train-weight", corpora = "corpus"
        case guidedAlignment = "guided-alignment", guidedAlignmentWeight = "guided-alignment-weight", guidedAlignmentLayer = "guided-alignment-layer"
        case validSource = "valid-src", validTarget = "valid-tgt"
        case bpeCodes = "bpe", bpeMerges = "bpe-merges", bpeDropout = "bpe-dropout", maxLength = "max-len", maxLengthRatio = "max-len-ratio"
        case preset, dModel = "d-model", ffnDim = "ffn-dim", heads, encoderLayers = "encoder-layers", decoderLayers = "decoder-layers"
        case dropout, attentionDropout = "attention-dropout", activationDropout = "activation-dropout", maxPositions = "max-positions"
        case preNorm = "pre-norm", activation
        case maxTokens = "max-tokens", updateFrequency = "update-freq", seed
        case labelSmoothing = "label-smoothing", lr, warmupSteps = "warmup-steps", warmupInitLR = "warmup-init-lr", schedule = "lr-schedule"
        case adamBetas = "adam-betas", adamEpsilon = "adam-eps", weightDecay = "weight-decay", clipNorm = "clip-norm", precision
        case validEvery = "valid-every", validBeam = "valid-beam", validMaxSentences = "valid-max-sentences", patience
        case bestMetric = "best-metric", outputDirectory = "out", saveEvery = "save-every", keepLast = "keep-last"
        case resume, resetOptimizer = "reset-optimizer", initFrom = "init", freeze
        case maxSteps = "max-steps", maxEpochs = "max-epochs", maxMinutes = "max-time", logEvery = "log-every", threads
    }

    /// An option as the user writes it on the command line (`--max-tokens`): the one table library
    /// messages name training options through.
    public static func flag(_ key: CodingKeys) -> String { "--" + key.rawValue }

    /// Options a resumed run may change: when and how long to train, validate, save and log, and
    /// where it resumes from. Everything else must match the run's config for an exact continuation.
    public static let changeableOnResume: Set<CodingKeys> = [
        .validSource, .validTarget, .validEvery, .validBeam, .validMaxSentences, .patience, .saveEvery, .keepLast,
        .resume, .resetOptimizer, .maxSteps, .maxEpochs, .maxMinutes, .logEvery, .threads, .outputDirectory, .precision,
    ]

    /// Peak learning rate and warmup of each preset: small models take a higher peak and a short
    /// warmup; fine-tuning a low peak after a short warmup (OPUS-CAT fine-tunes at 2e-5).
    public static func schedule(of preset: Preset) -> (lr: Double, warmupSteps: Int) {
        switch preset {
        case .tiny: return (2e-3, 300)
        case .base: return (7e-4, 4000)
        case .big: return (5e-4, 4000)
        case .finetune: return (1e-4, 400)
        }
    }

    /// The model these options describe (the vocabulary size comes from the tokenizer). With
    /// `initial`, the config of the model fine-tuning starts from: only the dropouts given change.
    /// With guided alignment, the model reads its alignments from the head that learns them.
    public func modelConfig(vocabularySize: Int, initial: TransformerConfig? = nil) -> TransformerConfig {
        if var c = initial {
            if let v = dropout { c.dropout = v }
            if let v = attentionDropout { c.attentionDropout = v }
            if let v = activationDropout { c.activationDropout = v }
            setAlignmentHead(&c)
            return c
        }
        var c = TransformerConfig.preset(effectivePreset.architecture ?? .tiny, vocabularySize: vocabularySize)
        if let v = dModel { c.dModel = v }
        if let v = ffnDim { c.ffnDim = v }
        if let v = heads { c.heads = v }
        if let v = encoderLayers { c.encoderLayers = v }
        if let v = decoderLayers { c.decoderLayers = v }
        if let v = dropout { c.dropout = v }
        if let v = attentionDropout { c.attentionDropout = v }
        if let v = activationDropout { c.activationDropout = v }
        if let v = maxPositions { c.maxPositions = v }
        c.preNorm = preNorm
        c.activation = activation
        setAlignmentHead(&c)
        return c
    }

    /// Guided alignment trains head 0 of `guidedAlignmentLayer` (or of the layer an imported
    /// Marian model already aligns with, else of the last).
    private func setAlignmentHead(_ c: inout TransformerConfig) {
        guard guidedAlignment != nil else { return }
        if let layer = guidedAlignmentLayer {
            c.alignmentLayer = layer - 1
        } else if c.alignmentLayer == nil {
            c.alignmentLayer = c.decoderLayers - 1
        }
        c.alignmentHead = 0
    }

    /// Sets every model option to `config`'s value (the preset stays as the name of the recipe).
    public mutating func setModel(_ config: TransformerConfig) {
        (dModel, ffnDim, heads) = (config.dModel, config.ffnDim, config.heads)
        (encoderLayers, decoderLayers) = (config.encoderLayers, config.decoderLayers)
        (dropout, attentionDropout, activationDropout) = (config.dropout, config.attentionDropout, config.activationDropout)
        (maxPositions, preNorm, activation) = (config.maxPositions, config.preNorm, config.activation)
    }

    /// Takes the architecture of `config`, the model fine-tuning starts from; an architecture
    /// option given with another value is an error naming it. (The pre-norm and activation
    /// options are always set, so they are simply replaced.)
    public mutating func adoptArchitecture(of config: TransformerConfig, from path: String) throws {
        if let architecture = preset?.architecture {
            throw NMTError("\(TrainingOptions.flag(.preset)) \(architecture.rawValue) names an architecture; with \(TrainingOptions.flag(.initFrom)) the model's is kept (use \(TrainingOptions.flag(.preset)) finetune, or \(TrainingOptions.flag(.lr)) and \(TrainingOptions.flag(.warmupSteps)))")
        }
        let given: [(CodingKeys, Int?, Int)] = [(.dModel, dModel, config.dModel), (.ffnDim, ffnDim, config.ffnDim), (.heads, heads, config.heads),
                                                (.encoderLayers, encoderLayers, config.encoderLayers),
                                                (.decoderLayers, decoderLayers, config.decoderLayers), (.maxPositions, maxPositions, config.maxPositions)]
        for (key, ours, theirs) in given where ours != nil && ours != theirs {
            throw NMTError("\(TrainingOptions.flag(key)) \(ours!) differs from \(path)'s \(theirs): fine-tuning keeps the model's architecture")
        }
        let (keptDropout, keptAttention, keptActivation) = (dropout, attentionDropout, activationDropout)
        setModel(config)
        (dropout, attentionDropout, activationDropout) = (keptDropout ?? config.dropout, keptAttention ?? config.attentionDropout,
                                                          keptActivation ?? config.activationDropout)
    }

    /// The options with every default spelled out: model fields and schedule from the preset, and
    /// the 100-epoch limit when no limit is given. This is what a run records and compares.
    public func resolved() -> TrainingOptions {
        var o = self
        o.preset = effectivePreset
        if effectivePreset.architecture != nil { o.setModel(modelConfig(vocabularySize: 0)) }
        let presetSchedule = TrainingOptions.schedule(of: effectivePreset)
        o.lr = lr ?? presetSchedule.lr
        o.warmupSteps = warmupSteps ?? presetSchedule.warmupSteps
        if maxSteps == nil && maxEpochs == nil && maxMinutes == nil { o.maxEpochs = 100 }
        return o
    }

    public var learningRate: Double { lr ?? TrainingOptions.schedule(of: effectivePreset).lr }
    public var warmup: Int { warmupSteps ?? TrainingOptions.schedule(of: effectivePreset).warmupSteps }

    /// Checks every option (the training files only when `requireData`); the error names the
    /// option (as its flag) and the values it allows. Numbers go through `checkOption`, so NaN,
    /// infinities and sizes no machine could hold are refused before anything is computed. bf16
    /// products run on `bf16Backend` (users: native, which needs AVX512-BF16).
    public func validate(requireData: Bool = true, bf16Backend: BF16Backend = .native) throws {
        let flag = TrainingOptions.flag
        guard !requireData || (!trainSource.isEmpty && !trainTarget.isEmpty) else {
            throw NMTError("give the training data with --train PREFIX --src L1 --tgt L2, or \(flag(.trainSource)) FILE \(flag(.trainTarget)) FILE")
        }
        guard !outputDirectory.isEmpty else { throw NMTError("\(flag(.outputDirectory)) is empty: give the run's directory") }
        try checkOption(flag(.trainWeight), trainWeight, .closed(0, 1000))
        for corpus in corpora {
            guard !corpus.src.isEmpty && !corpus.tgt.isEmpty else { throw NMTError("\(flag(.corpora)): each corpus needs src and tgt files") }
            try checkOption(flag(.corpora) + " \(corpus.src) weight", corpus.weight, .closed(0, 1000))
            if let tag = corpus.tag, tag.isEmpty || tag.contains(where: \.isNewline) {
                throw NMTError("\(flag(.corpora)) \(corpus.src): a tag is a non-empty word, not '\(tag)'")
            }
        }
        guard trainWeight > 0 || corpora.contains(where: { ($0.weight ?? 1) > 0 }) else {
            throw NMTError("\(flag(.trainWeight)) 0 and no --corpus with a weight above 0: nothing to train on")
        }
        try checkOption(flag(.guidedAlignmentWeight), guidedAlignmentWeight, .above(0, upTo: 1000))
        if let layer = guidedAlignmentLayer {
            guard guidedAlignment != nil else { throw NMTError("\(flag(.guidedAlignmentLayer)) needs \(flag(.guidedAlignment)) FILE, the alignments to learn") }
            let layers = decoderLayers ?? modelConfig(vocabularySize: 0).decoderLayers
            try checkOption(flag(.guidedAlignmentLayer), layer, .closed(1, Double(layers)), "a decoder layer, 1 to \(layers)")
        }
        guard (validSource == nil) == (validTarget == nil) else { throw NMTError("\(flag(validSource == nil ? .validSource : .validTarget)) is missing: validation needs both sides") }
        let many = 1e9, positions = Double(TransformerConfig.maxPositionsLimit)
        try checkOption(flag(.bpeMerges), bpeMerges, .closed(1, 1e7))
        try checkOption(flag(.bpeDropout), bpeDropout, .halfOpen(0, 1))
        try checkOption(flag(.maxLength), maxLength, .closed(1, positions - 2))
        try checkOption(flag(.maxLengthRatio), maxLengthRatio, .above(0, upTo: many))
        try checkOption(flag(.dModel), dModel, .closed(2, 65536))
        try checkOption(flag(.ffnDim), ffnDim, .closed(1, 1_048_576))
        try checkOption(flag(.heads), heads, .closed(1, Double(dModel ?? 65536)))
        try checkOption(flag(.encoderLayers), encoderLayers, .closed(1, 1000))
        try checkOption(flag(.decoderLayers), decoderLayers, .closed(1, 1000))
        for (key, value) in [(CodingKeys.dropout, dropout), (.attentionDropout, attentionDropout), (.activationDropout, activationDropout)] {
            try checkOption(flag(key), value, .halfOpen(0, 1))
        }
        try checkOption(flag(.maxPositions), maxPositions, .closed(2, positions))
        try checkOption(flag(.maxTokens), maxTokens, .closed(1, 16_777_216))
        guard maxTokens >= maxLength + 1 else {
            throw NMTError("\(flag(.maxTokens)) \(maxTokens) is smaller than the longest allowed sentence (\(flag(.maxLength)) \(maxLength) + 1 for </s>)")
        }
        let config = modelConfig(vocabularySize: 0)
        guard maxLength + 2 <= config.maxPositions else {
            throw NMTError("\(flag(.maxLength)) \(maxLength) needs at least \(maxLength + 2) positions but the model has \(flag(.maxPositions)) \(config.maxPositions)")
        }
        var check = config
        check.vocabularySize = 100
        try check.validate()
        try checkOption(flag(.updateFrequency), updateFrequency, .closed(1, 4096))
        for (key, value) in [(CodingKeys.keepLast, keepLast), (.validEvery, validEvery), (.logEvery, logEvery),
                             (.saveEvery, saveEvery), (.validMaxSentences, validMaxSentences), (.patience, patience)] {
            try checkOption(flag(key), value, .closed(1, many))
        }
        try checkOption(flag(.validBeam), validBeam, .closed(1, 1024))
        try checkOption(flag(.threads), threads, .closed(1, 1024))
        for (key, value) in [(CodingKeys.maxSteps, maxSteps), (.maxEpochs, maxEpochs), (.warmupSteps, warmupSteps)] {
            try checkOption(flag(key), value, .closed(0, many))
        }
        try checkOption(flag(.maxMinutes), maxMinutes, .closed(0, many))
        try checkOption(flag(.labelSmoothing), labelSmoothing, .halfOpen(0, 1))
        try checkOption(flag(.lr), learningRate, .above(0, upTo: 100))
        try checkOption(flag(.warmupInitLR), warmupInitLR, .closed(0, 100))
        guard adamBetas.count == 2 else { throw NMTError("\(flag(.adamBetas)) takes two numbers in [0, 1), e.g. 0.9,0.98") }
        for beta in adamBetas { try checkOption(flag(.adamBetas), beta, .halfOpen(0, 1)) }
        try checkOption(flag(.adamEpsilon), adamEpsilon, .above(0, upTo: 1))
        try checkOption(flag(.weightDecay), weightDecay, .closed(0, 1000))
        try checkOption(flag(.clipNorm), clipNorm, .closed(0, many), "0: off")
        if precision == .bfloat16 && bf16Backend == .native && !BF16Backend.nativeAvailable {
            throw NMTError("\(flag(.precision)) bf16 needs a CPU with AVX512-BF16 (vdpbf16ps), which this one lacks; without it bf16 products are slower than fp32 ones — use \(flag(.precision)) fp32")
        }
        if resetOptimizer && resume == nil { throw NMTError("\(flag(.resetOptimizer)) needs \(flag(.resume)) FILE") }
        if initFrom != nil && resume != nil {
            throw NMTError("\(flag(.initFrom)) starts a new run and \(flag(.resume)) continues one; give one of them")
        }
        if initFrom != nil && bpeCodes != nil { throw NMTError("\(flag(.bpeCodes)) cannot be given with \(flag(.initFrom)): the model keeps its own tokenizer") }
        if effectivePreset == .finetune && initFrom == nil { throw NMTError("\(flag(.preset)) finetune needs \(flag(.initFrom)) MODEL, the model to fine-tune") }
        if Set(freeze).count == FrozenPart.allCases.count { throw NMTError("\(flag(.freeze)) \(freeze.map(\.rawValue).joined(separator: ",")) leaves nothing to train but the output bias") }
        // Sizes no machine here could hold fail now, not as an allocation trap minutes later.
        var sized = config
        sized.vocabularySize = bpeMerges + 1500  // merges + characters + bytes and specials, at most about this
        let needed = sized.trainingMemoryEstimate(maxTokens: maxTokens)
        var available = Double(ProcessInfo.processInfo.physicalMemory), whose = "this machine's"
        // A limit on the address space (ulimit -v) counts too; it also holds the libraries'
        // reservations: about 0.25 GB for the process, and 0.2 GB for each thread (OpenBLAS's
        // 128 MB buffer, a malloc arena, a stack; measured: 0.43 GB peak on 1 thread, 0.63 on 2).
        // OpenBLAS, refused its buffer, retries forever: a run must not start without room for it.
        let reserved = 2.5e8 + 2e8 * Double(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
           Double(limit.rlim_cur) - reserved < available {
            available = max(0, Double(limit.rlim_cur) - reserved)
            whose = "what the memory limit (ulimit -v \(String(format: "%.1f GB", Double(limit.rlim_cur) / 1e9))) leaves,"
        }
        func gigabytes(_ bytes: Double) -> String { String(format: "%.1f GB", bytes / 1e9) }
        guard needed <= available else {
            throw NMTError("the model (\(sized.parameterEstimate) parameters, \(flag(.dModel)) \(sized.dModel), \(flag(.ffnDim)) \(sized.ffnDim), \(sized.encoderLayers)+\(sized.decoderLayers) layers) with \(flag(.maxTokens)) \(maxTokens) needs about \(gigabytes(needed)) to train, more than \(whose) \(gigabytes(available))")
        }
    }

    /// Takes `saved`'s spelling of every file option that names the same file as ours
    /// (`./s.en` and `/home/me/s.en`), so a resume compares files, not spellings.
    public mutating func adoptSpelling(of saved: TrainingOptions) {
        func sameFile(_ a: String?, _ b: String?) -> Bool {
            guard let a, let b, a != b, let ra = realpath(a, nil), let rb = realpath(b, nil) else { return false }
            defer { free(ra); free(rb) }
            return strcmp(ra, rb) == 0
        }
        for (keyPath, _) in Self.inputFileOptions where sameFile(self[keyPath: keyPath], saved[keyPath: keyPath]) {
            self[keyPath: keyPath] = saved[keyPath: keyPath]
        }
    }

    /// Writes `ours`' spelling into every file option of these (saved) options whose file — as the
    /// saved run recorded it, resolved (`recorded`, by option) — is the file ours names: a resume
    /// from another working directory compares files, not spellings.
    public mutating func takeSpelling(of ours: TrainingOptions, forFilesRecordedAs recorded: [String: String]) {
        let current = ours.resolvedInputFiles
        for (keyPath, key) in Self.inputFileOptions {
            if let file = current[key.rawValue], recorded[key.rawValue] == file { self[keyPath: keyPath] = ours[keyPath: keyPath] }
        }
    }

    /// The options that name input files.
    static var inputFileOptions: [(WritableKeyPath<TrainingOptions, String?>, CodingKeys)] { [
        (\.trainSourceOption, .trainSource), (\.trainTargetOption, .trainTarget), (\.validSource, .validSource), (\.validTarget, .validTarget),
        (\.bpeCodes, .bpeCodes), (\.guidedAlignment, .guidedAlignment),
    ] }

    /// The input files as resolved absolute paths, by option (what a state file records).
    public var resolvedInputFiles: [String: String] {
        var out: [String: String] = [:]
        for (keyPath, key) in Self.inputFileOptions {
            guard let path = self[keyPath: keyPath], let r = realpath(path, nil) else { continue }
            out[key.rawValue] = String(cString: r)
            free(r)
        }
        return out
    }

    private var trainSourceOption: String? {
        get { trainSource }
        set { if let newValue { trainSource = newValue } }
    }
    private var trainTargetOption: String? {
        get { trainTarget }
        set { if let newValue { trainTarget = newValue } }
    }

    /// The first option among `keys` (in the order above) whose resolved value differs from
    /// `other`'s, as (option, our value, theirs).
    public func firstDifference(from other: TrainingOptions, among keys: Set<CodingKeys>) -> (key: CodingKeys, ours: String, theirs: String)? {
        let order = CodingKeys.allCases.filter { keys.contains($0) }.map(\.rawValue)
        guard let d = NMT.firstDifference(resolved(), other.resolved(), keys: order) else { return nil }
        return (CodingKeys(rawValue: d.key)!, d.a, d.b)
    }
}
