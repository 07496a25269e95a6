// WordTable: distinct words (sequences of code points) numbered in first-seen order, found
// through an open-addressing table with a multiplicative hash. Swift's Dictionary hashes array
// keys with SipHash and allocates a key per lookup; for BPE's word counts and word caches that
// was a quarter of the run time.

struct WordTable {
    private(set) var words: [[UInt32]] = []
    private var hashes: [UInt64] = []
    private var slots = [Int32](repeating: -1, count: 1 << 12)

    var count: Int { words.count }

    @inline(__always)
    static func hash(_ word: ArraySlice<UInt32>) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(word.count + 1)
        for c in word { h = (h ^ UInt64(c)) &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 29 }
        return h
    }

    /// The number of `word` (with its `hash`), or the free slot where it would go.
    @inline(__always)
    private func probe(_ word: ArraySlice<UInt32>, _ h: UInt64) -> (index: Int?, slot: Int) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h >> 7) & mask
        while true {
            let w = Int(slots[i])
            if w < 0 { return (nil, i) }
            if hashes[w] == h && words[w].elementsEqual(word) { return (w, i) }
            i = (i + 1) & mask
        }
    }

    func find(_ word: ArraySlice<UInt32>, hash h: UInt64) -> Int? { probe(word, h).index }

    /// The number of `word`, numbering it if new.
    @discardableResult
    mutating func insert(_ word: ArraySlice<UInt32>, hash h: UInt64) -> (index: Int, isNew: Bool) {
        let (index, slot) = probe(word, h)
        if let index { return (index, false) }
        slots[slot] = Int32(words.count)
        words.append(Array(word))
        hashes.append(h)
        if words.count * 2 > slots.count { grow() }
        return (words.count - 1, true)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = slots.count - 1
        for (w, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h >> 7) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(w)
        }
    }
}
