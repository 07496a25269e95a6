// IncrementalDecoder: runs the decoder one target position at a time for R hypotheses, caching
// each layer's self-attention keys and values, so step t costs O(t) instead of re-running the
// prefix. Cross-attention keys and values are projected once per source sentence and shared by
// that sentence's hypotheses.
//
// Each step runs the model's own DecoderLayers with a cache (the layer that training runs over
// whole sequences), so there is one implementation of each operation.
//
// Caches: self-attention keys and values [capacity, L, 2, Tmax, C] — hypothesis r's prefix lives in
// slot slotOfRow[r], one page-aligned block per slot — and crossKeys/crossValues [B, S, C] per
// layer (row r reads sentence sentenceOfRow[r]). Beam search reorders hypotheses and drops
// finished sentences with `select(parents:)`, so later steps only compute rows that are still
// searching. A hypothesis takes over its parent's slot; only a second continuation of the same
// parent copies the prefix (into a freed slot), so reordering and dropping move almost no memory.
// A slot left empty gives its pages back, so the cache holds about live hypotheses × positions,
// not capacity × the longest output allowed (measured: 5× less on long batches).

public final class IncrementalDecoder {
    let model: Transformer
    /// Hypotheses currently decoded (R); shrinks as sentences finish.
    private(set) var rows: Int
    let capacity: Int
    let maxLength: Int       // Tmax positions cached
    let sourceLength: Int    // S
    private(set) var position = 0
    /// [capacity, L, 2, Tmax, C]: slot s at selfCache + s·slotStride; layer l's keys, then values.
    private let selfCache: UnsafeMutablePointer<Float>
    private let slotStride: Int
    private var crossKeys: [UnsafeMutablePointer<Float>] = []
    private var crossValues: [UnsafeMutablePointer<Float>] = []
    private let sentenceOfRow: UnsafeMutablePointer<Int32>  // [R]
    private let slotOfRow: UnsafeMutablePointer<Int32>      // [R]: where row r's self-attention cache lives
    private let sourcePadding: UnsafeMutablePointer<UInt8>  // [R, S], row r's sentence's padding
    private let paddingScratch: UnsafeMutablePointer<UInt8> // [R, S]
    private let sentenceScratch: UnsafeMutablePointer<Int32> // [R]
    private let slotScratch: UnsafeMutablePointer<Int32>     // [R]
    private var slotTaken: [Bool]
    let arena: Arena
    /// Owns the memory behind the caches (kept alive as long as the decoder).
    private let workspace: DecodingWorkspace

    /// `encoderOutput` is [B·S, C]; hypothesis r belongs to source sentence `sentenceOf[r]`.
    /// `capacity` (default: as many as `sentenceOf`) is the most hypotheses `select` may ask for.
    /// Caches are taken from `workspace.batch` (valid until its next reset) and each step's
    /// activations from `workspace.step`.
    init(model: Transformer, encoderOutput: Tensor, sourcePadding: UnsafePointer<UInt8>, sourceLength: Int,
         sentenceOf: [Int], maxLength: Int, capacity: Int? = nil, workspace: DecodingWorkspace = DecodingWorkspace()) {
        self.model = model
        rows = sentenceOf.count
        self.capacity = max(capacity ?? rows, rows)
        self.maxLength = maxLength
        self.sourceLength = sourceLength
        let c = model.config.dModel
        let s = sourceLength
        self.workspace = workspace
        let memory = workspace.batch
        arena = workspace.step
        self.sourcePadding = memory.bytes(self.capacity * s)
        sentenceOfRow = memory.ids(self.capacity)
        slotOfRow = memory.ids(self.capacity)
        for (r, b) in sentenceOf.enumerated() {
            (self.sourcePadding + r * s).update(from: sourcePadding + b * s, count: s)
            sentenceOfRow[r] = Int32(b)
            slotOfRow[r] = Int32(r)
        }
        paddingScratch = memory.bytes(self.capacity * s)
        sentenceScratch = memory.ids(self.capacity)
        slotScratch = memory.ids(self.capacity)
        slotTaken = [Bool](repeating: false, count: self.capacity)
        let layers = model.config.decoderLayers
        slotStride = (2 * layers * maxLength * c + PageMemory.pageFloats - 1) / PageMemory.pageFloats * PageMemory.pageFloats
        selfCache = workspace.selfAttention.reserve(self.capacity * slotStride)
        // Project the encoder output once per source sentence.
        let sentences = encoderOutput.rows / s
        for layer in model.weights.decoder {
            let keys = memory.floats(sentences * s * c), values = memory.floats(sentences * s * c)
            MultiHeadAttention.projectKeyValues(encoderOutput, weights: layer.crossAttention, keys: Tensor(keys, Shape(sentences * s, c)),
                                                values: Tensor(values, Shape(sentences * s, c)))
            crossKeys.append(keys)
            crossValues.append(values)
        }
    }

    /// Log-probabilities [R, V] of the next token after feeding `tokens` (one per hypothesis) at
    /// the current position; <pad>, <unk> and <s> get −∞. Valid until the next call.
    func step(_ tokens: [Int32]) -> Tensor {
        let (logits, logZ) = stepLogits(tokens)
        let v = model.config.vocabularySize
        for r in 0..<rows {
            let row = logits.pointer + r * v
            for j in 0..<v { row[j] -= logZ[r] }
            // <pad>, <unk> and <s> are never generated (as fairseq forbids <pad>); the rest keep
            // their log-probabilities, so scores stay equal to forced decoding's.
            row[Int(Vocabulary.padding)] = -.infinity
            row[Int(Vocabulary.unknown)] = -.infinity
            row[Int(Vocabulary.beginOfSentence)] = -.infinity
        }
        return logits
    }

