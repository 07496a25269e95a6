// IncrementalDecoder: runs the decoder one target position at a time for R hypotheses, caching
// each layer's self-attention keys and values, so step t costs O(t) instead of re-running the
// prefix. Cross-attention keys and values are projected once per source sentence and shared by
// that sentence's hypotheses.
//
// Each step runs the model's own DecoderLayers with a cache (the layer that training runs over
// whole sequences), so there is one implementation of each operation.
//
// The self-attention cache is a tree of positions. Each step gives every hypothesis a new node —
// one position's keys and values for every layer, [L, 2, C] — and a hypothesis's prefix is its
// path of nodes, paths[r, 0…t]. Beam search reorders hypotheses, widens beams and drops finished
// sentences with `select(parents:)`: a continuation copies its parent's path (indices, not keys),
// so the beams of a sentence share the positions where their prefixes agree, and a node nobody's
// path holds any more goes back to a free list. The cache holds the distinct prefixes' positions —
// measured 3.3× less than a copy per hypothesis with beam 5 — and attention reads keys and values
// along the paths (Kernels: gathered_attention.c). Cross-attention keys/values are [B, S, C] per
// layer; row r reads sentence sentenceOfRow[r].

public final class IncrementalDecoder {
    let model: Transformer
    /// Hypotheses currently decoded (R); shrinks as sentences finish.
    private(set) var rows: Int
    let capacity: Int
    let maxLength: Int       // Tmax positions cached
    let sourceLength: Int    // S
    private(set) var position = 0
    /// Nodes [capacity·Tmax, L, 2, C]: node n's layer-l keys at selfCache + n·nodeStride + 2l·C, values after them.
    private let selfCache: UnsafeMutablePointer<Float>
    private let nodeStride: Int
    /// [capacity, Tmax]: row r's prefix is nodes paths[r·Tmax + 0…position−1].
    private var paths: UnsafeMutablePointer<Int32>
    private var pathScratch: UnsafeMutablePointer<Int32>
    /// How many rows' paths hold each node; a node at 0 is free.
    private let references: UnsafeMutablePointer<Int32>
    /// A stack of the free nodes below `nodesTouched`, `freeCount` deep.
    private let freeNodes: UnsafeMutablePointer<Int32>
    private var freeCount = 0
    private var nodesTouched = 0
    /// Positions the self-attention cache holds: distinct nodes on the live hypotheses' paths.
    var nodesInUse: Int { nodesTouched - freeCount }
    private var crossKeys: [UnsafeMutablePointer<Float>] = []
    private var crossValues: [UnsafeMutablePointer<Float>] = []
    private let sentenceOfRow: UnsafeMutablePointer<Int32>  // [R]
    private let sourcePadding: UnsafeMutablePointer<UInt8>  // [R, S], row r's sentence's padding
    private let paddingScratch: UnsafeMutablePointer<UInt8> // [R, S]
    private let sentenceScratch: UnsafeMutablePointer<Int32> // [R]
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
        for (r, b) in sentenceOf.enumerated() {
            (self.sourcePadding + r * s).update(from: sourcePadding + b * s, count: s)
            sentenceOfRow[r] = Int32(b)
        }
        paddingScratch = memory.bytes(self.capacity * s)
        sentenceScratch = memory.ids(self.capacity)
        // Room for the worst case, no prefix shared; only the pages of nodes in use become resident.
        nodeStride = 2 * model.config.decoderLayers * c
        selfCache = workspace.selfAttention.reserve(self.capacity * maxLength * nodeStride)
        paths = memory.ids(self.capacity * maxLength)
        pathScratch = memory.ids(self.capacity * maxLength)
        references = memory.ids(self.capacity * maxLength)
        freeNodes = memory.ids(self.capacity * maxLength)
        // Project the encoder output once per source sentence.
        let sentences = encoderOutput.rows / s
        for layer in model.weights.decoder {
            let keys = memory.floats(sentences * s * c), values = memory.floats(sentences * s * c)
            MultiHeadAttention.projectKeyValues(.float32(encoderOutput), weights: layer.crossAttention, keys: Tensor(keys, Shape(sentences * s, c)),
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
        // This position's node for every row: the layers write its keys and values.
        for r in 0..<rows {
            let node: Int32
            if freeCount > 0 {
                freeCount -= 1
                node = freeNodes[freeCount]
            } else {
                node = Int32(nodesTouched)
                nodesTouched += 1
            }
            references[Int(node)] = 1
            paths[r * maxLength + position] = node
        }
        let buffers = (arena.tensor(x.shape), arena.tensor(x.shape))
        for (l, layer) in model.decoderLayers.enumerated() {
            let temporaries = arena.mark()
            // Self-attention over the row's path of positions, this one included; cross-attention
            // over its sentence's keys (sentenceOfRow[r]).
            let cache = DecoderLayerCache(
                selfAttention: AttentionCache(keyValues: KeyValues(keys: selfCache + 2 * l * c, values: selfCache + (2 * l + 1) * c,
                                                                   count: position + 1, rowStride: nodeStride, paths: paths, pathStride: maxLength),
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
        // Each continuation takes its parent's path; nodes no path holds any more are freed.
        let length = position
        for (i, p) in parents.enumerated() {
            let path = pathScratch + i * maxLength
            path.update(from: paths + p * maxLength, count: length)
            for t in 0..<length { references[Int(path[t])] += 1 }
        }
        for r in 0..<rows {
            let path = paths + r * maxLength
            for t in 0..<length {
                let node = Int(path[t])
                references[node] -= 1
                if references[node] == 0 {
                    freeNodes[freeCount] = Int32(node)
                    freeCount += 1
                }
            }
        }
        swap(&paths, &pathScratch)
        rows = parents.count
    }
}
