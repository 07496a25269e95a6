// TransformerWeights: the model's structure over a ParameterStore buffer (values or gradients),
// with fairseq's tensor names. Linear weights are [out, in] as in PyTorch; the layers read them
// as `WeightMatrix` (Float32 views of the buffer here; packed or int8 for decoding).

public struct LinearWeights {
    public var weight: WeightMatrix  // [out, in]
    public var bias: Tensor          // [out]
}

public struct NormWeights {
    public var weight: Tensor  // [C]
    public var bias: Tensor    // [C]
    /// ε of the variance (the model's config).
    public var epsilon: Float = layerNormEpsilon

    public init(weight: Tensor, bias: Tensor, epsilon: Float = layerNormEpsilon) {
        (self.weight, self.bias, self.epsilon) = (weight, bias, epsilon)
    }
}

public struct AttentionWeights {
    public var q, k, v, out: LinearWeights  // each [C, C]
}

public struct FeedForwardWeights {
    public var fc1: LinearWeights  // [F, C]
    public var fc2: LinearWeights  // [C, F]
}

public struct EncoderLayerWeights {
    public var selfAttention: AttentionWeights
    public var selfAttentionNorm: NormWeights
    public var feedForward: FeedForwardWeights
    public var finalNorm: NormWeights
}

public struct DecoderLayerWeights {
    public var selfAttention: AttentionWeights
    public var selfAttentionNorm: NormWeights
    public var crossAttention: AttentionWeights
    public var crossAttentionNorm: NormWeights
    public var feedForward: FeedForwardWeights
    public var finalNorm: NormWeights
}

public struct TransformerWeights {
    /// The target embedding E [V, C] — with `sharedEmbeddings` the source's too, with `tiedOutput`
    /// the output projection's.
    public var embedding: Tensor
    /// The source embedding [Vs, C]: `embedding` itself with `sharedEmbeddings`.
    public var sourceEmbedding: Tensor
    /// The output projection's W [V, C] (logits = h·Wᵀ + b): `embedding` itself with `tiedOutput`.
    public var outputWeight: Tensor
    /// The embeddings and the output projection as lookups and products read them (int8 in a
    /// quantized model): views of the tensors above.
    public var sourceTable: WeightMatrix
    public var targetTable: WeightMatrix
    public var outputProjection: WeightMatrix
    /// LayerNorms over the encoder's and decoder's input embeddings (`embeddingNorm`).
    public var encoderEmbeddingNorm: NormWeights?
    public var decoderEmbeddingNorm: NormWeights?
    /// b [V], with `outputBias` (Marian's models); nil otherwise.
    public var outputBias: Tensor?
    public var encoder: [EncoderLayerWeights]
    public var encoderNorm: NormWeights?  // pre-norm only
    public var decoder: [DecoderLayerWeights]
    public var decoderNorm: NormWeights?  // pre-norm only

