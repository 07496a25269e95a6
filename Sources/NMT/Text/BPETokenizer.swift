// BPETokenizer: nmt's own byte-pair encoding of raw, untokenized UTF-8 text — lossless.
//
// Words come from the Pretokenizer (▁ marks where spaces stood). Characters outside the kept
// inventory, and literal ▁, are spelled as byte tokens <0x00>…<0xFF>, which never merge; so
// nothing ever becomes <unk> and decode(encode(x)) == x for every line.
//
// Codes file (one file holds everything needed to rebuild the tokenizer exactly):
//   #nmt-bpe: 1
//   #characters: ["▁","e","a",…]      the kept characters, JSON, in vocabulary order
//   ▁ t                                 one merge per line: two symbols and one space
//   …

import Foundation

public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    public static let header = "#nmt-bpe: 1"
    public let vocabulary: Vocabulary
    /// Kept characters in vocabulary order, and the merges in rank order (as symbol texts).
    public let characters: [String]
    public let merges: [(left: String, right: String)]
    private let characterIds: [UInt32: Int32]
    /// (left id << 32 | right id) → merge number → (rank, merged id).
    private let mergeIndex: PairIndex
    private let mergeRules: [(rank: Int32, result: Int32)]

    /// Builds the tokenizer from its characters and merges; fails if a merge names an unknown symbol.
    public init(characters: [String], merges: [(left: String, right: String)], source: String = "codes",
                mergeLineOffset: Int = 0) throws {
        self.characters = characters
        self.merges = merges
        vocabulary = Vocabulary.build(characters: characters, mergeResults: merges.map { $0.left + $0.right })
        var characterIds: [UInt32: Int32] = [:]
        for c in characters {
            let scalars = Array(c.unicodeScalars)
            guard scalars.count == 1 else { throw NMTError("\(source):2: '\(c)' is not a single character") }
            characterIds[scalars[0].value] = vocabulary.id(c)!
        }
        self.characterIds = characterIds
        var index = PairIndex(capacity: merges.count)
        var rules: [(rank: Int32, result: Int32)] = []
        for (rank, merge) in merges.enumerated() {
            guard let left = vocabulary.id(merge.left), let right = vocabulary.id(merge.right),
                  Vocabulary.byte(of: left) == nil, Vocabulary.byte(of: right) == nil, left >= Vocabulary.firstCharacter,
                  right >= Vocabulary.firstCharacter else {
                throw NMTError("\(source):\(mergeLineOffset + rank + 1): merge '\(merge.left) \(merge.right)' uses a symbol that is not a character or an earlier merge")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if index.insert(key).isNew { rules.append((Int32(rank), vocabulary.id(merge.left + merge.right)!)) }
        }
        mergeIndex = index
        mergeRules = rules
    }

    // MARK: codes file

    public var codesText: String {
        let json = String(decoding: try! JSONEncoder().encode(characters), as: UTF8.self)
        return Self.header + "\n#characters: " + json + "\n" + merges.map { "\($0.left) \($0.right)\n" }.joined()
    }

    /// Parses a codes file's text; errors name `source` and the line. Lines end at "\n" only,
    /// so every symbol a merge can hold ("\r", U+0085, U+2028, NUL…) reads back as written; a file
    /// saved with CRLF line ends (its header line ends in "\r") loses one "\r" per line. The text
    /// must end with "\n", as the writer leaves it: one that stops mid-line was cut short.
    public convenience init(codesText: String, source: String) throws {
        guard Self.isCodesText(codesText) else {
            throw NMTError("\(source):1: not an nmt BPE codes file (expected '\(Self.header)')")
        }
        var lines = codesText.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard lines.last == "" else {
            throw NMTError("\(source):\(lines.count): the file ends in the middle of a line (truncated?)")
        }
        lines.removeLast()
        if lines[0].hasSuffix("\r") { lines = lines.map { $0.hasSuffix("\r") ? String($0.utf8.dropLast())! : $0 } }
        guard lines.count >= 2, lines[1].hasPrefix("#characters: "),
              let characters = try? JSONDecoder().decode([String].self, from: Data(lines[1].utf8.dropFirst("#characters: ".utf8.count))) else {
            throw NMTError("\(source):2: expected '#characters: [JSON array of characters]'")
        }
        var merges: [(String, String)] = []
        for (k, line) in lines.dropFirst(2).enumerated() {
            let fields = line.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw NMTError("\(source):\(k + 3): malformed merge line (expected two symbols separated by one space)")
            }
            merges.append((String(decoding: fields[0], as: UTF8.self), String(decoding: fields[1], as: UTF8.self)))
        }
        try self.init(characters: characters, merges: merges, source: source, mergeLineOffset: 2)
    }

    public convenience init(path: String) throws {
        try self.init(codesText: try readTextFile(path: path), source: path)
    }

    /// Whether `text` is in this format: its first line is the header (with LF or CRLF line ends).
    public static func isCodesText(_ text: String) -> Bool {
        let first = text.utf8.prefix { $0 != 0x0A }
        return first.elementsEqual(header.utf8) || first.elementsEqual((header + "\r").utf8)
    }

    // MARK: learning

    /// Learns a joint BPE from raw text files: the character inventory (by `characterCoverage`,
    /// as SentencePiece's setting: the most frequent characters covering that share of all
    /// character occurrences), then `merges` merges (stopping at `minFrequency`).
    public static func learn(files: [String], merges: Int, minFrequency: Int = 2,
                             characterCoverage: Double = 0.9999) throws -> BPETokenizer {
        require(merges > 0 && characterCoverage > 0 && characterCoverage <= 1,
                "BPETokenizer.learn: \(merges) merges, character coverage \(characterCoverage) (callers check both)")
        let counts = try WordCounts.count(files: files)
        if counts.words.isEmpty { throw NMTError("\(files.joined(separator: ", ")): no text to learn from (empty corpus)") }

        // Character inventory.
        var characterCounts: [UInt32: Int] = [:]
        for (word, frequency) in zip(counts.words, counts.frequencies) {
            for c in word where c != Pretokenizer.literalMarker { characterCounts[c, default: 0] += frequency }
        }
        let ranked = characterCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let total = ranked.reduce(0) { $0 + $1.value }
        var kept: [UInt32] = []
        var covered = 0
        for (c, n) in ranked {
            if Double(covered) >= characterCoverage * Double(total) { break }
            kept.append(c)
            covered += n
        }
        if !kept.contains(Pretokenizer.marker) { kept.insert(Pretokenizer.marker, at: 0) }
        let characters = kept.map { String(Unicode.Scalar($0)!) }

        // Words over symbol ids: kept characters, and one barrier for everything spelled in bytes.
        let index = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, Int32($0)) })
        let barrier = Int32(kept.count)
        let words = zip(counts.words, counts.frequencies).map { word, frequency in
            (word.map { index[$0] ?? barrier }, frequency)
        }
        var learner = BPELearner(symbols: characters + ["\u{0}<bytes>"], words: words, barrier: barrier,
                                 isForbidden: Vocabulary.isReserved)
        let learned = learner.learn(merges: merges, minFrequency: minFrequency)
        return try BPETokenizer(characters: characters, merges: learned.map { ($0.left, $0.right) })
    }

    // MARK: encoding and decoding

    /// A per-thread encoder with its own word cache.
    public func makeEncoder(for side: TextSide) -> any TokenEncoder { BPEEncoder(tokenizer: self) }

    public var kind: TokenizerKind { .nmtBPE }
    public var data: String { codesText }

    /// Initial ids of one word: kept characters, or the UTF-8 bytes of anything else.
    @inline(__always)
    func appendInitialIds(_ c: UInt32, to ids: inout [Int32]) {
        if let id = characterIds[c] { ids.append(id); return }
        let scalar = c == Pretokenizer.literalMarker ? Unicode.Scalar(Pretokenizer.marker)! : Unicode.Scalar(c)!
        for byte in String(scalar).utf8 { ids.append(Vocabulary.firstByte + Int32(byte)) }
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> (rank: Int32, result: Int32)? {
        mergeIndex.id(UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))).map { mergeRules[Int($0)] }
    }

    /// Text of token ids: byte tokens become raw bytes, ▁ becomes a space, specials are dropped,
    /// and the ▁ that encoding put at the start of the line is removed. Invalid UTF-8 from byte
    /// tokens (possible in model output) becomes U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            if let byte = Vocabulary.byte(of: id) { bytes.append(byte); continue }
            if id < Vocabulary.firstByte || Int(id) >= vocabulary.count { continue }
            for scalar in vocabulary[id].unicodeScalars {
                if scalar.value == Pretokenizer.marker { bytes.append(0x20) } else { bytes.append(contentsOf: String(scalar).utf8) }
            }
        }
        if bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func decode(segmented line: String) -> Result<String, NMTError> { ids(pieces: line).map(decode) }

    /// The pieces of `ids` as `apply` prints them: vocabulary entries separated by single spaces.
    public func pieceText(_ ids: [Int32]) -> String {
        ids.map { vocabulary[$0] }.joined(separator: " ")
    }

    /// Ids of a line of `apply` output (pieces separated by single spaces); nil names the first unknown piece.
    public func ids(pieces line: String) -> Result<[Int32], NMTError> {
        if line.isEmpty { return .success([]) }
        var ids: [Int32] = []
        // Split on the space byte, not on Characters: a space followed by a combining mark is
        // one Character but two pieces.
        for piece in line.utf8.split(separator: 0x20, omittingEmptySubsequences: false) {
            guard let id = vocabulary.id(utf8: Array(piece)) else {
                return .failure(NMTError("unknown piece '\(String(decoding: piece, as: UTF8.self))'"))
            }
            ids.append(id)
        }
        return .success(ids)
    }
}

