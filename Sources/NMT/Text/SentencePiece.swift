// SentencePiece: sentencepiece 0.2.3's encoding and decoding of a model file, byte for byte —
// what `spm_encode` and `spm_decode` print, and what OPUS-MT's and Marian's models read text with.
//
//   encode:  normalize (SentencePieceNormalizer) → segment the normalized bytes:
//            unigram  the best path through every piece that matches (Viterbi over UTF-8
//                     positions: sentencepiece's optimized encoder), an unknown character a piece
//                     of its own scored min score − 10, user-defined symbols scored length·max − 0.1
//            BPE      repeatedly merge the adjacent pair whose merged piece scores highest (ties:
//                     leftmost), user-defined symbols never merged; unused pieces split back
//            → an unknown piece becomes its UTF-8 bytes' <0xXX> pieces (byte fallback), or one
//              unknown piece with its neighbours (merged runs)
//   decode:  control pieces vanish, <unk> becomes " ⁇ ", byte pieces become bytes (a malformed
//            sequence U+FFFD each), ▁ becomes a space, and the first piece's leading ▁ goes.
// Scores are float32 and compared as sentencepiece's C++ compares them.

public final class SentencePiece: Sendable {
    public let model: SentencePieceModel
    private let normalizer: SentencePieceNormalizer
    private let denormalizer: SentencePieceNormalizer?
    /// Normal, user-defined and unused pieces (what segmentation may produce).
    private let pieces: PieceTrie
    private let pieceIds: [[UInt8]: Int]
    /// Control, unknown and byte pieces.
    private let reservedIds: [[UInt8]: Int]
    private let userDefined: PieceTrie?
    public let unknownId: Int
    private let minScore: Float, maxScore: Float

    public convenience init(path: String) throws {
        try self.init(try SentencePieceModel(contentsOf: path), source: path)
    }

    public init(_ model: SentencePieceModel, source: String) throws {
        self.model = model
        var normal: [(bytes: [UInt8], id: Int)] = [], symbols: [(bytes: [UInt8], id: Int)] = []
        var ids: [[UInt8]: Int] = [:], reserved: [[UInt8]: Int] = [:]
        var (minScore, maxScore) = (Float.greatestFiniteMagnitude, Float.leastNormalMagnitude)
        var unknown = 0
        for (id, piece) in model.pieces.enumerated() {
            let bytes = Array(piece.text.utf8)
            switch piece.type {
            case .normal, .userDefined, .unused:
                normal.append((bytes, id))
                ids[bytes] = id
                if piece.type == .userDefined { symbols.append((bytes, id)) }
                if piece.type == .normal { (minScore, maxScore) = (min(minScore, piece.score), max(maxScore, piece.score)) }
            case .unknown, .control, .byte:
                reserved[bytes] = id
                if piece.type == .unknown { unknown = id }
            }
        }
        pieces = PieceTrie(normal)
        (pieceIds, reservedIds, unknownId) = (ids, reserved, unknown)
        (self.minScore, self.maxScore) = (minScore, maxScore)
        userDefined = symbols.isEmpty ? nil : PieceTrie(symbols)
        normalizer = try SentencePieceNormalizer(model.normalizer, whitespaceAsSuffix: model.treatWhitespaceAsSuffix, userDefined: userDefined,
                                                 source: source)
        denormalizer = try model.denormalizer.flatMap {
            $0.precompiledCharsmap.isEmpty ? nil : try SentencePieceNormalizer($0, source: source)
        }
    }

    /// The id of a piece (unknown pieces: the unknown id).
    public func id(ofPiece piece: String) -> Int {
        let bytes = Array(piece.utf8)
        return reservedIds[bytes] ?? pieceIds[bytes] ?? unknownId
    }

