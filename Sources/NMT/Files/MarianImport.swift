// MarianImport: a Marian Transformer (an OPUS-MT model, or what `marian` training writes) as an
// ordinary nmt model — `nmt import marian`.
//
//   PATH: a decoder.yml (or a directory holding one) → its `models` (.npz) and `vocabs` (a joint
//   vocabulary or one per side: .spm files, or .yml piece lists with source.spm/target.spm);
//   the .npz's `special:model.yml` → the architecture, checked option by option (anything nmt does
//   not compute the same way is refused, naming the option);
//   the weights, renamed to nmt's and transposed ([in, out] → [out, in]), each vocabulary's rows
//   re-ordered so that nmt's <pad>, <unk>, <s>, </s> come first: Marian's </s> and <unk> map onto
//   nmt's, and the rows of <pad> and <s> are zero — Marian starts the decoder from a zero vector,
//   which is what √C · 0 + PE[0] gives for a zero <s> row. Their output bias is `absentTokenBias`,
//   so that exp(logit − max) is exactly 0 in float32: the softmax over nmt's V + 2 tokens is
//   Marian's softmax over its V, and scores match Marian's to rounding.
// Embeddings: Wemb for all (tied-embeddings-all), or encoder_Wemb and decoder_Wemb with the output
// matrix tied to decoder_Wemb (tied-embeddings) or its own (decoder_ff_logit_out_Wt); an
// embedding LayerNorm (transformer-postprocess-emb n: encoder_emb_ln_*_pre).
// Pre-norm models (transformer-preprocess n) are computed as Marian trains them; Marian's own
// decoder departs from that graph (see `preNormNote`), so their translations can differ from
// marian-decoder's. Post-norm models — every OPUS-MT model — translate identically.
// The model keeps Marian's conventions as config values: LayerNorm ε 1e-6, swish, the output
// bias, and Marian's beam search; decoder.yml's beam size, normalize and max-length-factor become
// the model's translation defaults.

import Foundation
import Yams

public enum MarianImport {
    /// Why an imported pre-norm model's translations may differ from marian-decoder's.
    public static let preNormNote = "this is a pre-norm model; nmt computes it as Marian's training does, while marian-decoder "
        + "feeds un-normalized inputs to decoder self-attention after the first step (transformer.h, LayerAttention), "
        + "so translations can differ from marian-decoder's"

    /// The output bias of tokens Marian's vocabulary lacks (<pad>, <s>): e^(−10⁴) underflows to 0.
    public static let absentTokenBias: Float = -10_000
    public struct Imported {
        public var model: Transformer
        public var tokenizer: any Tokenizer
        /// What `nmt translate` runs with unless told otherwise (decoder.yml's settings).
        public var defaults: TranslationDefaults
        /// The files read, for the log.
        public var sources: [String]
    }

    /// `sourceSPM`/`targetSPM`: the SentencePiece models that go with a `.yml` vocabulary (default:
    /// source.spm and target.spm beside the decoder.yml, OPUS-MT's layout).
    public static func load(_ path: String, sourceSPM: String? = nil, targetSPM: String? = nil) throws -> Imported {
        let yml = try decoderYML(path)
        let directory = (yml as NSString).deletingLastPathComponent
        let text = try readTextFile(path: yml)
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any] else { throw NMTError("\(yml): not a Marian decoder.yml (no YAML mapping)") }
        func resolve(_ file: String) -> String {
            if file.hasPrefix("/") { return file }
            let beside = (directory as NSString).appendingPathComponent(file)
            return FileManager.default.fileExists(atPath: beside) || !FileManager.default.fileExists(atPath: file) ? beside : file
        }
        guard let models = root["models"] as? [String], let modelName = models.first else { throw NMTError("\(yml): no 'models' list") }
        guard models.count == 1 else { throw NMTError("\(yml): an ensemble of \(models.count) models; import each model on its own") }
        guard let vocabs = root["vocabs"] as? [String], vocabs.count == 2 else { throw NMTError("\(yml): 'vocabs' must list a source and a target vocabulary") }
        let npzPath = resolve(modelName)
        let npz = try NPZFile(path: npzPath)
        guard let specialBytes = npz.rawBytes("special:model.yml") else { throw NMTError("\(npzPath): no 'special:model.yml' (not a Marian model?)") }
        let specialText = String(decoding: specialBytes.prefix { $0 != 0 }, as: UTF8.self)
        guard let options = (try? Yams.load(yaml: specialText)) as? [String: Any] else { throw NMTError("\(npzPath): special:model.yml is not YAML") }
        let architecture = try Architecture(options, source: "\(npzPath) (special:model.yml)")

