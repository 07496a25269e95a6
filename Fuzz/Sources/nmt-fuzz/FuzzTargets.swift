// One libFuzzer entry point; NMT_FUZZ_TARGET picks what the input bytes are fed to:
//   model-file   a safetensors file given to the model-file and training-state readers
//   codes        a codes file given to both BPE formats' parsers, then used on a sentence
//   translate    standard input of `nmt translate` (lines → BPE → beam search → text)
//   sentencepiece  a SentencePiece model file given to its reader, then used on sentences and decoded
//   npz          a Marian .npz given to the archive reader, then imported with the fixture's vocab.spm
//   config       a `nmt train --config` YAML file given to the config reader, then validated
// Anything a user could hand nmt must end in a result or an NMTError, never a trap.

import Foundation
import NMT

/// The input as a file (the parsers under test read paths, as the CLI does).
private let scratchPath = NSTemporaryDirectory() + "nmt-fuzz-\(getpid()).bin"

private func writeScratch(_ data: UnsafeRawBufferPointer) {
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot write \(scratchPath)")
    if data.count > 0 { try! writeAll(fd, data, name: scratchPath) }
    close(fd)
}

private enum Target: String { case modelFile = "model-file", codes, translate, sentencepiece, npz, config }

private let target: Target = {
    let name = ProcessInfo.processInfo.environment["NMT_FUZZ_TARGET"] ?? ""
    guard let target = Target(rawValue: name) else {
        FileHandle.standardError.write(Data("set NMT_FUZZ_TARGET to model-file, codes, translate, sentencepiece, npz or config\n".utf8))
        exit(2)
    }
    return target
}()

/// A small random-weight model with a BPE learned from a few sentences: decoding exercises every
/// path (byte fallback, truncation, empty and blank lines) without a trained model.
private let translator: Translator = {
    let corpus = NSTemporaryDirectory() + "nmt-fuzz-corpus-\(getpid()).txt"
    try! "In the beginning God created the heaven and the earth.\nY la tierra estaba desordenada y vacía.\n1 2 3 ¿qué? «sí» — naïve café 東京\n"
        .write(toFile: corpus, atomically: true, encoding: .utf8)
    let tokenizer = try! BPETokenizer.learn(files: [corpus], merges: 40, minFrequency: 1)
    let config = TransformerConfig(vocabularySize: tokenizer.vocabulary.count, dModel: 16, ffnDim: 32, heads: 2,
                                   encoderLayers: 1, decoderLayers: 1, maxPositions: 40)
    let model = try! Transformer(config: config)
    model.initialize(seed: 1)
    var options = TranslationOptions()
    options.search.beam = 2
    options.search.nbest = 2
    options.batchSize = 3
    return Translator(model: model, tokenizer: tokenizer, options: options)
}()

/// A decoder.yml naming the scratch file as its model and the Marian fixture's vocab.spm (the
/// fuzzer runs from the repository's root).
private let marianDecoderYML: String = {
    let path = NSTemporaryDirectory() + "nmt-fuzz-\(getpid()).decoder.yml"
    let vocab = FileManager.default.currentDirectoryPath + "/Tests/NMTTests/Fixtures/marian/post-norm/vocab.spm"
    try! "models:\n  - \(scratchPath)\nvocabs:\n  - \(vocab)\n  - \(vocab)\n".write(toFile: path, atomically: true, encoding: .utf8)
    return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let data = UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : count)
    switch target {
    case .modelFile:
        writeScratch(data)
        _ = try? ModelFile.load(scratchPath)
        _ = try? ModelFile.load(scratchPath, computeType: .int8)
        _ = try? TrainingStateFile.progress(scratchPath)
    case .codes:
        writeScratch(data)
        // Both tokenizers a model file can carry, built from the same bytes, then a sentence through each.
        guard let text = try? readTextFile(path: scratchPath) else { return 0 }
        for kind in TokenizerKind.allCases {
            guard let tokenizer = try? kind.tokenizer(data: text, source: scratchPath) else { continue }
            var encoder = tokenizer.makeEncoder(for: .source)
            let ids = encoder.encode("In the beginning, ¿qué? 東京 \r x")
            _ = tokenizer.decode(ids)
            var rng = RandomGenerator(seed: 1), segmented: [UInt8] = []
            encoder.appendSegmented("in the beginning , qué ?", dropout: 0.1, rng: &rng, to: &segmented)
        }
    case .sentencepiece:
        guard let model = try? SentencePieceModel(bytes: Array(data.bindMemory(to: UInt8.self)), source: "fuzz.spm"),
              let sp = try? SentencePiece(model, source: "fuzz.spm") else { return 0 }
        for line in ["In the beginning, ¿qué? 東京 \u{1F44D}\u{1F3FD} ﬁ ＡＢ", "  a  b  ", "", ">>fra<< x"] {
            let encoded = sp.encode(line)
            _ = sp.decode(ids: encoded.map(\.id))
            _ = sp.decode(pieces: encoded.map(\.piece))
        }
        _ = sp.decode(ids: Array(0..<min(sp.model.pieces.count, 64)))
    case .npz:
        writeScratch(data)
        guard let npz = try? NPZFile(path: scratchPath) else { return 0 }
        for name in npz.entries.keys { _ = try? npz.floats(name) }
        _ = try? MarianImport.load(marianDecoderYML)
    case .config:
        writeScratch(data)
        guard let options = try? ConfigFile.read(scratchPath) else { return 0 }
        try? options.validate(requireData: false)
        _ = options.modelConfig(vocabularySize: 8000)
    case .translate:
        writeScratch(data)
        guard let reader = try? LineReader(path: scratchPath) else { return 0 }
        try? translator.translate(stream: reader, warn: { _ in }) { indices, translations in
            for (index, t) in zip(indices, translations) { _ = t.formatted(index: index, nbest: true, scores: true) }
        }
    }
    return 0
}

/// libFuzzer's driver (SwiftPM links an executable's entry point under the name `nmt_fuzz_main`).
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("nmt_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    _ = target
    return runDriver(&argc, &argv, fuzzOne)
}