    /// The pieces of `text` and their ids, as sentencepiece's Encode gives them.
    public func encode(_ text: String) -> [(piece: String, id: Int)] {
        let normalized = normalizer.normalize(Array(text.utf8))
        let segments = model.algorithm == .bpe ? segmentBPE(normalized) : segmentUnigram(normalized)
        var out: [(piece: String, id: Int)] = []
        var previousUnknown = false
        for (range, id) in segments {
            let isUnknown = id == unknownId
            if isUnknown && model.byteFallback {
                for byte in normalized[range] {
                    let piece = Vocabulary.byteToken(byte)
                    out.append((piece, self.id(ofPiece: piece)))
                }
            } else if isUnknown && previousUnknown {
                out[out.count - 1].piece += String(decoding: normalized[range], as: UTF8.self)
            } else {
                out.append((String(decoding: normalized[range], as: UTF8.self), id))
            }
            previousUnknown = isUnknown
        }
        return out
    }

    /// The best path over the normalized bytes (sentencepiece's EncodeOptimized).
    private func segmentUnigram(_ text: [UInt8]) -> [(Range<Int>, Int)] {
        if text.isEmpty { return [] }
        let unknownScore = minScore - 10
        var bestId = [Int](repeating: -1, count: text.count + 1)
        var bestScore = [Float](repeating: 0, count: text.count + 1)
        var bestStart = [Int](repeating: -1, count: text.count + 1)
        var start = 0
        while start < text.count {
            let scoreHere = bestScore[start]
            let characterLength = SentencePieceUTF8.length(text, at: start)
            var hasSingleNode = false
            pieces.forEachPrefix(text, from: start) { length, id in
                let piece = model.pieces[id]
                if piece.type == .unused { return }
                let end = start + length
                // A user-defined symbol gets a bonus so that it is always chosen (in double, as C++ computes it).
                let better: Bool, score: Float
                if piece.type == .userDefined {
                    let candidate = Double(Float(length) * maxScore) - 0.1 + Double(scoreHere)
                    better = bestStart[end] == -1 || candidate > Double(bestScore[end])
                    score = Float(candidate)
                } else {
                    score = piece.score + scoreHere
                    better = bestStart[end] == -1 || score > bestScore[end]
                }
                if better { (bestScore[end], bestStart[end], bestId[end]) = (score, start, id) }
                if length == characterLength { hasSingleNode = true }
            }
            if !hasSingleNode {
                let end = start + characterLength, score = unknownScore + scoreHere
                if bestStart[end] == -1 || score > bestScore[end] { (bestScore[end], bestStart[end], bestId[end]) = (score, start, unknownId) }
            }
            start += characterLength
        }
        var segments: [(Range<Int>, Int)] = []
        var end = text.count
        while end > 0 {
            segments.append((bestStart[end]..<end, bestId[end]))
            end = bestStart[end]
        }
        return segments.reversed()
    }

