// Exact n-gram matching by sorting windows once.
//
// Every position of a sentence starts a window of up to `maxOrder` symbols, packed losslessly
// into a 128-bit key with the first symbol in the most significant slot (an empty slot is 0).
// Sorting the windows once sorts the n-grams of every order at the same time: n-grams with the
// same first n symbols are contiguous, so each order is a walk over one sorted array. Matching a
// hypothesis against references is a merge. No hashing, nothing approximate, and the result does
// not depend on thread count.

struct NGramKey: Comparable {
    var high: UInt64
    var low: UInt64
    static func < (a: NGramKey, b: NGramKey) -> Bool { a.high < b.high || (a.high == b.high && a.low < b.low) }
    @inline(__always) func masked(_ m: NGramKey) -> NGramKey { NGramKey(high: high & m.high, low: low & m.low) }
}

/// How symbols are packed: `slotsPerWord` slots of `bits` bits in each 64-bit half.
struct WindowLayout {
    let maxOrder: Int
    let bits: Int
    let slotsPerWord: Int
    /// masks[n − 1] keeps the first n slots; lastSlots[n − 1] keeps slot n − 1 alone.
    let masks: [NGramKey]
    let lastSlots: [NGramKey]

    init(maxOrder: Int, bits: Int) {
        self.maxOrder = maxOrder
        self.bits = bits
        slotsPerWord = (maxOrder + 1) / 2
        require(slotsPerWord * bits <= 64, "WindowLayout: \(maxOrder) slots of \(bits) bits do not fit in 128 bits")
        var masks: [NGramKey] = []
        for n in 1...maxOrder {
            var m = NGramKey(high: 0, low: 0)
            for slot in 0..<n { m = NGramKey(high: m.high | Self.slotValue(slot, all: true, slotsPerWord, bits).high,
                                              low: m.low | Self.slotValue(slot, all: true, slotsPerWord, bits).low) }
            masks.append(m)
        }
        self.masks = masks
        lastSlots = (0..<maxOrder).map { n in
            n == 0 ? masks[0] : NGramKey(high: masks[n].high & ~masks[n - 1].high, low: masks[n].low & ~masks[n - 1].low)
        }
    }

    private static func slotValue(_ slot: Int, all: Bool, _ perWord: Int, _ bits: Int) -> NGramKey {
        let ones: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) - 1
        let shift = UInt64(bits * (perWord - 1 - slot % perWord))
        return slot < perWord ? NGramKey(high: ones << shift, low: 0) : NGramKey(high: 0, low: ones << shift)
    }

    /// The sorted windows of `symbols` (each symbol must be non-zero and fit in `bits` bits).
    func sortedWindows(_ symbols: [UInt64]) -> [NGramKey] {
        var keys: [NGramKey] = []
        keys.reserveCapacity(symbols.count)
        for start in 0..<symbols.count {
            var key = NGramKey(high: 0, low: 0)
            for slot in 0..<min(maxOrder, symbols.count - start) {
                let shift = UInt64(bits * (slotsPerWord - 1 - slot % slotsPerWord))
                if slot < slotsPerWord { key.high |= symbols[start + slot] << shift } else { key.low |= symbols[start + slot] << shift }
            }
            keys.append(key)
        }
        keys.sort()
        return keys
    }

    /// True if the window holds at least n symbols (its slot n − 1 is filled).
    @inline(__always)
    func hasOrder(_ key: NGramKey, _ n: Int) -> Bool {
        let last = lastSlots[n - 1]
        return (key.high & last.high) | (key.low & last.low) != 0
    }

    /// Number of order-n n-grams in sorted windows.
    func count(_ windows: [NGramKey], order n: Int) -> Int {
        windows.reduce(0) { $0 + (hasOrder($1, n) ? 1 : 0) }
    }

    /// Σ over distinct hypothesis n-grams g of min(count_hyp(g), max_r count_r(g)): clipped matches
    /// of order n against one or more references. Masking to a prefix keeps sorted order, and a
    /// window shorter than n never equals a full n-gram (its empty slot is 0), so a merge suffices.
    func clippedMatches(_ hypothesis: [NGramKey], _ references: [[NGramKey]], order n: Int) -> Int {
        let mask = masks[n - 1], last = lastSlots[n - 1]
        return hypothesis.withUnsafeBufferPointer { hyp in
            var positions = (0, 0, 0, 0)  // merge positions for up to four references without allocating
            var overflow = [Int](repeating: 0, count: max(0, references.count - 4))
            var matches = 0
            var i = 0
            while i < hyp.count {
                guard (hyp[i].high & last.high) | (hyp[i].low & last.low) != 0 else { i += 1; continue }
                let gram = hyp[i].masked(mask)
                var hypothesisCount = 0
                while i < hyp.count && hyp[i].masked(mask) == gram { hypothesisCount += 1; i += 1 }
                var best = 0
                for r in 0..<references.count {
                    var j: Int
                    switch r {
                    case 0: j = positions.0
                    case 1: j = positions.1
                    case 2: j = positions.2
                    case 3: j = positions.3
                    default: j = overflow[r - 4]
                    }
                    let count = references[r].withUnsafeBufferPointer { ref -> Int in
                        while j < ref.count && ref[j].masked(mask) < gram { j += 1 }
                        var c = 0
                        while j < ref.count && ref[j].masked(mask) == gram { c += 1; j += 1 }
                        return c
                    }
                    switch r {
                    case 0: positions.0 = j
                    case 1: positions.1 = j
                    case 2: positions.2 = j
                    case 3: positions.3 = j
                    default: overflow[r - 4] = j
                    }
                    best = max(best, count)
                }
                matches += min(hypothesisCount, best)
            }
            return matches
        }
    }
}

/// `statistics(hypothesis, its references)` for every segment, computed in parallel, in order.
func perSegment(hypotheses: [String], references: [[String]], metric: String,
                _ statistics: (String, [String]) -> [Int]) -> [[Int]] {
    require(references.allSatisfy { $0.count == hypotheses.count }, "\(metric): every reference set needs one line per hypothesis")
    var result = [[Int]](repeating: [], count: hypotheses.count)
    result.withUnsafeMutableBufferPointer { out in
        nonisolated(unsafe) let out = out
        Threads.parallelChunks(hypotheses.count, minChunk: 256) { range in
            for i in range { out[i] = statistics(hypotheses[i], references.map { $0[i] }) }
        }
    }
    return result
}