    /// What search reads: the logits [R, V] and each row's log-normaliser, so that log p(j) =
    /// logits[r, j] − logZ[r] (the same Float subtraction as `step`) is formed only for the
    /// few tokens a search looks at. Valid until the next call.
    func stepLogits(_ tokens: [Int32]) -> (logits: Tensor, logZ: UnsafeMutablePointer<Float>) {
        require(tokens.count == rows, "IncrementalDecoder.step: \(tokens.count) tokens for \(rows) hypotheses")
        require(position < maxLength && position < model.config.maxPositions, "IncrementalDecoder.step: position \(position) beyond the cache")
        arena.reset()
        let c = model.config.dModel
        let ids = arena.ids(rows)
        for (r, t) in tokens.enumerated() { ids[r] = t }
        var (x, _) = model.embed(ids, count: rows, length: 1, positionOffset: position, dropout: nil, arena: arena)
        // Each layer's output goes into one of two buffers and its temporaries are released.
        let buffers = (arena.tensor(x.shape), arena.tensor(x.shape))
        for (l, layer) in model.decoderLayers.enumerated() {
            let temporaries = arena.mark()
            // Self-attention over the cached prefix plus this position (row r's prefix in slot slotOfRow[r]);
            // cross-attention over its sentence's keys (sentenceOfRow[r]).
            let cache = DecoderLayerCache(
                selfAttention: AttentionCache(keyValues: KeyValues(keys: selfCache + 2 * l * maxLength * c,
                                                                   values: selfCache + (2 * l + 1) * maxLength * c, count: position + 1,
                                                                   blockStride: slotStride, rowStride: c, blocks: slotOfRow),
                                              writePosition: position),
                crossAttention: AttentionCache(keyValues: KeyValues(keys: crossKeys[l], values: crossValues[l], count: sourceLength,
                                                                    blockStride: sourceLength * c, rowStride: c, blocks: sentenceOfRow),
                                               writePosition: nil))
            _ = layer.forward(&x, memory: nil, cache: cache, batch: rows, queries: 1, selfMask: AttentionMask(),
                              crossMask: AttentionMask(keyPadding: sourcePadding), dropout: nil, arena: arena)
            let kept = l % 2 == 0 ? buffers.0 : buffers.1
            kept.copy(from: x)
            arena.release(to: temporaries)
            x = kept
        }
        x = model.finalNorm(x, model.weights.decoderNorm, arena: arena).1
        let logits = arena.tensor(Shape(rows, model.config.vocabularySize))
        linearForward(logits, x, weight: model.weights.outputProjection, bias: nil)
        let logZ = arena.floats(rows)
        logNormalizers(logits, into: logZ)
        position += 1
        return (logits, logZ)
    }

    /// The next step decodes `parents.count` hypotheses; hypothesis i continues current hypothesis
    /// `parents[i]`. Reorders the beams, widens them (up to `capacity`) and drops finished
    /// sentences' rows (pass fewer parents).
    func select(parents: [Int]) {
        require(parents.count <= capacity && parents.allSatisfy { (0..<rows).contains($0) },
                "IncrementalDecoder.select: parents outside 0..<\(rows)")
        let s = sourceLength
        for (i, p) in parents.enumerated() {
            paddingScratch.advanced(by: i * s).update(from: sourcePadding + p * s, count: s)
            sentenceScratch[i] = sentenceOfRow[p]
        }
        sourcePadding.update(from: paddingScratch, count: parents.count * s)
        sentenceOfRow.update(from: sentenceScratch, count: parents.count)
        // The first continuation of each parent takes over the parent's slot.
        for slot in 0..<capacity { slotTaken[slot] = false }
        var copies: [Int] = []
        for (i, p) in parents.enumerated() {
            let slot = Int(slotOfRow[p])
            if slotTaken[slot] { copies.append(i); continue }
            slotTaken[slot] = true
            slotScratch[i] = Int32(slot)
        }
        // Further continuations copy the parent's prefix into a slot nobody continues. The parent's
        // slot is not written before the next step, so it is a safe source.
        var free = (0..<capacity).filter { !slotTaken[$0] }
        let c = model.config.dModel, length = position * c
        for i in copies {
            let from = selfCache + Int(slotOfRow[parents[i]]) * slotStride, to = free.removeLast()
            for part in 0..<(2 * model.config.decoderLayers) {
                (selfCache + to * slotStride + part * maxLength * c).update(from: from + part * maxLength * c, count: length)
            }
            slotTaken[to] = true
            slotScratch[i] = Int32(to)
        }
        // Slots whose hypotheses ended give their pages back.
        for r in 0..<rows where !slotTaken[Int(slotOfRow[r])] {
            PageMemory.discard(selfCache + Int(slotOfRow[r]) * slotStride, slotStride)
            slotTaken[Int(slotOfRow[r])] = true  // once
        }
        slotOfRow.update(from: slotScratch, count: parents.count)
        rows = parents.count
    }
}
