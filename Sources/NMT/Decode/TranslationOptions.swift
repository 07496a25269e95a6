// TranslationOptions: how a Translator searches and batches — beam, length penalty, n-best,
// maximum length, batch limits and search memory — checked against a model.

public struct TranslationOptions: Sendable {
    public var search = SearchOptions()
    /// Sentences per batch.
    public var batchSize = 32
    /// Source tokens per batch (padded: sentences × longest), instead of `batchSize`.
    public var maxTokens: Int? = nil
    /// Bytes of search state (self- and cross-attention caches) the batches being searched at
    /// once may hold, or nil for no bound. A worker whose next batch would exceed it waits for the
    /// others (a batch alone always runs): less memory for less parallelism. Batches are never
    /// changed by it, so neither are translations.
    public var searchMemory: Int? = nil
    /// Word alignments of every translation, in this format (the search records attention).
    public var alignments: AlignmentFormat? = nil {
        didSet { search.recordAttention = alignments != nil }
    }
    /// A lexical shortlist and how many of each source token's targets to take: each sentence's
    /// output is restricted to them (ShortlistedModel); nil: the whole vocabulary.
    public var shortlist: (table: Shortlist, size: Int)? = nil
    public init() {}

    /// The options for a loaded model as `nmt translate` and `nmt serve` choose them: what is
    /// given, else what the model file carries (an imported model's decoder.yml), else nmt's
    /// defaults (beam 5, α 1, max length 1.5·|x| + 10, the model's search style).
    public init(for loaded: LoadedModel, beam: Int? = nil, lengthPenalty: Double? = nil,
                lengthPenaltyStyle: LengthPenaltyStyle = .average, nbest: Int = 1,
                maxLengthA: Double? = nil, maxLengthB: Double? = nil, searchStyle: TransformerConfig.SearchStyle? = nil) {
        let defaults = loaded.translationDefaults ?? TranslationDefaults()
        search.style = searchStyle ?? loaded.model.config.search
        search.beam = beam ?? defaults.beam ?? 5
        search.lengthPenalty = lengthPenalty ?? defaults.lengthPenalty ?? 1
        search.lengthPenaltyStyle = lengthPenaltyStyle
        search.nbest = nbest
        search.maxLengthA = maxLengthA ?? defaults.maxLengthA ?? 1.5
        search.maxLengthB = maxLengthB ?? defaults.maxLengthB ?? 10
    }

    /// Sentences per batch, or source tokens with `maxTokens`.
    public var batchLimit: BatchLimit { maxTokens.map { .tokens($0) } ?? .sentences(batchSize) }

    /// The options as `nmt translate` (and the server) name them: the one table messages use.
    public enum Option: String, CaseIterable, Sendable {
        case beam, nbest, lengthPenalty = "length-penalty", maxLengthA = "max-len-a", maxLengthB = "max-len-b"
        case maxLengthRatio = "max-len-ratio", sampling, temperature, repetitionPenalty = "repetition-penalty"
        case noRepeatNgram = "no-repeat-ngram"
        case batchSize = "batch-size", maxTokens = "max-tokens", searchMemory = "max-search-memory"

        public var flag: String { "--" + rawValue }
    }

    /// Checks every option against `config`'s model (named as `nmt translate`'s flags): a beam no
    /// wider than the tokens the model can output, lengths and batch sizes that are finite and
    /// could be allocated.
    public func validate(for config: TransformerConfig) throws {
        let outputs = config.vocabularySize - Int(Vocabulary.firstByte)  // <pad>, <unk>, <s> are never output
        try checkOption(Option.beam.flag, search.beam, .closed(1, Double(max(outputs, 1))), "the tokens this model can output")
        if let sampling = search.sampling {
            try checkOption(Option.nbest.flag, search.nbest, .closed(1, 1000), "samples per line")
            if case .topK(let k) = sampling {
                try checkOption(Option.sampling.flag + " topk:", k, .closed(1, Double(max(outputs, 1))), "the tokens this model can output")
            }
        } else {
            try checkOption(Option.nbest.flag, search.nbest, .closed(1, Double(search.beam)), "at most the beam")
        }
        try checkOption(Option.temperature.flag, search.temperature, .above(0, upTo: 100))
        try checkOption(Option.repetitionPenalty.flag, search.repetition.penalty, .above(0, upTo: 100))
        try checkOption(Option.noRepeatNgram.flag, search.repetition.noRepeatNgram, .closed(0, Double(config.maxPositions)))
        try checkOption(Option.maxLengthRatio.flag, search.maxLengthRatio, .above(0, upTo: Double(config.maxPositions)))
        try checkOption(Option.lengthPenalty.flag, search.lengthPenalty, .closed(-100, 100))
        try checkOption(Option.maxLengthA.flag, search.maxLengthA, .closed(0, Double(config.maxPositions)))
        try checkOption(Option.maxLengthB.flag, search.maxLengthB, .closed(0, Double(config.maxPositions)))
        try checkOption(Option.batchSize.flag, batchSize, .closed(1, 1e6))
        try checkOption(Option.maxTokens.flag, maxTokens, .closed(1, 1e9))
        try checkOption(Option.searchMemory.flag, searchMemory.map { $0 >> 20 }, .closed(1, 1e9), "megabytes")
    }
}
