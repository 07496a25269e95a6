// BPELearner: learns byte-pair merges (Sennrich et al. 2016) from a table of word frequencies.
//
// Both word representations (subword-nmt's `</w>` words and nmt's raw-text `▁` words) feed it
// words as arrays of symbol ids. Each step merges the most frequent adjacent pair; ties go to the
// pair that is larger as strings compared by code point — subword-nmt's max((frequency, pair)).
//
// Speed: pair counts are kept exactly and updated incrementally. An index maps each pair to the
// words containing it, so a merge touches only those words; a max-heap with lazy deletion finds
// the best pair (an entry is stale when its count no longer matches the table). No recount.
// Pairs are numbered once (PairIndex); counts, word lists and marks are arrays by pair id.

public struct BPELearner {
    /// Symbol id → its text (for subword-nmt, the last character of a word carries `</w>`).
    public private(set) var symbols: [String]
    private var symbolScalars: [[UInt32]]
    /// Keyed by code points: Swift's String equality would merge canonically equivalent texts.
    private var symbolIds: [[UInt32]: Int32]
    private var words: [[Int32]]
    private var frequencies: [Int]
    private var pairs = PairIndex()
    private var pairKey: [UInt64] = []
    private var pairCount: [Int] = []
    private var wordsWithPair: [[Int32]] = []
    /// The merge step that last changed a pair's count (to collect each changed pair once).
    private var changedAt: [Int32] = []
    private var heap = BinaryHeap<HeapEntry>()
    /// Symbols that may not take part in any pair (nmt's byte-fallback placeholder).
    private let barrier: Int32?
    /// Pairs whose merged text must never become a symbol (it would collide with a reserved token).
    private let isForbidden: (String) -> Bool

    private struct HeapEntry {
        var count: Int
        var pair: Int32
    }

    /// - Parameters:
    ///   - symbols: initial symbol texts (ids are indices).
    ///   - words: (symbol ids, frequency) per distinct word.
    ///   - barrier: a symbol id that never pairs.
    public init(symbols: [String], words: [([Int32], Int)], barrier: Int32? = nil,
                isForbidden: @escaping (String) -> Bool = { _ in false }) {
        self.symbols = symbols
        symbolScalars = symbols.map { $0.unicodeScalars.map(\.value) }
        symbolIds = Dictionary(uniqueKeysWithValues: symbols.enumerated().map { ($1.unicodeScalars.map(\.value), Int32($0)) })
        self.words = words.map(\.0)
        frequencies = words.map(\.1)
        self.barrier = barrier
        self.isForbidden = isForbidden
        for (w, word) in self.words.enumerated() where word.count > 1 {
            for k in 0..<(word.count - 1) {
                guard let key = key(word[k], word[k + 1]) else { continue }
                let pair = pairId(key)
                pairCount[pair] += frequencies[w]
                wordsWithPair[pair].append(Int32(w))
            }
        }
        push(0..<pairCount.count)
    }

    /// The id of a pair, numbering it if new.
    @inline(__always)
    private mutating func pairId(_ key: UInt64) -> Int {
        let (id, isNew) = pairs.insert(key)
        if isNew {
            pairKey.append(key)
            pairCount.append(0)
            wordsWithPair.append([])
            changedAt.append(-1)
        }
        return Int(id)
    }

