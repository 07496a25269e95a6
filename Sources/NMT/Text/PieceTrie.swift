// PieceTrie: pieces (byte strings) with their ids as a trie over bytes — the matches of every
// piece that starts at a position, shortest first, for SentencePiece's segmentation and its
// user-defined symbols.

struct PieceTrie: Sendable {
    /// Child of `node` by `byte`, keyed node << 8 | byte.
    private var children: [Int: Int32] = [:]
    /// The id of the piece ending at each node, or -1.
    private var ids: [Int32] = [-1]

    init(_ pieces: [(bytes: [UInt8], id: Int)]) {
        for (bytes, id) in pieces where !bytes.isEmpty {
            var node = 0
            for byte in bytes {
                let key = node << 8 | Int(byte)
                if let child = children[key] {
                    node = Int(child)
                } else {
                    children[key] = Int32(ids.count)
                    node = ids.count
                    ids.append(-1)
                }
            }
            if ids[node] < 0 { ids[node] = Int32(id) }
        }
    }

    var isEmpty: Bool { children.isEmpty }

    /// Calls `body(length, id)` for every piece that input[start...] begins with, shortest first.
    func forEachPrefix(_ input: [UInt8], from start: Int, _ body: (_ length: Int, _ id: Int) -> Void) {
        var node = 0
        var i = start
        while i < input.count, let child = children[node << 8 | Int(input[i])] {
            node = Int(child)
            i += 1
            if ids[node] >= 0 { body(i - start, Int(ids[node])) }
        }
    }

    /// The length of the longest piece input[start...] begins with, or nil.
    func longestMatch(_ input: [UInt8], from start: Int) -> Int? {
        var longest: Int? = nil
        forEachPrefix(input, from: start) { length, _ in longest = length }
        return longest
    }
}
