// TransformerConfig: every hyper-parameter of the encoder–decoder, as one value type.
// Presets bundle the paper's recipes (Vaswani et al. 2017, Table 3) plus a CPU-sized `tiny`.

public struct TransformerConfig: Codable, Equatable, Sendable {
    public var vocabularySize: Int
    public var dModel: Int
    public var ffnDim: Int
    public var heads: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    /// Residual dropout, applied to each sub-layer's output before the residual add (and to embeddings).
    public var dropout: Float
    public var attentionDropout: Float
    /// Dropout after the feed-forward activation.
    public var activationDropout: Float
    public var maxPositions: Int
    /// true: x + F(LN(x)) with a final LayerNorm per stack; false: LN(x + F(x)) as in the paper.
    public var preNorm: Bool
    public var activation: Activation
    /// One embedding for source and target (a joint vocabulary); false: the encoder has its own,
    /// over `sourceVocabularySize` tokens (Marian's separate vocabularies, or tied-embeddings without -all).
    public var sharedEmbeddings: Bool
    /// The output projection is the target embedding (logits = h·Eᵀ); false: a matrix of its own
    /// (Marian's decoder_ff_logit_out_W without tied-embeddings).
    public var tiedOutput = true
    /// The source vocabulary's size when it is not the target's (nil: `vocabularySize`).
    public var sourceVocabularySize: Int?
    /// A LayerNorm over each stack's input embeddings (Marian's transformer-postprocess-emb n),
    /// after their dropout.
    public var embeddingNorm = false
    /// LayerNorm's ε: 1e-5 as PyTorch and fairseq (nmt's own models), 1e-6 for Marian's.
    public var layerNormEpsilon: Float = 1e-5
    /// A bias added to the output projection's logits (Marian's decoder_ff_logit_out_b).
    public var outputBias = false
    /// The beam search `nmt translate` runs by default: nmt's (fairseq's) or Marian's.
    public var search = SearchStyle.nmt
    /// Tokens the model never produces (an imported model's <pad> and <s>, which its own
    /// vocabulary lacks: their logits sit at −10⁴); label smoothing gives them no share.
    public var absentTokens: [Int32] = []
    /// The cross-attention word alignments are read from (`nmt translate --alignments`): decoder
    /// layer `alignmentLayer` (0-based; nil: the last), head `alignmentHead` (nil: the heads'
    /// average). Marian reports head 0 of its transformer-guided-alignment-layer; imported
    /// models say so here.
    public var alignmentLayer: Int? = nil
    public var alignmentHead: Int? = nil

    /// How a beam search treats finished hypotheses (SearchOptions; BeamSearch.swift).
    public enum SearchStyle: String, Codable, Sendable, CaseIterable {
        /// fairseq's: 2·beam candidates per step, so the beam stays full; </s> forced at the maximum length.
        case nmt
        /// Marian's: beam candidates per step; a finished hypothesis leaves the beam, which shrinks.
        case marian
    }

    public init(vocabularySize: Int, dModel: Int, ffnDim: Int, heads: Int, encoderLayers: Int, decoderLayers: Int,
                dropout: Float = 0.1, attentionDropout: Float = 0, activationDropout: Float = 0,
                maxPositions: Int = 1024, preNorm: Bool = true, activation: Activation = .relu, sharedEmbeddings: Bool = true) {
        self.vocabularySize = vocabularySize
        self.dModel = dModel
        self.ffnDim = ffnDim
        self.heads = heads
        self.encoderLayers = encoderLayers
        self.decoderLayers = decoderLayers
        self.dropout = dropout
        self.attentionDropout = attentionDropout
        self.activationDropout = activationDropout
        self.maxPositions = maxPositions
        self.preNorm = preNorm
        self.activation = activation
        self.sharedEmbeddings = sharedEmbeddings
    }