    /// (name, shape) of every tensor, in storage order.
    public static func layout(_ c: TransformerConfig) -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = [("embed_tokens.weight", [c.vocabularySize, c.dModel])]
        if !c.sharedEmbeddings { out.append(("encoder.embed_tokens.weight", [c.sourceVocabulary, c.dModel])) }
        func linear(_ prefix: String, _ outFeatures: Int, _ inFeatures: Int) {
            out.append((prefix + ".weight", [outFeatures, inFeatures]))
            out.append((prefix + ".bias", [outFeatures]))
        }
        func norm(_ prefix: String) {
            out.append((prefix + ".weight", [c.dModel]))
            out.append((prefix + ".bias", [c.dModel]))
        }
        func attention(_ prefix: String) {
            for p in ["q_proj", "k_proj", "v_proj", "out_proj"] { linear(prefix + "." + p, c.dModel, c.dModel) }
        }
        if c.embeddingNorm { norm("encoder.layernorm_embedding") }
        for i in 0..<c.encoderLayers {
            let p = "encoder.layers.\(i)"
            attention(p + ".self_attn")
            norm(p + ".self_attn_layer_norm")
            linear(p + ".fc1", c.ffnDim, c.dModel)
            linear(p + ".fc2", c.dModel, c.ffnDim)
            norm(p + ".final_layer_norm")
        }
        if c.preNorm { norm("encoder.layer_norm") }
        if c.embeddingNorm { norm("decoder.layernorm_embedding") }
        for i in 0..<c.decoderLayers {
            let p = "decoder.layers.\(i)"
            attention(p + ".self_attn")
            norm(p + ".self_attn_layer_norm")
            attention(p + ".encoder_attn")
            norm(p + ".encoder_attn_layer_norm")
            linear(p + ".fc1", c.ffnDim, c.dModel)
            linear(p + ".fc2", c.dModel, c.ffnDim)
            norm(p + ".final_layer_norm")
        }
        if c.preNorm { norm("decoder.layer_norm") }
        if !c.tiedOutput { out.append(("output_projection.weight", [c.vocabularySize, c.dModel])) }
        if c.outputBias { out.append(("output_projection.bias", [c.vocabularySize])) }
        return out
    }

    /// Views `base` (the store's values or gradients) as the model's weights; the matrices of
    /// `quantized` (if given) are read as int8 instead, or those of `packed` (if given) packed.
    public init(_ store: ParameterStore, _ base: UnsafeMutablePointer<Float>, _ c: TransformerConfig, quantized: QuantizedWeights? = nil,
                packed: PackedWeights? = nil) {
        func t(_ name: String) -> Tensor { store.tensor(name, in: base) }
        func matrix(_ name: String) -> WeightMatrix {
            if let q = quantized?.matrices[name] { return .int8(q) }
            if let p = packed?.matrices[name] { return .packed(p) }
            return .float32(t(name))
        }
        func linear(_ p: String) -> LinearWeights { LinearWeights(weight: matrix(p + ".weight"), bias: t(p + ".bias")) }
        func norm(_ p: String) -> NormWeights { NormWeights(weight: t(p + ".weight"), bias: t(p + ".bias"), epsilon: c.layerNormEpsilon) }
        func attention(_ p: String) -> AttentionWeights {
            AttentionWeights(q: linear(p + ".q_proj"), k: linear(p + ".k_proj"), v: linear(p + ".v_proj"), out: linear(p + ".out_proj"))
        }
        let (source, output) = (c.sharedEmbeddings ? "embed_tokens.weight" : "encoder.embed_tokens.weight",
                                c.tiedOutput ? "embed_tokens.weight" : "output_projection.weight")
        (embedding, sourceEmbedding, outputWeight) = (t("embed_tokens.weight"), t(source), t(output))
        (targetTable, sourceTable, outputProjection) = (matrix("embed_tokens.weight"), matrix(source), matrix(output))
        encoderEmbeddingNorm = c.embeddingNorm ? norm("encoder.layernorm_embedding") : nil
        decoderEmbeddingNorm = c.embeddingNorm ? norm("decoder.layernorm_embedding") : nil
        outputBias = c.outputBias ? t("output_projection.bias") : nil
        encoder = (0..<c.encoderLayers).map { i in
            let p = "encoder.layers.\(i)"
            return EncoderLayerWeights(selfAttention: attention(p + ".self_attn"), selfAttentionNorm: norm(p + ".self_attn_layer_norm"),
                                       feedForward: FeedForwardWeights(fc1: linear(p + ".fc1"), fc2: linear(p + ".fc2")),
                                       finalNorm: norm(p + ".final_layer_norm"))
        }
        encoderNorm = c.preNorm ? norm("encoder.layer_norm") : nil
        decoder = (0..<c.decoderLayers).map { i in
            let p = "decoder.layers.\(i)"
            return DecoderLayerWeights(selfAttention: attention(p + ".self_attn"), selfAttentionNorm: norm(p + ".self_attn_layer_norm"),
                                       crossAttention: attention(p + ".encoder_attn"), crossAttentionNorm: norm(p + ".encoder_attn_layer_norm"),
                                       feedForward: FeedForwardWeights(fc1: linear(p + ".fc1"), fc2: linear(p + ".fc2")),
                                       finalNorm: norm(p + ".final_layer_norm"))
        }
        decoderNorm = c.preNorm ? norm("decoder.layer_norm") : nil
    }
}