/// Encodes lines into token ids with a cache of whole words (not shared between threads).
public struct BPEEncoder: TokenEncoder {
    public let tokenizer: BPETokenizer
    /// Cached words: their ids, and their pieces as UTF-8 text joined by spaces (for `apply`).
    private var cache = WordTable()
    private var cachedIds: [[Int32]] = []
    private var cachedText: [[UInt8]] = []
    /// Caching stops growing past this many words (bounded memory on endless input).
    private let cacheLimit = 1 << 20

    init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

    /// The cache entry of a word (encoding it on first sight), or nil when the cache is full.
    private mutating func cached(_ word: ArraySlice<UInt32>) -> Int? {
        let h = WordTable.hash(word)
        if let index = cache.find(word, hash: h) { return index }
        if cache.count >= cacheLimit { return nil }
        var unused = RandomGenerator(seed: 0)
        let ids = encodeWord(word, dropout: 0, rng: &unused)
        cache.insert(word, hash: h)
        cachedIds.append(ids)
        cachedText.append(Array(tokenizer.pieceText(ids).utf8))
        return cachedIds.count - 1
    }

    /// Token ids of a raw line. With `dropout` > 0 each merge is skipped with that probability
    /// (BPE-dropout, Provilkov et al. 2020), drawing from `rng`; with 0 it is plain BPE.
    public mutating func encode(_ line: String, dropout: Double = 0, rng: inout RandomGenerator) -> [Int32] {
        let symbols = Pretokenizer.symbols(line)
        var ids: [Int32] = []
        ids.reserveCapacity(symbols.count)
        for range in Pretokenizer.words(symbols) {
            if dropout == 0, let entry = cached(symbols[range]) {
                ids.append(contentsOf: cachedIds[entry])
            } else {
                ids.append(contentsOf: encodeWord(symbols[range], dropout: dropout, rng: &rng))
            }
        }
        return ids
    }

