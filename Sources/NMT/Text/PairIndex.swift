// PairIndex: numbers the symbol pairs BPE learning meets (pair key → dense id), in an
// open-addressing table with a multiplicative hash. Swift's Dictionary hashes every UInt64
// with SipHash; this lookup was a fifth of `nmt bpe learn`. Per-pair data then lives in plain
// arrays indexed by the id.

struct PairIndex {
    private var keys: [UInt64]
    private var ids: [Int32]
    private var mask: Int
    private var shift: UInt64
    private(set) var count = 0
    private static let empty = UInt64.max

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        ids = [Int32](repeating: -1, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The id of `key`, or nil.
    @inline(__always)
    func id(_ key: UInt64) -> Int32? {
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return ids[i] }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }

    /// The id of `key`, giving it the next id (`count` before the call) if it is new.
    @inline(__always)
    mutating func insert(_ key: UInt64) -> (id: Int32, isNew: Bool) {
        precondition(key != Self.empty)
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return (ids[i], false) }
            if k == Self.empty { break }
            i = (i + 1) & mask
        }
        let id = Int32(count)
        keys[i] = key
        ids[i] = id
        count += 1
        if count * 2 > keys.count { grow() }
        return (id, true)
    }

    private mutating func grow() {
        let oldKeys = keys, oldIds = ids
        let size = keys.count * 2
        keys = [UInt64](repeating: Self.empty, count: size)
        ids = [Int32](repeating: -1, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
        for (k, id) in zip(oldKeys, oldIds) where k != Self.empty {
            var i = slot(k)
            while keys[i] != Self.empty { i = (i + 1) & mask }
            keys[i] = k
            ids[i] = id
        }
    }
}
