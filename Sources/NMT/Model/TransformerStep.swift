// The model's decoding API, as CTranslate2's `encode`, `initial_state` and decoder `operator()`:
//
//   encode(sources)                    → EncodedSources  (encoder output [B·S, C] and padding)
//   decoderState(for: encoded, …)      → DecoderState    (cross-attention keys projected once)
//   step(tokens, state)                → logits [R, V] and log-normalisers of the next position
//
// Search (BeamSearch.swift, GreedySearch.swift) calls these and keeps only search logic: which
// hypotheses continue (`DecoderState.select`), when they finish, how they are scored. Every step
// runs the model's own DecoderLayers with a cache (the layers training runs over whole sequences),
// so there is one implementation of each operation. Decoding runs in float32 with independent rows
// (`Compute.rowIndependent`: a sentence's numbers do not depend on its batch); int8 weights are a
// weight type (WeightMatrix).

/// Source sentences as the encoder left them: output [B·S, C] and padding [B, S] (1 = <pad>),
/// each sentence x_1 … x_m </s> <pad> …, in an arena (valid until its next reset; the arena
/// lives at least as long as this value).
public struct EncodedSources {
    public let output: Tensor
    public let padding: UnsafeMutablePointer<UInt8>
    /// B sentences of S positions.
    public let count: Int
    public let length: Int
    /// The memory behind `output` and `padding`.
    let arena: Arena

    /// Sentence b's positions: its tokens and </s>.
    public func positions(of b: Int) -> Int {
        (0..<length).reduce(0) { $0 + (padding[b * length + $1] == 0 ? 1 : 0) }
    }
}

/// One decoding step's result, valid until the next step: log p(j) = logits[r, j] − logZ[r];
/// when asked for, the alignment attention [R, S] of each row over its source positions. Under a
/// shortlist that estimates it, `excluded[r]`: the log-mass logZ[r] gives the tokens row r's
/// logits leave at −∞ (−∞ when there are none).
public struct StepLogits {
    public let logits: Tensor
    public let logZ: UnsafeMutablePointer<Float>
    public var attention: UnsafeMutablePointer<Float>? = nil
    public var excluded: UnsafeMutablePointer<Float>? = nil
}

extension Transformer {
    /// Encodes `sources` (token ids without </s>; </s> is appended and the batch padded here).
    /// Resets `arena`; the result lives in it.
    public func encode(sources: [[Int32]], arena: Arena) -> EncodedSources {
        arena.reset()
        let batch = sources.count, length = (sources.map(\.count).max() ?? 0) + 1
        require(length <= config.maxPositions, "Transformer.encode: length \(length) exceeds maxPositions \(config.maxPositions)")
        let c = config.dModel
        let padding = arena.bytes(batch * length), ids = arena.ids(batch * length)
        for (b, source) in sources.enumerated() {
            for t in 0..<length {
                ids[b * length + t] = t < source.count ? source[t] : t == source.count ? Vocabulary.endOfSentence : Vocabulary.padding
                padding[b * length + t] = ids[b * length + t] == Vocabulary.padding ? 1 : 0
            }
        }
        let output = arena.tensor(Shape(batch * length, c))
        // Without a backward pass a layer's activations die with it, so sentences are encoded a
        // group at a time (temporaries of about 2^20 floats), each layer's output copied into one of
        // two buffers before its temporaries are released. Every sentence's numbers are those of
        // encoding the whole batch at once (no operation mixes sentences).
        let perSentence = length * (config.ffnDim + 8 * c + config.heads * length)
        let group = max(1, min(batch, (1 << 20) / max(perSentence, 1)))
        for first in stride(from: 0, to: batch, by: group) {
            let n = min(group, batch - first)
            let groupStart = arena.mark()
            let rows = (first * length)..<((first + n) * length)
            var (x, _) = embed(.source, ids + rows.lowerBound, count: rows.count, length: length, dropout: nil, arena: arena)
            x = runLayers(encoderLayers.count, x, arena: arena) { layer, x in
                _ = encoderLayers[layer].forward(&x, batch: n, length: length, padding: padding + rows.lowerBound, dropout: nil, compute: .rowIndependent,
                                                 arena: arena)
            }
            output.rows(rows).copy(from: finalNorm(x, weights.encoderNorm, arena: arena).1)
            arena.release(to: groupStart)
        }
        return EncodedSources(output: output, padding: padding, count: batch, length: length, arena: arena)
    }

    /// The decoder's state before its first step, for hypotheses `sentenceOf` (row r continues
    /// source sentence `sentenceOf[r]`; default: one row per sentence), at most `capacity` rows
    /// at once and `maxLength` positions. Caches live in `workspace` until its batch memory is reset.
    public func decoderState(for encoded: EncodedSources, sentenceOf: [Int]? = nil, maxLength: Int, capacity: Int? = nil,
                             workspace: DecodingWorkspace) -> DecoderState {
        let rows = sentenceOf ?? Array(0..<encoded.count)
        return DecoderState(encoded: encoded, sentenceOf: rows, maxLength: maxLength, capacity: capacity ?? rows.count, layers: config.decoderLayers,
                            dModel: config.dModel, workspace: workspace) { l, keys, values in
            MultiHeadAttention.projectKeyValues(.float32(encoded.output), weights: weights.decoder[l].crossAttention, keys: .float32(keys),
                                                values: .float32(values), compute: .rowIndependent)
        }
    }