    public mutating func encode(_ line: String) -> [Int32] {
        var unused = RandomGenerator(seed: 0)
        return encode(line, dropout: 0, rng: &unused)
    }

    /// A line's pieces as `nmt bpe apply` prints them: UTF-8, separated by single spaces.
    public mutating func appendSegmented(_ line: String, dropout: Double, rng: inout RandomGenerator, to out: inout [UInt8]) {
        if dropout > 0 { return out.append(contentsOf: tokenizer.pieceText(encode(line, dropout: dropout, rng: &rng)).utf8) }
        appendPieces(of: line, to: &out)
    }

    /// Appends a line's pieces (plain BPE) as `apply` prints them: UTF-8, separated by single spaces.
    mutating func appendPieces(of line: String, to out: inout [UInt8]) {
        let symbols = Pretokenizer.symbols(line)
        var first = true
        for range in Pretokenizer.words(symbols) {
            if !first { out.append(0x20) }
            first = false
            if let entry = cached(symbols[range]) {
                out.append(contentsOf: cachedText[entry])
            } else {
                var unused = RandomGenerator(seed: 0)
                let ids = encodeWord(symbols[range], dropout: 0, rng: &unused)
                out.append(contentsOf: tokenizer.pieceText(ids).utf8)
            }
        }
    }

