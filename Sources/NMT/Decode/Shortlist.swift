// A lexical shortlist (Marian's --shortlist, CTranslate2's vocabulary map): for each source token
// its likeliest target tokens, and the target tokens frequent enough to be allowed always. A
// sentence's output may use only
//   frequent ∪ ⋃_{s ∈ sentence} best(s).prefix(K) ∪ {</s>}
// so a decoding step projects onto those tokens instead of the whole vocabulary (RestrictedOutput).
// The set is a sentence's own, so its translation does not depend on its batch.
//
// File (text, written by `nmt shortlist learn`):
//   nmt-shortlist 1
//   vocabularies <source size> <target size> <checksum of both vocabularies>
//   frequent <id> <id> …
//   then one line per source token id, 0 … source size − 1: its target ids, likeliest first.

import Foundation

public struct Shortlist: Sendable, Equatable {
    /// Target tokens every sentence may produce.
    public var frequent: [Int32]
    /// best[s]: source token s's likeliest target tokens, likeliest first.
    public var best: [[Int32]]
    /// The tokenizer's vocabularies it was learned for (`checksum(of:)`).
    public var vocabularyChecksum: String
    public var targetVocabularySize: Int

    public init(frequent: [Int32], best: [[Int32]], vocabularyChecksum: String, targetVocabularySize: Int) {
        (self.frequent, self.best, self.vocabularyChecksum, self.targetVocabularySize) = (frequent, best, vocabularyChecksum, targetVocabularySize)
    }

    /// The sorted target tokens a sentence of `source` tokens may produce, with each source
    /// token's `size` likeliest.
    public func tokens(for source: [Int32], size: Int) -> [Int32] {
        var allowed = Set(frequent)
        allowed.insert(Vocabulary.endOfSentence)
        for s in source where Int(s) < best.count { allowed.formUnion(best[Int(s)].prefix(size)) }
        return allowed.sorted()
    }

    /// The longest list of a source token (what `size` can usefully be at most).
    public var largestSize: Int { best.map(\.count).max() ?? 0 }

    /// FNV-1a over both vocabularies' tokens: a shortlist fits only the tokenizer it was learned with.
    public static func checksum(of tokenizer: any Tokenizer) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for vocabulary in [tokenizer.sourceVocabulary, tokenizer.vocabulary] {
            for i in 0..<vocabulary.count {
                for byte in vocabulary[Int32(i)].utf8 + [0] { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
            hash = (hash ^ 0xFF) &* 0x100_0000_01B3
        }
        return String(hash, radix: 16)
    }

    // MARK: file

    /// Where a model's shortlist is looked for: beside it, its extension replaced by .shortlist.
    public static func defaultPath(forModel model: String) -> String {
        let url = URL(fileURLWithPath: model)
        let stem = url.pathExtension.isEmpty ? model : String(model.dropLast(url.pathExtension.count + 1))
        return stem + ".shortlist"
    }

    public func text() -> String {
        var out = "nmt-shortlist 1\nvocabularies \(best.count) \(targetVocabularySize) \(vocabularyChecksum)\n"
        out += "frequent" + frequent.map { " \($0)" }.joined() + "\n"
        for list in best { out += list.map(String.init).joined(separator: " ") + "\n" }
        return out
    }

    /// Reads a shortlist file; errors name the file and line.
    public static func load(_ path: String) throws -> Shortlist {
        let reader = try LineReader(path: path)
        var lineNumber = 0
        func next() throws -> String? {
            lineNumber += 1
            return try reader.nextString()
        }
        func fail(_ message: String) -> NMTError { NMTError("\(path):\(lineNumber): \(message)") }
        guard try next() == "nmt-shortlist 1" else { throw fail("not an nmt shortlist (it starts with 'nmt-shortlist 1'; made by nmt shortlist learn)") }
        guard let header = try next()?.split(separator: " "), header.count == 4, header[0] == "vocabularies",
              let sourceSize = Int(header[1]), let targetSize = Int(header[2]), sourceSize > 0, targetSize > 0 else {
            throw fail("expected 'vocabularies SOURCE TARGET CHECKSUM'")
        }
        func ids(_ fields: ArraySlice<Substring>) throws -> [Int32] {
            try fields.map { field in
                guard let id = Int32(field), id >= 0, Int(id) < targetSize else { throw fail("'\(field.prefix(20))' is not a target token id below \(targetSize)") }
                return id
            }
        }
        guard let frequentLine = try next()?.split(separator: " "), frequentLine.first == "frequent" else { throw fail("expected 'frequent ID …'") }
        let frequent = try ids(frequentLine.dropFirst())
        var best: [[Int32]] = []
        best.reserveCapacity(sourceSize)
        while best.count < sourceSize {
            guard let line = try next() else { throw fail("ends after \(best.count) of \(sourceSize) source tokens") }
            best.append(try ids(line.split(separator: " ")[...]))
        }
        if try next() != nil { throw fail("more lines than the \(sourceSize) source tokens") }
        return Shortlist(frequent: frequent, best: best, vocabularyChecksum: String(header[3]), targetVocabularySize: targetSize)
    }

    /// Checks `--shortlist K` and `--shortlist-file` as given; `name` prefixes the options' names.
    public static func checkOptions(size: Int?, file: String?, name: String = "") throws {
        try checkOption("\(name)--shortlist", size, .closed(1, 1e6))
        if file != nil && size == nil { throw NMTError("\(name)--shortlist-file needs --shortlist K, the targets taken per source token") }
    }

    /// The shortlist of the model at `model` (its tokenizer `tokenizer`): read from `file`, or from
    /// the model's default path; checked to fit. The error of a missing file says how to make one.
    public static func forModel(_ model: String, tokenizer: any Tokenizer, file: String? = nil) throws -> (table: Shortlist, path: String) {
        let path = file ?? defaultPath(forModel: model)
        guard FileManager.default.fileExists(atPath: path) else {
            throw NMTError("no shortlist at \(path): make one with nmt shortlist learn -m \(model) --src FILE --tgt FILE\(file == nil ? ", or give --shortlist-file" : "")")
        }
        let table = try load(path)
        try table.check(fits: tokenizer, path: path, model: model)
        return (table, path)
    }

    /// What decoding with `size` targets per source token takes, for the log.
    public func description(size: Int) -> String {
        "each line's output from the \(min(size, largestSize)) likeliest targets of each source token and \(frequent.count) frequent ones"
    }

    /// Checks that the shortlist was learned for `tokenizer`.
    public func check(fits tokenizer: any Tokenizer, path: String, model: String) throws {
        guard vocabularyChecksum == Shortlist.checksum(of: tokenizer), best.count == tokenizer.sourceVocabulary.count,
              targetVocabularySize == tokenizer.vocabulary.count else {
            throw NMTError("\(path) was learned for another vocabulary than \(model)'s; run nmt shortlist learn -m \(model)")
        }
    }
}