    // The JSON of a model file: the fields that came later are written only when they differ from
    // their defaults, so the files of every model that does not use them stay byte-identical.
    private enum CodingKeys: String, CodingKey {
        case vocabularySize, dModel, ffnDim, heads, encoderLayers, decoderLayers, dropout, attentionDropout, activationDropout, maxPositions
        case preNorm, activation, sharedEmbeddings, layerNormEpsilon, outputBias, search, absentTokens
        case tiedOutput, sourceVocabularySize, embeddingNorm, alignmentLayer, alignmentHead
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vocabularySize: try c.decode(Int.self, forKey: .vocabularySize), dModel: try c.decode(Int.self, forKey: .dModel),
                  ffnDim: try c.decode(Int.self, forKey: .ffnDim), heads: try c.decode(Int.self, forKey: .heads),
                  encoderLayers: try c.decode(Int.self, forKey: .encoderLayers), decoderLayers: try c.decode(Int.self, forKey: .decoderLayers),
                  dropout: try c.decode(Float.self, forKey: .dropout), attentionDropout: try c.decode(Float.self, forKey: .attentionDropout),
                  activationDropout: try c.decode(Float.self, forKey: .activationDropout), maxPositions: try c.decode(Int.self, forKey: .maxPositions),
                  preNorm: try c.decode(Bool.self, forKey: .preNorm), activation: try c.decode(Activation.self, forKey: .activation),
                  sharedEmbeddings: try c.decode(Bool.self, forKey: .sharedEmbeddings))
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? layerNormEpsilon
        outputBias = try c.decodeIfPresent(Bool.self, forKey: .outputBias) ?? outputBias
        search = try c.decodeIfPresent(SearchStyle.self, forKey: .search) ?? search
        absentTokens = try c.decodeIfPresent([Int32].self, forKey: .absentTokens) ?? absentTokens
        tiedOutput = try c.decodeIfPresent(Bool.self, forKey: .tiedOutput) ?? tiedOutput
        sourceVocabularySize = try c.decodeIfPresent(Int.self, forKey: .sourceVocabularySize)
        embeddingNorm = try c.decodeIfPresent(Bool.self, forKey: .embeddingNorm) ?? embeddingNorm
        alignmentLayer = try c.decodeIfPresent(Int.self, forKey: .alignmentLayer)
        alignmentHead = try c.decodeIfPresent(Int.self, forKey: .alignmentHead)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabularySize, forKey: .vocabularySize); try c.encode(dModel, forKey: .dModel); try c.encode(ffnDim, forKey: .ffnDim)
        try c.encode(heads, forKey: .heads); try c.encode(encoderLayers, forKey: .encoderLayers); try c.encode(decoderLayers, forKey: .decoderLayers)
        try c.encode(dropout, forKey: .dropout); try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(activationDropout, forKey: .activationDropout); try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(preNorm, forKey: .preNorm); try c.encode(activation, forKey: .activation); try c.encode(sharedEmbeddings, forKey: .sharedEmbeddings)
        if layerNormEpsilon != 1e-5 { try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon) }
        if outputBias { try c.encode(outputBias, forKey: .outputBias) }
        if search != .nmt { try c.encode(search, forKey: .search) }
        if !absentTokens.isEmpty { try c.encode(absentTokens, forKey: .absentTokens) }
        if !tiedOutput { try c.encode(tiedOutput, forKey: .tiedOutput) }
        if let sourceVocabularySize { try c.encode(sourceVocabularySize, forKey: .sourceVocabularySize) }
        if embeddingNorm { try c.encode(embeddingNorm, forKey: .embeddingNorm) }
        if let alignmentLayer { try c.encode(alignmentLayer, forKey: .alignmentLayer) }
        if let alignmentHead { try c.encode(alignmentHead, forKey: .alignmentHead) }
    }

    public enum Preset: String, CaseIterable, Codable, Sendable {
        case tiny, base, big
    }

    /// tiny: 256/1024/4 heads/3+3; base: 512/2048/8/6+6 (the paper's); big: 1024/4096/16/6+6 (dropout 0.3).
    public static func preset(_ preset: Preset, vocabularySize: Int) -> TransformerConfig {
        switch preset {
        case .tiny:
            return TransformerConfig(vocabularySize: vocabularySize, dModel: 256, ffnDim: 1024, heads: 4, encoderLayers: 3, decoderLayers: 3)
        case .base:
            return TransformerConfig(vocabularySize: vocabularySize, dModel: 512, ffnDim: 2048, heads: 8, encoderLayers: 6, decoderLayers: 6)
        case .big:
            return TransformerConfig(vocabularySize: vocabularySize, dModel: 1024, ffnDim: 4096, heads: 16, encoderLayers: 6, decoderLayers: 6,
                                     dropout: 0.3)
        }
    }

    public var headDim: Int { dModel / heads }

    /// Tokens of the source vocabulary (the encoder's embedding rows).
    public var sourceVocabulary: Int { sourceVocabularySize ?? vocabularySize }

    /// Checks the config is usable; the message names the field.
    public func validate() throws {
        func fail(_ message: String) -> NMTError { NMTError("invalid model config: \(message)") }
        guard vocabularySize > Int(Vocabulary.endOfSentence) else { throw fail("vocabularySize \(vocabularySize) is too small") }
        guard dModel > 0, heads > 0, dModel % heads == 0 else { throw fail("dModel \(dModel) must be a positive multiple of heads \(heads)") }
        guard dModel % 2 == 0 else { throw fail("dModel \(dModel) must be even (sinusoidal positions)") }
        guard ffnDim > 0 else { throw fail("ffnDim must be positive") }
        guard encoderLayers >= 1, decoderLayers >= 1 else { throw fail("encoderLayers and decoderLayers must be at least 1") }
        for (name, p) in [("dropout", dropout), ("attentionDropout", attentionDropout), ("activationDropout", activationDropout)] {
            guard p >= 0 && p < 1 else { throw fail("\(name) \(p) must be in [0, 1)") }
        }
        guard maxPositions >= 2, maxPositions <= Self.maxPositionsLimit else { throw fail("maxPositions \(maxPositions) must be in [2, \(Self.maxPositionsLimit)]") }
        if let sourceVocabularySize {
            guard !sharedEmbeddings else { throw fail("sourceVocabularySize needs sharedEmbeddings false (one embedding has one vocabulary)") }
            guard sourceVocabularySize > Int(Vocabulary.endOfSentence) else { throw fail("sourceVocabularySize \(sourceVocabularySize) is too small") }
        }
        guard absentTokens.allSatisfy({ $0 >= 0 && Int($0) < vocabularySize }) else { throw fail("absentTokens \(absentTokens) must be ids below vocabularySize \(vocabularySize)") }
        if let alignmentLayer, !(0..<decoderLayers).contains(alignmentLayer) { throw fail("alignmentLayer \(alignmentLayer) must be in [0, \(decoderLayers))") }
        if let alignmentHead, !(0..<heads).contains(alignmentHead) { throw fail("alignmentHead \(alignmentHead) must be in [0, \(heads))") }
        guard layerNormEpsilon.isFinite && layerNormEpsilon > 0 && layerNormEpsilon < 1 else { throw fail("layerNormEpsilon \(layerNormEpsilon) must be in (0, 1)") }
    }

    /// The longest sequence any model may be built for (its position table is maxPositions × dModel).
    public static let maxPositionsLimit = 1 << 20

    /// Parameters (without building the model; Double so hostile sizes cannot overflow): the
    /// embeddings, and per layer its attention and feed-forward matrices with biases and norms.
    public var parameterEstimate: Int {
        let d = Double(dModel), f = Double(ffnDim), v = Double(vocabularySize)
        let attention = 4 * d * d + 4 * d, feedForward = 2 * d * f + d + f, norm = 2 * d
        let embeddings = v * d + (sharedEmbeddings ? 0 : Double(sourceVocabulary) * d) + (tiedOutput ? 0 : v * d) + (outputBias ? v : 0)
            + (embeddingNorm ? 2 * norm : 0)
        let total = embeddings + Double(encoderLayers) * (attention + feedForward + 2 * norm)
            + Double(decoderLayers) * (2 * attention + feedForward + 3 * norm) + 2 * norm
        return total < 9e18 ? Int(total) : Int.max
    }

    /// Bytes a training run needs, roughly: weights, gradients and Adam's two moments (4 × 4 bytes
    /// per parameter), the position table, and the activations a batch of `maxTokens` target tokens
    /// keeps for the backward pass (measured: tiny at 4,096 tokens ≈ 0.6 GB, base ≈ 2.2 GB).
    public func trainingMemoryEstimate(maxTokens: Int) -> Double {
        let d = Double(dModel), f = Double(ffnDim)
        let perToken = 12 * d * Double(encoderLayers + 2 * decoderLayers) + 2 * f * Double(encoderLayers + decoderLayers)
        return 16 * Double(parameterEstimate) + 4 * Double(maxPositions) * d + 4 * Double(maxTokens) * perToken + 64e6
    }
}
