import Foundation
import Testing
@testable import NMT

@Suite struct TranslatorTests {
    func translator(_ dir: TemporaryDirectory) throws -> (Translator, [String]) {
        let (en, es) = try smallCorpus(dir, lines: 80)
        let tokenizer = try BPETokenizer.learn(files: [en, es], merges: 60)
        let model = try randomModel(vocabulary: tokenizer.vocabulary.count)
        var options = TranslationOptions()
        options.search.beam = 3
        options.batchSize = 4
        let lines = try readLines(path: en).map { String($0.prefix(60)) }
        return (Translator(model: model, tokenizer: tokenizer, options: options), Array(lines.prefix(24)))
    }

    @Test func twoTranslationsAtOnceGiveWhatEachGivesAlone() throws {
        let dir = try TemporaryDirectory()
        let (translator, lines) = try translator(dir)
        let alone = translator.translate(lines).map(\.text)
        nonisolated(unsafe) var together: [[String]] = [[], []]
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let result = translator.translate(i == 0 ? lines : lines.reversed()).map(\.text)
            together[i] = result
        }
        #expect(together[0] == alone)
        #expect(together[1] == alone.reversed())
    }

    @Test func aSearchMemoryBoundChangesNoTranslation() throws {
        let dir = try TemporaryDirectory()
        let (translator, lines) = try translator(dir)
        var options = translator.options
        options.searchMemory = 1  // every batch alone
        let bounded = Translator(model: translator.model, tokenizer: translator.tokenizer, options: options)
        #expect(bounded.translate(lines).map(\.text) == translator.translate(lines).map(\.text))
    }

    @Test func batchesNumberAMultipleOfTheWorkers() throws {
        var options = TranslationOptions()
        options.batchSize = 32
        let translator = Translator(model: try randomModel(vocabulary: 20), tokenizer: try BPETokenizer(characters: ["a"], merges: []), options: options)
        #expect(translator.batchLimit(sentences: 100, workers: 2) == .sentences(25))
        #expect(translator.batchLimit(sentences: 256, workers: 2) == .sentences(32))
        #expect(translator.batchLimit(sentences: 40, workers: 2) == .sentences(20))
        #expect(translator.batchLimit(sentences: 100, workers: 1) == .sentences(32))
    }

    @Test func emptyLinesGiveEmptyTranslationsInPlace() throws {
        let dir = try TemporaryDirectory()
        let (translator, lines) = try translator(dir)
        let result = translator.translate([lines[0], "", lines[1]])
        #expect(result[1].candidates.isEmpty && result[1].text == "")
        #expect(result[0].text == translator.translate([lines[0]])[0].text)
    }
}
