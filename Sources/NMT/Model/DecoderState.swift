// DecoderState: what the decoder keeps between the steps of decoding R hypotheses one target
// position at a time (Transformer.step) — each layer's self-attention keys and values of the
// positions decoded so far, so step t costs O(t) instead of re-running the prefix, and the
// cross-attention keys and values, projected once per source sentence and shared by that
// sentence's hypotheses (Transformer.decoderState). As CTranslate2's DecoderState.
//
// The self-attention cache is a tree of positions. Each step gives every hypothesis a new node —
// one position's keys and values for every layer, [L, 2, C] — and a hypothesis's prefix is its
// path of nodes, paths[r, 0…t]. Search reorders hypotheses, widens beams and drops finished
// sentences with `select(parents:)`: a continuation copies its parent's path (indices, not keys),
// so the beams of a sentence share the positions where their prefixes agree, and a node nobody's
// path holds any more goes back to a free list. The cache holds the distinct prefixes' positions —
// measured 3.3× less than a copy per hypothesis with beam 5 — and attention reads keys and values
// along the paths (Kernels: gathered_attention.c). Cross-attention keys/values are [B, S, C] per
// layer; row r reads sentence sentenceOfRow[r].

public final class DecoderState {
    /// Hypotheses currently decoded (R); shrinks as sentences finish.
    public private(set) var rows: Int
    let capacity: Int
    let maxLength: Int       // Tmax positions cached
    public let sourceLength: Int    // S
    /// Positions decoded so far (the next step's position).
    public internal(set) var position = 0
    /// Nodes [capacity·Tmax, L, 2, C]: node n's layer-l keys at selfCache + n·nodeStride + 2l·C, values after them.
    private let selfCache: UnsafeMutablePointer<Float>
    private let nodeStride: Int
    private let dModel: Int
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
    /// The source sentence row r continues.
    func sentence(ofRow r: Int) -> Int { Int(sentenceOfRow[r]) }
    /// The output vocabulary under a shortlist (nil: the whole vocabulary).
    var restriction: RestrictedOutput?
    /// Each source sentence's positions (tokens and </s>).
    private let sentencePositions: [Int]
    public func sourcePositions(of b: Int) -> Int { sentencePositions[b] }
    /// [R, S]: row r's sentence's source padding.
    let sourcePadding: UnsafeMutablePointer<UInt8>
    private let paddingScratch: UnsafeMutablePointer<UInt8> // [R, S]
    private let sentenceScratch: UnsafeMutablePointer<Int32> // [R]
    /// Each step's activations (reset by every step).
    let arena: Arena
    /// Owns the memory behind the caches (kept alive as long as the state).
    private let workspace: DecodingWorkspace

    /// Caches for hypotheses `sentenceOf` (row r belongs to source sentence `sentenceOf[r]` of
    /// `encoded`), at most `capacity` rows at once (`select` may widen to it) and `maxLength`
    /// positions. `project(l, keys, values)` fills layer l's cross-attention keys and values
    /// [B·S, C]. Caches come from `workspace.batch` (valid until its next reset), each step's
    /// activations from `workspace.step`.
    init(encoded: EncodedSources, sentenceOf: [Int], maxLength: Int, capacity: Int, layers: Int, dModel c: Int, workspace: DecodingWorkspace,
         project: (_ layer: Int, _ keys: Tensor, _ values: Tensor) -> Void) {
        rows = sentenceOf.count
        self.capacity = max(capacity, rows)
        self.maxLength = maxLength
        let s = encoded.length
        sourceLength = s
        sentencePositions = (0..<encoded.count).map { encoded.positions(of: $0) }
        dModel = c
        self.workspace = workspace
        let memory = workspace.batch
        arena = workspace.step
        sourcePadding = memory.bytes(self.capacity * s)
        sentenceOfRow = memory.ids(self.capacity)
        for (r, b) in sentenceOf.enumerated() {
            (sourcePadding + r * s).update(from: encoded.padding + b * s, count: s)
            sentenceOfRow[r] = Int32(b)
        }
        paddingScratch = memory.bytes(self.capacity * s)
        sentenceScratch = memory.ids(self.capacity)
        // Room for the worst case, no prefix shared; only the pages of nodes in use become resident.
        nodeStride = 2 * layers * c
        selfCache = workspace.selfAttention.reserve(self.capacity * maxLength * nodeStride)
        paths = memory.ids(self.capacity * maxLength)
        pathScratch = memory.ids(self.capacity * maxLength)
        references = memory.ids(self.capacity * maxLength)
        freeNodes = memory.ids(self.capacity * maxLength)
        for l in 0..<layers {
            let keys = memory.floats(encoded.count * s * c), values = memory.floats(encoded.count * s * c)
            project(l, Tensor(keys, Shape(encoded.count * s, c)), Tensor(values, Shape(encoded.count * s, c)))
            crossKeys.append(keys)
            crossValues.append(values)
        }
    }

    /// Gives every row a new node for this position (the layers write its keys and values).
    func addPosition() {
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
    }

    /// Layer l's caches this step: self-attention over each row's path of positions, this one
    /// included; cross-attention over its sentence's keys (sentenceOfRow[r]).
    func layerCache(_ l: Int) -> DecoderLayerCache {
        let c = dModel
        return DecoderLayerCache(
            selfAttention: AttentionCache(keyValues: KeyValues(keys: selfCache + 2 * l * c, values: selfCache + (2 * l + 1) * c, count: position + 1,
                                                               rowStride: nodeStride, paths: paths, pathStride: maxLength),
                                          writePosition: position),
            crossAttention: AttentionCache(keyValues: KeyValues(keys: crossKeys[l], values: crossValues[l], count: sourceLength,
                                                                blockStride: sourceLength * c, rowStride: c, blocks: sentenceOfRow),
                                           writePosition: nil))
    }

    /// The next step decodes `parents.count` hypotheses; hypothesis i continues current hypothesis
    /// `parents[i]`. Reorders the beams, widens them (up to `capacity`) and drops finished
    /// sentences' rows (pass fewer parents).
    public func select(parents: [Int]) {
        require(parents.count <= capacity && parents.allSatisfy { (0..<rows).contains($0) },
                "DecoderState.select: parents outside 0..<\(rows)")
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
