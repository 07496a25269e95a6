// nmt translate: raw text in on stdin, translations out on stdout, one line per line.

import ArgumentParser
import Foundation
import NMT

extension LengthPenaltyStyle: ExpressibleByArgument {}

/// `--compute-type`: what the model runs in; auto follows the file.
enum ComputeTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, float32, int8
    var computeType: ComputeType? { self == .auto ? nil : ComputeType(rawValue: rawValue) }
}

struct TranslateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Translate lines from standard input with beam search.",
        discussion: "Example: nmt translate -m runs/en-es/average.safetensors < test.en > test.hyp.es"
    )

    @Option(name: [.customShort("m"), .long], help: "Model file.") var model: String
    @Option(help: "Beam size (1: greedy; default 5, or the model's own: an imported model's decoder.yml).") var beam: Int?
    @Option(help: "Length penalty α (an imported Marian model: its --normalize; default 1, or the model's own).") var lengthPenalty: Double?
    @Option(help: "average: score/|Y|^α (fairseq, CTranslate2); gnmt: score/((5+|Y|)/6)^α.") var lengthPenaltyStyle = LengthPenaltyStyle.average
    @Option(help: "Print the N best hypotheses per line as 'INDEX ||| hypothesis ||| score'.") var nbest = 1
    @Option(help: "Maximum output length = a·source length + b (default 1.5, or the model's own: Marian's max-length-factor).") var maxLenA: Double?
    @Option(help: "Maximum output length = a·source length + b (default 10, or the model's own).") var maxLenB: Double?
    @Option(help: "Beam search: nmt (fairseq's) or marian (default: the model's; imported Marian models use Marian's).")
    var searchStyle: TransformerConfig.SearchStyle?
    @Option(help: "Sentences per batch.") var batchSize = 32
    @Option(help: "Source tokens per batch (instead of --batch-size).") var maxTokens: Int?
    @Option(help: "Megabytes of search state (attention caches) the batches searched at once may hold; lower uses less memory and fewer cores at a time, never changing the output (default: no bound).") var maxSearchMemory: Int?
    @Option(help: "Sample instead of searching: full, topk:K or topp:P (beam 1 per sample; --nbest N draws N samples).")
    var sampling: String?
    @Option(help: "Sampling temperature: logits are divided by it (default 1).") var temperature: Double?
    @Option(help: "Sampling seed: a line's samples depend on it, the line's number and the model only (default 1).") var seed: UInt64 = 1
    @Option(help: "Target prefixes, one line per input line: each translation starts with its line and continues from it.")
    var prefixFile: String?
    @Flag(help: "Input lines are 'source<TAB>prefix': the translation starts with the prefix.") var tabPrefix = false
    @Option(help: "Never repeat an n-gram of this many tokens in an output (CTranslate2's no_repeat_ngram_size).") var noRepeatNgram: Int?
    @Option(help: "Logits of tokens an output already holds: x·R if x < 0, else x/R (CTranslate2's repetition_penalty; default 1).")
    var repetitionPenalty: Double?
    @Option(help: "Maximum output length also at most R·source length.") var maxLenRatio: Double?
    @Option(help: "Append word alignments after ' ||| ': hard (Moses 's-t' pairs of words), soft (the attention matrix).")
    var alignments: AlignmentFormat?
    @Flag(help: "Print the score after a tab.") var scores = false
    @Flag(help: "Greedy search (same as --beam 1).") var greedy = false
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "int8: quantized matrix products (a float32 file is quantized on load); float32; auto: as the file is stored.")
    var computeType = ComputeTypeChoice.auto

    func run() throws {
        try reportingErrors {
            try useThreads(threads)
            if tabPrefix && prefixFile != nil { throw NMTError("--tab-prefix and --prefix-file: choose one source of prefixes") }
            let prefixes: Translator.PrefixSource? = try prefixFile.map { .lines(try LineReader(path: $0)) } ?? (tabPrefix ? .afterTab : nil)
            let loaded = try loadModel(model, computeType: computeType.computeType)
            var options = TranslationOptions(for: loaded, beam: greedy ? 1 : beam, lengthPenalty: lengthPenalty,
                                             lengthPenaltyStyle: lengthPenaltyStyle, nbest: nbest,
                                             maxLengthA: maxLenA, maxLengthB: maxLenB, searchStyle: searchStyle)
            options.batchSize = batchSize
            options.maxTokens = maxTokens
            try applyDecodingChoices(to: &options)
            try checkOption("--max-search-memory", maxSearchMemory, .closed(1, 1e9), "megabytes")
            options.searchMemory = maxSearchMemory.map { $0 << 20 }
            try options.validate(for: loaded.model.config)
            printError("nmt: computing in \(loaded.model.computeType.rawValue) (\(kernelDescription(loaded.model.computeType, decoding: true)))")
            let translator = Translator(model: loaded.model, tokenizer: loaded.tokenizer, options: options)
            let sink = try OutputSink.standardOutput()
            try translator.translate(stream: LineReader.standardInput(), prefixes: prefixes, warn: { printError("nmt: warning: " + $0) }) { first, translations in
                for (i, translation) in translations.enumerated() {
                    try sink.write(translation.formatted(index: first + i, nbest: nbest > 1, scores: scores, alignments: alignments != nil))
                }
                try sink.drain()
            }
        }
    }

    /// Sampling, repetition guards, the length ratio and alignments, checked as given.
    private func applyDecodingChoices(to options: inout TranslationOptions) throws {
        if let sampling {
            guard let parsed = Sampling(sampling) else {
                throw NMTError("--sampling '\(sampling)' must be full, topk:K (an integer K ≥ 1) or topp:P (0 < P ≤ 1)")
            }
            if let beam, beam > 1 { throw NMTError("--beam \(beam) with --sampling: each sample is drawn with beam 1") }
            options.search.sampling = parsed
            options.search.beam = 1
        } else if temperature != nil {
            throw NMTError("--temperature applies to --sampling only")
        }
        options.search.temperature = temperature ?? 1
        options.search.seed = seed
        options.search.repetition = RepetitionGuards(penalty: repetitionPenalty ?? 1, noRepeatNgram: noRepeatNgram ?? 0)
        options.search.maxLengthRatio = maxLenRatio
        options.alignments = alignments
    }
}
extension AlignmentFormat: ExpressibleByArgument {}
extension TransformerConfig.SearchStyle: ExpressibleByArgument {}
