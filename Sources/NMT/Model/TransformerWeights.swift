// TransformerWeights: the model's structure over a ParameterStore buffer (values or gradients),
// with fairseq's tensor names. Linear weights are [out, in] as in PyTorch; the layers read them
// as `WeightMatrix` (Float32 views of the buffer here; int8 for quantized decoding).

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
    public var embedding: Tensor  // [V, C], shared by source, target and output projection
    /// The output projection logits = h·Eᵀ (+ b) as decoding reads it (the same matrix as `embedding`).
    public var outputProjection: WeightMatrix
    /// b [V], with `outputBias` (Marian's models); nil otherwise.
    public var outputBias: Tensor?
    public var encoder: [EncoderLayerWeights]
    public var encoderNorm: NormWeights?  // pre-norm only
    public var decoder: [DecoderLayerWeights]
    public var decoderNorm: NormWeights?  // pre-norm only

    /// (name, shape) of every tensor, in storage order.
    public static func layout(_ c: TransformerConfig) -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = [("embed_tokens.weight", [c.vocabularySize, c.dModel])]
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
        for i in 0..<c.encoderLayers {
            let p = "encoder.layers.\(i)"
            attention(p + ".self_attn")
            norm(p + ".self_attn_layer_norm")
            linear(p + ".fc1", c.ffnDim, c.dModel)
            linear(p + ".fc2", c.dModel, c.ffnDim)
            norm(p + ".final_layer_norm")
        }
        if c.preNorm { norm("encoder.layer_norm") }
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
        if c.outputBias { out.append(("output_projection.bias", [c.vocabularySize])) }
        return out
    }

    /// Views `base` (the store's values or gradients) as the model's weights; the matrices of
    /// `quantized` (if given) are read as int8 instead.
    public init(_ store: ParameterStore, _ base: UnsafeMutablePointer<Float>, _ c: TransformerConfig, quantized: QuantizedWeights? = nil) {
        func t(_ name: String) -> Tensor { store.tensor(name, in: base) }
        func matrix(_ name: String) -> WeightMatrix { quantized?.matrices[name].map { .int8($0) } ?? .float32(t(name)) }
        func linear(_ p: String) -> LinearWeights { LinearWeights(weight: matrix(p + ".weight"), bias: t(p + ".bias")) }
        func norm(_ p: String) -> NormWeights { NormWeights(weight: t(p + ".weight"), bias: t(p + ".bias"), epsilon: c.layerNormEpsilon) }
        func attention(_ p: String) -> AttentionWeights {
            AttentionWeights(q: linear(p + ".q_proj"), k: linear(p + ".k_proj"), v: linear(p + ".v_proj"), out: linear(p + ".out_proj"))
        }
        embedding = t("embed_tokens.weight")
        outputProjection = matrix("embed_tokens.weight")
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