    /// Feeds `tokens` (one per hypothesis) at the state's position; returns the next position's
    /// logits [R, V] and log-normalisers, and moves the state on. Valid until the next step.
    /// `attention`: also the alignment attention [R, S] — the cross-attention probabilities of
    /// `config.alignmentLayer` (default the last decoder layer), of `config.alignmentHead` or
    /// averaged over the heads.
    public func step(_ tokens: [Int32], state: DecoderState, attention: Bool = false) -> StepLogits {
        require(tokens.count == state.rows, "Transformer.step: \(tokens.count) tokens for \(state.rows) hypotheses")
        require(state.position < state.maxLength && state.position < config.maxPositions, "Transformer.step: position \(state.position) beyond the cache")
        let arena = state.arena
        arena.reset()
        let rows = state.rows
        let ids = arena.ids(rows)
        for (r, t) in tokens.enumerated() { ids[r] = t }
        let s = state.sourceLength, alignment = attention ? arena.floats(rows * s) : nil
        var (x, _) = embed(.target, ids, count: rows, length: 1, positionOffset: state.position, dropout: nil, arena: arena)
        state.addPosition()
        x = runLayers(decoderLayers.count, x, arena: arena) { l, x in
            let a = decoderLayers[l].forward(&x, memory: nil, cache: state.layerCache(l), batch: rows, queries: 1, selfMask: AttentionMask(),
                                             crossMask: AttentionMask(keyPadding: state.sourcePadding), dropout: nil, compute: .rowIndependent,
                                             arena: arena)
            if let alignment, l == (config.alignmentLayer ?? decoderLayers.count - 1) {
                alignmentAttention(a.crossAttention.probs, rows: rows, heads: config.heads, keys: s, head: config.alignmentHead, into: alignment)
            }
        }
        x = finalNorm(x, weights.decoderNorm, arena: arena).1
        let logits = arena.tensor(Shape(rows, config.vocabularySize)), logZ = arena.floats(rows)
        var excluded: UnsafeMutablePointer<Float>? = nil
        if let restriction = state.restriction {
            excluded = restriction.moments == nil ? nil : arena.floats(rows)
            restrictedLogits(logits, logZ: logZ, excluded: excluded, x, restriction, sentenceOf: state.sentence(ofRow:), arena: arena)
        } else {
            linearForward(.float32(logits), .float32(x), weight: weights.outputProjection, bias: weights.outputBias, compute: .rowIndependent)
            logNormalizers(logits, into: logZ)
        }
        state.position += 1
        return StepLogits(logits: logits, logZ: logZ, attention: alignment, excluded: excluded)
    }

    /// out[r, s] = probs[r, head, 0, s], or the mean over heads h of probs[r, h, 0, s], for
    /// probabilities [R, H, 1, S] (entries past a row's source length are undefined).
    private func alignmentAttention(_ probs: Tensor, rows: Int, heads: Int, keys s: Int, head: Int?, into out: UnsafeMutablePointer<Float>) {
        if let head {
            for r in 0..<rows { (out + r * s).update(from: probs.pointer + (r * heads + head) * s, count: s) }
            return
        }
        let scale = 1 / Float(heads)
        for r in 0..<rows {
            let o = out + r * s
            o.initialize(repeating: 0, count: s)
            for h in 0..<heads {
                let p = probs.pointer + (r * heads + h) * s
                for j in 0..<s { o[j] += p[j] }
            }
            for j in 0..<s { o[j] *= scale }
        }
    }

    /// Log-probabilities [R, V] of the next token after `tokens`: `step`'s logits minus their
    /// normalisers, with <pad>, <unk> and <s> at −∞ (they are never generated, as fairseq forbids
    /// <pad>; the rest keep their log-probabilities, so scores equal forced decoding's).
    public func stepLogProbabilities(_ tokens: [Int32], state: DecoderState) -> Tensor {
        let next = step(tokens, state: state)
        let (logits, logZ) = (next.logits, next.logZ)
        let v = config.vocabularySize
        for r in 0..<state.rows {
            let row = logits.pointer + r * v
            for j in 0..<v { row[j] -= logZ[r] }
            row[Int(Vocabulary.padding)] = -.infinity
            row[Int(Vocabulary.unknown)] = -.infinity
            row[Int(Vocabulary.beginOfSentence)] = -.infinity
        }
        return logits
    }

    /// Runs `layer(i, &x)` for each of a stack's layers without a backward pass: a layer's
    /// activations die with it, so its output is copied into one of two buffers before its
    /// temporaries are released. Returns the last layer's output.
    private func runLayers(_ count: Int, _ x: Tensor, arena: Arena, _ layer: (Int, inout Tensor) -> Void) -> Tensor {
        var x = x
        let buffers = (arena.tensor(x.shape), arena.tensor(x.shape))
        for i in 0..<count {
            let temporaries = arena.mark()
            layer(i, &x)
            let kept = i % 2 == 0 ? buffers.0 : buffers.1
            kept.copy(from: x)
            arena.release(to: temporaries)
            x = kept
        }
        return x
    }
}
