// ParallelCorpus: two aligned text files read once into compact token-id arrays (one flat array
// and an offset table per side — no per-sentence objects), after checking that the files align
// and filtering pairs that would hurt training.

import Foundation

public struct ParallelCorpus: Sendable {
    public private(set) var sourceIds: [Int32] = []
    public private(set) var sourceOffsets: [Int] = [0]
    public private(set) var targetIds: [Int32] = []
    public private(set) var targetOffsets: [Int] = [0]
    /// Raw text, kept only when BPE-dropout re-segments sentences every time they are used.
    public private(set) var sourceText: [String]? = nil
    public private(set) var targetText: [String]? = nil
    /// Word alignments for guided-alignment training: pair i's links as AlignmentLinks.parse gives
    /// them, at `alignmentIds[alignmentOffsets[i]..<alignmentOffsets[i + 1]]`; nil: the corpus has
    /// none (a pair of a combined corpus whose part had none has no links).
    public private(set) var alignmentIds: [Int32] = []
    public private(set) var alignmentOffsets: [Int]? = nil

    /// The corpora it was made of (`combine`), each with its pairs and how often an epoch draws
    /// them; one corpus drawn once by default.
    public struct Part: Sendable, Equatable {
        public var name: String
        public var range: Range<Int>
        public var weight: Double
        /// Whether its pairs have word alignments.
        public var aligned = false
    }
    private var combinedParts: [Part]? = nil
    public var parts: [Part] { combinedParts ?? [Part(name: "", range: 0..<count, weight: 1, aligned: alignmentOffsets != nil)] }

    public var count: Int { sourceOffsets.count - 1 }
    public func source(_ i: Int) -> ArraySlice<Int32> { sourceIds[sourceOffsets[i]..<sourceOffsets[i + 1]] }
    public func target(_ i: Int) -> ArraySlice<Int32> { targetIds[targetOffsets[i]..<targetOffsets[i + 1]] }
    public func sourceLength(_ i: Int) -> Int { sourceOffsets[i + 1] - sourceOffsets[i] }
    public func targetLength(_ i: Int) -> Int { targetOffsets[i + 1] - targetOffsets[i] }
    /// Pair i's word links (flat source, target index pairs), if the corpus has alignments.
    public func alignment(_ i: Int) -> ArraySlice<Int32>? {
        guard let offsets = alignmentOffsets, combinedParts?.first(where: { $0.range.contains(i) })?.aligned ?? true else { return nil }
        return alignmentIds[offsets[i]..<offsets[i + 1]]
    }

    public struct Statistics: Sendable, Equatable {
        public var lines = 0
        public var kept = 0
        public var empty = 0
        public var tooLong = 0
        public var badRatio = 0
    }

    /// Number of lines ("\n"-terminated, plus a final unterminated one) without decoding.
    public static func countLines(_ path: String) throws -> Int {
        let reader = try LineReader(path: path)
        var n = 0
        while try reader.nextLine({ _ in () }) != nil { n += 1 }
        return n
    }

    /// The corpora one after another, as parts of the result with their names and weights.
    public static func combine(_ corpora: [(corpus: ParallelCorpus, name: String, weight: Double)]) -> ParallelCorpus {
        var out = ParallelCorpus()
        var parts: [Part] = []
        if corpora.contains(where: { $0.corpus.sourceText != nil }) { out.sourceText = []; out.targetText = [] }
        if corpora.contains(where: { $0.corpus.alignmentOffsets != nil }) { out.alignmentOffsets = [0] }
        for (corpus, name, weight) in corpora {
            let first = out.count
            out.sourceOffsets += corpus.sourceOffsets.dropFirst().map { $0 + out.sourceIds.count }
            out.targetOffsets += corpus.targetOffsets.dropFirst().map { $0 + out.targetIds.count }
            out.sourceIds += corpus.sourceIds
            out.targetIds += corpus.targetIds
            out.sourceText? += corpus.sourceText ?? []
            out.targetText? += corpus.targetText ?? []
            if out.alignmentOffsets != nil {
                out.alignmentOffsets! += corpus.alignmentOffsets?.dropFirst().map { $0 + out.alignmentIds.count }
                    ?? Array(repeating: out.alignmentIds.count, count: corpus.count)
                out.alignmentIds += corpus.alignmentIds
            }
            parts.append(Part(name: name, range: first..<out.count, weight: weight, aligned: corpus.alignmentOffsets != nil))
        }
        out.combinedParts = parts
        return out
    }