    /// Merges the lowest-ranked adjacent pair, every occurrence left to right, until none applies.
    private func encodeWord(_ word: ArraySlice<UInt32>, dropout: Double, rng: inout RandomGenerator) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(word.count * 2)
        for c in word { tokenizer.appendInitialIds(c, to: &ids) }
        while ids.count > 1 {
            var bestRank = Int32.max, bestResult: Int32 = 0, bestLeft: Int32 = 0, bestRight: Int32 = 0
            var survivors: [Int]? = dropout > 0 ? [] : nil
            for k in 0..<(ids.count - 1) {
                guard let rule = tokenizer.merge(ids[k], ids[k + 1]) else { continue }
                if dropout > 0 {
                    if Double(rng.nextUnitFloat()) < dropout { continue }
                    survivors!.append(k)
                }
                if rule.rank < bestRank { (bestRank, bestResult, bestLeft, bestRight) = (rule.rank, rule.result, ids[k], ids[k + 1]) }
            }
            if bestRank == Int32.max { break }
            var merged: [Int32] = []
            merged.reserveCapacity(ids.count)
            var k = 0
            var survivorIndex = 0
            while k < ids.count {
                var mergeHere = k + 1 < ids.count && ids[k] == bestLeft && ids[k + 1] == bestRight
                if mergeHere, let survivors {
                    // Under dropout only the occurrences that survived this round merge.
                    while survivorIndex < survivors.count && survivors[survivorIndex] < k { survivorIndex += 1 }
                    mergeHere = survivorIndex < survivors.count && survivors[survivorIndex] == k
                }
                if mergeHere {
                    merged.append(bestResult)
                    k += 2
                } else {
                    merged.append(ids[k])
                    k += 1
                }
            }
            ids = merged
        }
        return ids
    }
}

/// Distinct pretokenized words of some files and their frequencies, in first-seen order.
struct WordCounts {
    private var table = WordTable()
    var frequencies: [Int] = []
    var words: [[UInt32]] { table.words }

    mutating func add(_ word: ArraySlice<UInt32>, _ frequency: Int) {
        let (index, isNew) = table.insert(word, hash: WordTable.hash(word))
        if isNew { frequencies.append(frequency) } else { frequencies[index] += frequency }
    }

    /// Files are counted in parallel, then merged in file order (the same result as one pass).
    static func count(files: [String]) throws -> WordCounts {
        var perFile = [Result<WordCounts, Error>](repeating: .success(WordCounts()), count: files.count)
        perFile.withUnsafeMutableBufferPointer { results in
            nonisolated(unsafe) let results = results
            Threads.parallelFor(files.count) { f in
                results[f] = Result { try countFile(files[f]) }
            }
        }
        var total = WordCounts()
        for result in perFile {
            let counts = try result.get()
            if files.count == 1 { return counts }
            for (word, frequency) in zip(counts.words, counts.frequencies) { total.add(word[...], frequency) }
        }
        return total
    }

    private static func countFile(_ path: String) throws -> WordCounts {
        var counts = WordCounts()
        let reader = try LineReader(path: path)
        while let line = try reader.nextString() {
            let symbols = Pretokenizer.symbols(line)
            for range in Pretokenizer.words(symbols) { counts.add(symbols[range], 1) }
        }
        return counts
    }
}