        let (sourceVocab, targetVocab) = (resolve(vocabs[0]), resolve(vocabs[1]))
        let joint = sourceVocab == targetVocab
            || (try? Data(contentsOf: URL(fileURLWithPath: sourceVocab))) == (try? Data(contentsOf: URL(fileURLWithPath: targetVocab)))
        func isPieceList(_ file: String) -> Bool { file.hasSuffix(".yml") || file.hasSuffix(".yaml") || file.hasSuffix(".json") }
        func isSentencePiece(_ file: String) -> Bool { file.hasSuffix(".spm") || file.hasSuffix(".model") }
        let tokenizer: SentencePieceTokenizer
        var sources = [yml, npzPath, sourceVocab] + (joint ? [] : [targetVocab])
        if isPieceList(sourceVocab) && isPieceList(targetVocab) {
            // OPUS-MT's layout: the piece lists, and the SentencePiece models beside decoder.yml.
            let (sourceSPM, targetSPM) = (sourceSPM ?? resolve("source.spm"), targetSPM ?? resolve("target.spm"))
            for file in [sourceSPM, targetSPM] where !FileManager.default.fileExists(atPath: file) {
                throw NMTError("\(yml): vocabulary \(vocabs[0]) is a piece list; the SentencePiece model that goes with it, \(file), is missing")
            }
            let (source, target) = (try SentencePiece(path: sourceSPM), try SentencePiece(path: targetSPM))
            if joint {
                tokenizer = try SentencePieceTokenizer(source: source, target: target, pieces: try pieceList(sourceVocab))
            } else {
                tokenizer = try SentencePieceTokenizer(source: source, target: target, sourcePieces: try pieceList(sourceVocab),
                                                       targetPieces: try pieceList(targetVocab))
            }
            sources += [sourceSPM, targetSPM]
        } else if sourceSPM != nil || targetSPM != nil {
            throw NMTError("--source-spm and --target-spm go with .yml vocabularies; \(vocabs[0]) segments by itself")
        } else if isSentencePiece(sourceVocab) && isSentencePiece(targetVocab) {
            tokenizer = joint ? try SentencePieceTokenizer(path: sourceVocab)
                : try SentencePieceTokenizer(source: try SentencePiece(path: sourceVocab), target: try SentencePiece(path: targetVocab))
        } else {
            throw NMTError("\(yml): vocabularies \(vocabs[0]) and \(vocabs[1]) must both be SentencePiece models (.spm) or both piece lists (.yml)")
        }
        let separate = tokenizer.hasSeparateVocabularies
        if separate && architecture.sharedEmbeddings {
            throw NMTError("\(npzPath) (special:model.yml): \(architecture.tiedAll ? "tied-embeddings-all" : "tied-embeddings-src") ties the "
                           + "embeddings of two different vocabularies (\(vocabs[0]), \(vocabs[1]))")
        }

        var config = TransformerConfig(vocabularySize: tokenizer.vocabulary.count, dModel: architecture.dModel, ffnDim: architecture.ffnDim,
                                       heads: architecture.heads, encoderLayers: architecture.encoderLayers, decoderLayers: architecture.decoderLayers,
                                       dropout: 0.1, maxPositions: 1024, preNorm: architecture.preNorm, activation: architecture.activation,
                                       sharedEmbeddings: architecture.sharedEmbeddings)
        config.sourceVocabularySize = separate ? tokenizer.sourceVocabulary.count : nil
        config.tiedOutput = architecture.tiedOutput
        config.embeddingNorm = architecture.embeddingNorm
        (config.alignmentLayer, config.alignmentHead) = (architecture.alignmentLayer, 0)
        config.layerNormEpsilon = 1e-6
        config.outputBias = true  // Marian's own, or zero; it also carries `absentTokenBias`
        config.search = .marian
        config.absentTokens = (0..<tokenizer.vocabulary.count).filter { tokenizer.target.pieceId(ofModelId: $0) == nil }.map(Int32.init)
        let model = try Transformer(config: config)
        try copyWeights(npz, into: model, tokenizer: tokenizer, preNorm: architecture.preNorm)