    /// Reads and tokenizes `sourcePath`/`targetPath`. Pairs with an empty side, a side longer than
    /// `maxLength` tokens, or a length ratio above `maxLengthRatio` are dropped and counted.
    /// `sourceTag`: a word put before every source line (with a space), as if the file had it.
    /// `alignmentPath`: a Moses-format word alignment of each pair (AlignmentLinks), checked line
    /// by line against the pair's words.
    public static func load(sourcePath: String, targetPath: String, tokenizer: any Tokenizer, maxLength: Int,
                            maxLengthRatio: Double, keepText: Bool = false, sourceTag: String? = nil,
                            alignmentPath: String? = nil) throws -> (ParallelCorpus, Statistics) {
        let sourceLines = try countLines(sourcePath), targetLines = try countLines(targetPath)
        guard sourceLines == targetLines else {
            throw NMTError("\(sourcePath) has \(sourceLines) lines but \(targetPath) has \(targetLines); the files must be aligned line by line")
        }
        if let alignmentPath {
            let alignmentLines = try countLines(alignmentPath)
            guard alignmentLines == sourceLines else {
                throw NMTError("\(alignmentPath) has \(alignmentLines) lines but \(sourcePath) has \(sourceLines); the alignment needs one line per sentence pair")
            }
        }
        var corpus = ParallelCorpus()
        if keepText { corpus.sourceText = []; corpus.targetText = [] }
        if alignmentPath != nil { corpus.alignmentOffsets = [0] }
        var stats = Statistics()
        let sourceReader = try LineReader(path: sourcePath), targetReader = try LineReader(path: targetPath)
        let alignmentReader = try alignmentPath.map { try LineReader(path: $0) }
        let workers = Threads.count
        var encoders = (0..<workers).map { _ in (source: tokenizer.makeEncoder(for: .source), target: tokenizer.makeEncoder(for: .target)) }
        let blockSize = 16384
        while true {
            var sources: [String] = [], targets: [String] = [], alignments: [[Int32]] = []
            while sources.count < blockSize, let s = try sourceReader.nextString() {
                guard let t = try targetReader.nextString() else { break }
                if let alignmentReader, let line = try alignmentReader.nextString() {
                    let lineNumber = stats.lines + sources.count + 1
                    switch AlignmentLinks.parse(Substring(line), sourceWords: AlignmentLinks.wordCount(s), targetWords: AlignmentLinks.wordCount(t)) {
                    case .success(let links): alignments.append(links)
                    case .failure(let error): throw NMTError("\(alignmentPath!):\(lineNumber): \(error.message)")
                    }
                }
                // A tag goes before a line with words only: a blank line stays empty (and is dropped).
                sources.append(sourceTag.map { Translator.isBlank(s) ? s : $0 + " " + s } ?? s)
                targets.append(t)
            }
            if sources.isEmpty { break }
            var encodedSources = [[Int32]](repeating: [], count: sources.count)
            var encodedTargets = [[Int32]](repeating: [], count: sources.count)
            encodedSources.withUnsafeMutableBufferPointer { es in
                encodedTargets.withUnsafeMutableBufferPointer { et in
                    encoders.withUnsafeMutableBufferPointer { encs in
                        nonisolated(unsafe) let es = es, et = et, encs = encs
                        let (s, t) = (sources, targets)
                        Threads.parallelFor(workers) { w in
                            for i in (s.count * w / workers)..<(s.count * (w + 1) / workers) {
                                es[i] = encs[w].source.encode(s[i])
                                et[i] = encs[w].target.encode(t[i])
                            }
                        }
                    }
                }
            }
            for i in 0..<sources.count {
                stats.lines += 1
                let (s, t) = (encodedSources[i], encodedTargets[i])
                if s.isEmpty || t.isEmpty { stats.empty += 1; continue }
                if s.count > maxLength || t.count > maxLength { stats.tooLong += 1; continue }
                if Double(max(s.count, t.count)) / Double(min(s.count, t.count)) > maxLengthRatio { stats.badRatio += 1; continue }
                corpus.sourceIds += s
                corpus.sourceOffsets.append(corpus.sourceIds.count)
                corpus.targetIds += t
                corpus.targetOffsets.append(corpus.targetIds.count)
                if keepText { corpus.sourceText!.append(sources[i]); corpus.targetText!.append(targets[i]) }
                if alignmentPath != nil {
                    corpus.alignmentIds += alignments[i]
                    corpus.alignmentOffsets!.append(corpus.alignmentIds.count)
                }
                stats.kept += 1
            }
        }
        return (corpus, stats)
    }
}