    /// BPE merges over the normalized bytes (sentencepiece's bpe::Model::SampleEncode, no dropout).
    private func segmentBPE(_ text: [UInt8]) -> [(Range<Int>, Int)] {
        struct Symbol { var prev, next: Int; var freeze: Bool; var start, length: Int }
        struct Pair { var left, right: Int; var score: Float; var size: Int }
        var symbols: [Symbol] = []
        var position = 0
        while position < text.count {
            let frozen = userDefined?.longestMatch(text, from: position)
            let length = frozen ?? SentencePieceUTF8.length(text, at: position)
            let index = symbols.count
            symbols.append(Symbol(prev: index - 1, next: position + length < text.count ? index + 1 : -1, freeze: frozen != nil,
                                  start: position, length: length))
            position += length
        }
        if symbols.isEmpty { return [] }
        // The agenda: highest score first, then leftmost.
        var agenda = BinaryHeap<Pair>()
        let above = { (a: Pair, b: Pair) in a.score > b.score || (a.score == b.score && a.left < b.left) }
        var splits: [[UInt8]: ([UInt8], [UInt8])] = [:]  // an unused merged piece → its two parts
        func addPair(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, !symbols[left].freeze, !symbols[right].freeze else { return }
            let piece = Array(text[symbols[left].start..<(symbols[right].start + symbols[right].length)])
            guard let id = pieceIds[piece] else { return }
            agenda.push(Pair(left: left, right: right, score: model.pieces[id].score, size: piece.count), above: above)
            if model.pieces[id].type == .unused {
                splits[piece] = (Array(text[symbols[left].start..<(symbols[left].start + symbols[left].length)]),
                                 Array(text[symbols[right].start..<(symbols[right].start + symbols[right].length)]))
            }
        }
        for i in 1..<symbols.count { addPair(i - 1, i) }
        while let top = agenda.pop(above: above) {
            let (l, r) = (top.left, top.right)
            if symbols[l].length == 0 || symbols[r].length == 0 || symbols[l].length + symbols[r].length != top.size { continue }
            symbols[l].length += symbols[r].length
            symbols[l].next = symbols[r].next
            if symbols[r].next >= 0 { symbols[symbols[r].next].prev = l }
            symbols[r].length = 0
            addPair(symbols[l].prev, l)
            addPair(l, symbols[l].next)
        }
        var segments: [(Range<Int>, Int)] = []
        func resegment(_ start: Int, _ piece: ArraySlice<UInt8>) {
            let bytes = Array(piece)
            let id = reservedIds[bytes] ?? pieceIds[bytes] ?? unknownId
            if model.pieces[id].type == .unused, let (left, right) = splits[bytes] {
                resegment(start, left[...])
                resegment(start + left.count, right[...])
                return
            }
            segments.append((start..<(start + bytes.count), id))
        }
        var index = 0
        while index != -1 {
            resegment(symbols[index].start, text[symbols[index].start..<(symbols[index].start + symbols[index].length)])
            index = symbols[index].next
        }
        return segments
    }

    /// The text of `ids` (sentencepiece's DecodeIds); an id outside the model is skipped.
    public func decode(ids: [Int]) -> String {
        decode(pieces: ids.filter { $0 >= 0 && $0 < model.pieces.count }.map { model.pieces[$0].text })
    }

    /// The text of `pieces` (sentencepiece's DecodePieces).
    public func decode(pieces: [String]) -> String {
        var text: [UInt8] = []
        var bytes: [UInt8] = []
        func flushBytes() {
            var offset = 0
            while offset < bytes.count {
                let (valid, length) = SentencePieceUTF8.decode(bytes, at: offset)
                text.append(contentsOf: valid ? Array(bytes[offset..<(offset + length)]) : [0xEF, 0xBF, 0xBD])
                offset += length
            }
            bytes.removeAll()
        }
        var isBeginning = true, beginningSpaceSeen = false
        let space = SentencePieceNormalizer.spaceSymbol
        for piece in pieces {
            let id = self.id(ofPiece: piece)
            let type = model.pieces[id].type
            if type == .byte {
                bytes.append(SentencePieceModel.byte(ofPiece: model.pieces[id].text)!)
                continue
            }
            flushBytes()
            if beginningSpaceSeen || !text.isEmpty { isBeginning = false }
            switch type {
            case .control:
                beginningSpaceSeen = false
            case .unknown:
                text.append(contentsOf: Array((model.pieces[id].text == piece ? model.unknownSurface : piece).utf8))
                beginningSpaceSeen = false
            default:
                var p = Array(piece.utf8)[...]
                var consumed = false
                if isBeginning && (model.normalizer.addDummyPrefix || model.normalizer.removeExtraWhitespaces) && p.starts(with: space) {
                    p = p.dropFirst(space.count)
                    consumed = !model.normalizer.removeExtraWhitespaces
                }
                var i = p.startIndex
                while i < p.endIndex {
                    if p[i...].starts(with: space) { text.append(0x20); i += space.count } else { text.append(p[i]); i += 1 }
                }
                beginningSpaceSeen = consumed
            }
        }
        flushBytes()
        if let denormalizer { text = denormalizer.normalize(text) }
        return String(decoding: text, as: UTF8.self)
    }
}