    @inline(__always)
    private func key(_ a: Int32, _ b: Int32) -> UInt64? {
        if a == barrier || b == barrier { return nil }
        return UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// A merge: the two symbols and the text of the merged symbol.
    public struct Merge: Equatable, Sendable {
        public var left: String
        public var right: String
        public var frequency: Int
    }

    /// Learns up to `merges` merges, stopping early when the best pair is rarer than `minFrequency`
    /// (or no pair is left).
    public mutating func learn(merges: Int, minFrequency: Int) -> [Merge] {
        var result: [Merge] = []
        var lastVisit = [Int32](repeating: -1, count: words.count)
        var changed: [Int] = []
        while result.count < merges, let best = popBest() {
            guard best.count >= minFrequency else { break }
            let bestPair = Int(best.pair)
            let (a, b) = (Int32(truncatingIfNeeded: pairKey[bestPair] >> 32), Int32(truncatingIfNeeded: pairKey[bestPair] & 0xFFFF_FFFF))
            let mergedText = symbols[Int(a)] + symbols[Int(b)]
            if isForbidden(mergedText) {
                pairCount[bestPair] = 0
                continue
            }
            result.append(Merge(left: symbols[Int(a)], right: symbols[Int(b)], frequency: best.count))
            let merged = symbolId(mergedText)
            let step = Int32(result.count)
            changed.removeAll(keepingCapacity: true)
            let affected = wordsWithPair[bestPair]
            wordsWithPair[bestPair] = []
            for w in affected {
                let w = Int(w)
                if lastVisit[w] == step { continue }
                lastVisit[w] = step
                let frequency = frequencies[w]
                guard words[w].indices.dropLast().contains(where: { words[w][$0] == a && words[w][$0 + 1] == b }) else { continue }
                // The word is taken out of `words` while it changes, so it is edited in place
                // (no copy) while the pair tables are updated.
                var word = words[w]
                words[w] = []
                for k in 0..<(word.count - 1) {
                    guard let key = key(word[k], word[k + 1]), let pair = pairs.id(key).map(Int.init) else { continue }
                    pairCount[pair] -= frequency
                    if changedAt[pair] != step { changedAt[pair] = step; changed.append(pair) }
                }
                // Non-overlapping, left to right: "a a a" with (a, a) becomes "aa a", as subword-nmt
                // does. In place: the merged word is never longer than what has been read.
                var length = 0, k = 0
                while k < word.count {
                    if k + 1 < word.count && word[k] == a && word[k + 1] == b {
                        word[length] = merged
                        k += 2
                    } else {
                        word[length] = word[k]
                        k += 1
                    }
                    length += 1
                }
                word.removeLast(word.count - length)
                for k in 0..<max(0, word.count - 1) {
                    guard let key = key(word[k], word[k + 1]) else { continue }
                    let pair = pairId(key)
                    pairCount[pair] += frequency
                    if changedAt[pair] != step { changedAt[pair] = step; changed.append(pair) }
                    if word[k] == merged || word[k + 1] == merged {
                        wordsWithPair[pair].append(Int32(w))
                    }
                }
                words[w] = word
            }
            push(changed)
        }
        return result
    }

    private mutating func symbolId(_ text: String) -> Int32 {
        let scalars = text.unicodeScalars.map(\.value)
        if let id = symbolIds[scalars] { return id }
        let id = Int32(symbols.count)
        symbols.append(text)
        symbolScalars.append(scalars)
        symbolIds[scalars] = id
        return id
    }

    // MARK: max-heap ordered by (count, pair text)

    /// The heap's order: higher count, or equal count and larger pair text.
    private var ranksAbove: (HeapEntry, HeapEntry) -> Bool {
        let (pairKey, symbolScalars) = (self.pairKey, self.symbolScalars)
        return { x, y in
            if x.count != y.count { return x.count > y.count }
            if x.pair == y.pair { return false }
            let (xKey, yKey) = (pairKey[Int(x.pair)], pairKey[Int(y.pair)])
            let (xa, xb) = (Int(xKey >> 32), Int(xKey & 0xFFFF_FFFF))
            let (ya, yb) = (Int(yKey >> 32), Int(yKey & 0xFFFF_FFFF))
            if xa != ya { return symbolScalars[xa].lexicographicallyPrecedes(symbolScalars[ya]) == false }
            return symbolScalars[xb].lexicographicallyPrecedes(symbolScalars[yb]) == false
        }
    }

    /// Puts the current count of each of `pairs` that still occurs on the heap.
    private mutating func push<S: Sequence<Int>>(_ pairs: S) {
        let order = ranksAbove
        for pair in pairs where pairCount[pair] > 0 { heap.push(HeapEntry(count: pairCount[pair], pair: Int32(pair)), above: order) }
    }

    /// The best pair whose heap entry is current (stale entries are dropped on the way).
    private mutating func popBest() -> HeapEntry? {
        let order = ranksAbove
        while let top = heap.pop(above: order) {
            let current = pairCount[Int(top.pair)]
            if current == top.count && current > 0 { return top }
        }
        return nil
    }
}