        var defaults = TranslationDefaults()
        defaults.beam = (root["beam-size"] as? Int) ?? 12
        defaults.lengthPenalty = number(root["normalize"]) ?? 0
        defaults.maxLengthA = number(root["max-length-factor"]) ?? 3
        defaults.maxLengthB = 0
        return Imported(model: model, tokenizer: tokenizer, defaults: defaults, sources: sources)
    }

    /// A Marian vocabulary file (`piece: id` lines, YAML; or JSON) as its pieces in id order. The
    /// keys are read as written — `1` or `true` is the piece "1" or "true", as Marian reads them.
    static func pieceList(_ path: String) throws -> [String] {
        let text = try readTextFile(path: path)
        guard let node = try? Yams.compose(yaml: text), let mapping = node.mapping else {
            throw NMTError("\(path): not a Marian vocabulary (a mapping of pieces to ids)")
        }
        var pieces = [String?](repeating: nil, count: mapping.count)
        for (key, value) in mapping {
            guard let piece = key.scalar?.string, let id = value.scalar.flatMap({ Int($0.string) }), id >= 0, id < mapping.count else {
                throw NMTError("\(path):\(key.mark?.line ?? 0): '\(key.scalar?.string ?? "?")' needs an id in [0, \(mapping.count)), one per piece")
            }
            guard pieces[id] == nil else { throw NMTError("\(path):\(key.mark?.line ?? 0): id \(id) is given twice") }
            pieces[id] = piece
        }
        return pieces.map { $0! }
    }

    private static func number(_ value: Any?) -> Double? {
        if let d = value as? Double { return d }
        if let i = value as? Int { return Double(i) }
        return nil
    }

    /// The decoder.yml `path` names: itself, or in a directory its decoder.yml, else its one *decoder.yml.
    private static func decoderYML(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw NMTError("cannot open \(path): No such file or directory") }
        guard isDirectory.boolValue else { return path }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix("decoder.yml") }.sorted()
        // OPUS-MT's decoder.yml first: a directory Marian trained in also holds model.npz.decoder.yml.
        if names.contains("decoder.yml") { return (path as NSString).appendingPathComponent("decoder.yml") }
        guard names.count == 1 else {
            throw NMTError("\(path): \(names.isEmpty ? "no" : "\(names.count)") *decoder.yml files; give the one to import")
        }
        return (path as NSString).appendingPathComponent(names[0])
    }

    /// The options of special:model.yml nmt computes, and the check that there are no others.
    struct Architecture {
        var dModel, ffnDim, heads, encoderLayers, decoderLayers: Int
        var activation: Activation
        var preNorm: Bool
        /// tied-embeddings-all; source = target embedding (-all or -src); output = target embedding (-all or tied-embeddings).
        var tiedAll, sharedEmbeddings, tiedOutput: Bool
        /// transformer-postprocess-emb n: a LayerNorm over the embeddings.
        var embeddingNorm: Bool
        /// The decoder layer (0-based) whose head 0 Marian reports alignments from:
        /// transformer-guided-alignment-layer, "last" or 1-based.
        var alignmentLayer: Int

        init(_ o: [String: Any], source: String) throws {
            func fail(_ option: String, _ value: Any?) -> NMTError {
                NMTError("\(source): \(option): \(value.map { "\($0)" } ?? "missing") is not supported by nmt")
            }
            func int(_ key: String) throws -> Int {
                guard let v = o[key] as? Int, v > 0 else { throw fail(key, o[key]) }
                return v
            }
            func string(_ key: String, default value: String = "") -> String { (o[key] as? String) ?? value }
            func expect(_ key: String, _ allowed: [String], default value: String = "") throws {
                let actual = o[key].map { "\($0)" } ?? value
                guard allowed.contains(actual) else { throw fail(key, actual) }
            }
            func flag(_ key: String) -> Bool { (o[key] as? Bool) ?? false }
            guard string("type") == "transformer" else { throw fail("type", o["type"]) }
            (dModel, heads, encoderLayers, decoderLayers, ffnDim) = (try int("dim-emb"), try int("transformer-heads"), try int("enc-depth"),
                                                                     try int("dec-depth"), try int("transformer-dim-ffn"))
            guard let activation = Activation(rawValue: string("transformer-ffn-activation", default: "swish")) else {
                throw fail("transformer-ffn-activation", o["transformer-ffn-activation"])
            }
            self.activation = activation
            try expect("transformer-ffn-depth", ["2"], default: "2")
            try expect("transformer-decoder-ffn-depth", ["0", "2"], default: "0")
            if let decoderFFN = o["transformer-decoder-dim-ffn"] as? Int, decoderFFN != 0, decoderFFN != ffnDim { throw fail("transformer-decoder-dim-ffn", decoderFFN) }
            let (pre, post, top) = (string("transformer-preprocess"), string("transformer-postprocess", default: "dan"),
                                    string("transformer-postprocess-top"))
            switch (pre, post, top) {
            case ("", "dan", ""): preNorm = false
            case ("n", "da", "n"): preNorm = true
            default: throw fail("transformer-preprocess/postprocess/postprocess-top", "\(pre.isEmpty ? "''" : pre)/\(post)/\(top.isEmpty ? "''" : top)")
            }
            // Dropout, then the norm ("dn"); with "n" or "" Marian trains without embedding dropout,
            // nmt with it (decoding is the same).
            try expect("transformer-postprocess-emb", ["d", "", "n", "dn"], default: "d")
            embeddingNorm = string("transformer-postprocess-emb", default: "d").contains("n")
            try expect("transformer-decoder-autoreg", ["self-attention"], default: "self-attention")
            try expect("transformer-attention-mask", ["default"], default: "default")
            tiedAll = flag("tied-embeddings-all")
            sharedEmbeddings = tiedAll || flag("tied-embeddings-src")
            tiedOutput = tiedAll || flag("tied-embeddings")
            for key in ["transformer-no-bias", "transformer-no-affine", "transformer-train-position-embeddings", "transformer-disable-position-embeddings",
                        "transformer-pool", "ulr", "right-left", "transformer-alibi-shift", "transformer-rnn-projection", "output-omit-bias",
                        "transformer-depth-scaling"] where flag(key) {
                throw fail(key, true)
            }
            if let tied = o["transformer-tied-layers"] as? [Any], !tied.isEmpty { throw fail("transformer-tied-layers", tied) }
            let alignment = o["transformer-guided-alignment-layer"].map { "\($0)" } ?? "last"
            if alignment == "last" {
                alignmentLayer = decoderLayers - 1
            } else {
                guard let layer = Int(alignment), (1...decoderLayers).contains(layer) else { throw fail("transformer-guided-alignment-layer", alignment) }
                alignmentLayer = layer - 1
            }
            if let factors = o["factors-dim-emb"] as? Int, factors != 0 { throw fail("factors-dim-emb", factors) }
            if let types = o["input-types"] as? [Any], !types.isEmpty { throw fail("input-types", types) }
        }
    }

    /// Every nmt tensor from its Marian tensor: linear weights transposed, the vocabulary rows
    /// re-ordered; shapes checked, nothing left over.
    private static func copyWeights(_ npz: NPZFile, into model: Transformer, tokenizer: SentencePieceTokenizer, preNorm: Bool) throws {
        let store = model.parameters, c = model.config
        var used: Set<String> = ["special:model.yml"]
        func read(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let entry = npz.entries[name] else { throw NMTError("\(npz.path): tensor '\(name)' is missing") }
            guard entry.shape.reduce(1, *) == shape.reduce(1, *), entry.shape.last == shape.last || shape.count == 1 else {
                throw NMTError("\(npz.path): tensor '\(name)' has shape \(entry.shape), the model needs \(shape)")
            }
            used.insert(name)
            return try npz.floats(name)
        }
        func set(_ nmtName: String, _ values: [Float]) {
            let t = store.value(nmtName)
            values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: t.count) }
        }
        func linear(_ nmtName: String, _ marianWeight: String, _ marianBias: String, inputs: Int, outputs: Int) throws {
            let w = try read(marianWeight, [inputs, outputs])  // Marian: x·W, W [in, out]
            var transposed = [Float](repeating: 0, count: w.count)
            for i in 0..<inputs { for o in 0..<outputs { transposed[o * inputs + i] = w[i * outputs + o] } }
            set(nmtName + ".weight", transposed)
            set(nmtName + ".bias", try read(marianBias, [1, outputs]))
        }
        func norm(_ nmtName: String, _ marianPrefix: String) throws {
            let suffix = preNorm ? "_pre" : ""
            set(nmtName + ".weight", try read(marianPrefix + "_ln_scale" + suffix, [1, c.dModel]))
            set(nmtName + ".bias", try read(marianPrefix + "_ln_bias" + suffix, [1, c.dModel]))
        }
        func attention(_ nmtPrefix: String, _ marianPrefix: String) throws {
            for (nmt, marian) in [("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"), ("out_proj", "o")] {
                try linear(nmtPrefix + "." + nmt, marianPrefix + "_W" + marian, marianPrefix + "_b" + marian, inputs: c.dModel, outputs: c.dModel)
            }
        }
        func feedForward(_ nmtPrefix: String, _ marianPrefix: String) throws {
            try linear(nmtPrefix + ".fc1", marianPrefix + "_W1", marianPrefix + "_b1", inputs: c.dModel, outputs: c.ffnDim)
            try linear(nmtPrefix + ".fc2", marianPrefix + "_W2", marianPrefix + "_b2", inputs: c.ffnDim, outputs: c.dModel)
        }
        // The vocabularies: row j of an nmt table holds the Marian row of its side's piece
        // pieceId(j); <pad> and <s> (no Marian piece) stay zero.
        func table(_ marianName: String, _ side: SentencePieceTokenizer.Side, transposed: Bool = false) throws -> [Float] {
            let pieces = side.pieceCount, shape = transposed ? [c.dModel, pieces] : [pieces, c.dModel]
            guard let entry = npz.entries[marianName], entry.shape == shape else {
                throw NMTError("\(npz.path): tensor '\(marianName)' has shape \(npz.entries[marianName]?.shape ?? []), the vocabulary needs \(shape)")
            }
            let values = try read(marianName, shape)
            var rows = [Float](repeating: 0, count: side.vocabulary.count * c.dModel)
            for j in 0..<side.vocabulary.count {
                guard let p = side.pieceId(ofModelId: j) else { continue }
                for k in 0..<c.dModel { rows[j * c.dModel + k] = transposed ? values[k * pieces + p] : values[p * c.dModel + k] }
            }
            return rows
        }
        if c.sharedEmbeddings {
            set("embed_tokens.weight", try table("Wemb", tokenizer.target))
        } else {
            set("encoder.embed_tokens.weight", try table("encoder_Wemb", tokenizer.source))
            set("embed_tokens.weight", try table("decoder_Wemb", tokenizer.target))
        }
        if !c.tiedOutput {
            // Marian 1.12 stores the untied output matrix as [V, C] (…_Wt); earlier versions as [C, V].
            let stored = npz.entries["decoder_ff_logit_out_Wt"] != nil
            set("output_projection.weight", try table(stored ? "decoder_ff_logit_out_Wt" : "decoder_ff_logit_out_W", tokenizer.target, transposed: !stored))
        }
        let pieces = tokenizer.target.pieceCount
        let bias = npz.entries["decoder_ff_logit_out_b"] == nil ? [Float](repeating: 0, count: pieces) : try read("decoder_ff_logit_out_b", [1, pieces])
        set("output_projection.bias", (0..<c.vocabularySize).map { j in tokenizer.target.pieceId(ofModelId: j).map { bias[$0] } ?? absentTokenBias })
        if c.embeddingNorm {
            for (n, m) in [("encoder.layernorm_embedding", "encoder_emb"), ("decoder.layernorm_embedding", "decoder_emb")] {
                set(n + ".weight", try read(m + "_ln_scale_pre", [1, c.dModel]))
                set(n + ".bias", try read(m + "_ln_bias_pre", [1, c.dModel]))
            }
        }
        for i in 0..<c.encoderLayers {
            let (n, m) = ("encoder.layers.\(i)", "encoder_l\(i + 1)")
            try attention(n + ".self_attn", m + "_self")
            try norm(n + ".self_attn_layer_norm", m + "_self_Wo")
            try feedForward(n, m + "_ffn")
            try norm(n + ".final_layer_norm", m + "_ffn_ffn")
        }
        for i in 0..<c.decoderLayers {
            let (n, m) = ("decoder.layers.\(i)", "decoder_l\(i + 1)")
            try attention(n + ".self_attn", m + "_self")
            try norm(n + ".self_attn_layer_norm", m + "_self_Wo")
            try attention(n + ".encoder_attn", m + "_context")
            try norm(n + ".encoder_attn_layer_norm", m + "_context_Wo")
            try feedForward(n, m + "_ffn")
            try norm(n + ".final_layer_norm", m + "_ffn_ffn")
        }
        if preNorm {
            for (n, m) in [("encoder.layer_norm", "encoder_top"), ("decoder.layer_norm", "decoder_top")] {
                set(n + ".weight", try read(m + "_ln_scale", [1, c.dModel]))
                set(n + ".bias", try read(m + "_ln_bias", [1, c.dModel]))
            }
        }
        if let extra = Set(npz.entries.keys).subtracting(used).sorted().first {
            throw NMTError("\(npz.path): tensor '\(extra)' is not part of a model nmt can compute")
        }
    }
}

/// Translation settings a model file carries (an imported model's decoder.yml), which
/// `nmt translate` uses for the options it is not given.
public struct TranslationDefaults: Codable, Sendable, Equatable {
    public var beam: Int?
    public var lengthPenalty: Double?
    public var maxLengthA: Double?
    public var maxLengthB: Double?
    public init() {}

    /// The metadata key of a model file.
    public static let metadataKey = "translation_defaults"
}
