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

    @Option(name: [.customShort("m"), .long], help: "Model file; several -m: an ensemble of models sharing one tokenizer.") var model: [String]
    @Option(help: "Ensemble weights, one per -m, comma-separated (default 1/N each): scores are Σ w·log p.") var weights: String?
    @Option(name: [.customShort("i"), .long], help: "Input file (default: standard input).") var input: String?
    @Option(name: [.customShort("o"), .long],
            help: "Output file, written resumably with -i: run the same command again after an interruption to continue (default: standard output).")
    var output: String?
    @Option(help: "Translate shard I of N: the I-th of every N blocks of 1000 input lines (merge with 'nmt merge-shards').") var shard: String?
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
    @Option(help: "Lexical shortlist: each line's output only from the K likeliest targets of each of its source tokens and the frequent targets ('nmt shortlist learn' makes the table; default: off).")
    var shortlist: Int?
    @Option(help: "The shortlist file (default: the model's name with .shortlist).") var shortlistFile: String?
    @Option(help: "int8: quantized matrix products (a float32 file is quantized on load); float32; auto: as the file is stored.")
    var computeType = ComputeTypeChoice.auto

    func run() throws {
        try reportingErrors {
            try useThreads(threads)
            let shard = try self.shard.map(Shard.init)
            if tabPrefix && prefixFile != nil { throw NMTError("--tab-prefix and --prefix-file: choose one source of prefixes") }
            let prefixes: Translator.PrefixSource? = try prefixFile.map { .lines(try LineReader(path: $0)) } ?? (tabPrefix ? .afterTab : nil)
            guard !model.isEmpty else { throw NMTError("-m: give a model file") }
            let members = try model.map { try loadModel($0, computeType: computeType.computeType) }
            let loaded = members[0]
            let ensembleWeights = try checkEnsemble(members)
            var options = TranslationOptions(for: loaded, beam: greedy ? 1 : beam, lengthPenalty: lengthPenalty,
                                             lengthPenaltyStyle: lengthPenaltyStyle, nbest: nbest,
                                             maxLengthA: maxLenA, maxLengthB: maxLenB, searchStyle: searchStyle)
            options.batchSize = batchSize
            options.maxTokens = maxTokens
            try applyDecodingChoices(to: &options)
            try checkOption("--max-search-memory", maxSearchMemory, .closed(1, 1e9), "megabytes")
            options.searchMemory = maxSearchMemory.map { $0 << 20 }
            try options.validate(for: loaded.model.config)
            try applyShortlist(to: &options, loaded: loaded, ensemble: members.count > 1, prefixes: prefixes != nil)
            printError("nmt: computing in \(loaded.model.computeType.rawValue) (\(kernelDescription(loaded.model.computeType, decoding: true)))")
            let translator = Translator(models: members.map(\.model), weights: ensembleWeights, tokenizer: loaded.tokenizer, options: options)
            let format = { (index: Int, translation: Translation) in
                translation.formatted(index: index, nbest: nbest > 1, scores: scores, alignments: alignments != nil)
            }
            if let input, let output {
                try translateResumably(translator, input: input, output: output, job: job(), prefixes: prefixes, shard: shard, format: format)
                return
            }
            let reader = try input.map { try LineReader(path: $0) } ?? LineReader.standardInput()
            try withOutput(output) { sink in
                try translator.translate(stream: reader, prefixes: prefixes, selecting: shard.map { s in { s.contains(line: $0) } },
                                         warn: { printError("nmt: warning: " + $0) }) { indices, translations in
                    for (index, translation) in zip(indices, translations) { try sink.write(format(index, translation)) }
                    if output == nil { try sink.drain() }
                }
            }
        }
    }

    /// What a resumable output depends on: the input file, the model file and every option that
    /// can change the output (not threads or batching, which never do).
    private func job() throws -> String {
        func identity(_ path: String) throws -> String {
            var info = stat()
            guard stat(path, &info) == 0 else { throw NMTError("cannot read \(path): \(String(cString: strerror(errno)))") }
            return "\(URL(fileURLWithPath: path).standardizedFileURL.path) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
        let unaffected: Set<String> = ["--threads", "--batch-size", "--max-tokens", "--max-search-memory"]
        var arguments: [String] = [], skipNext = false
        for argument in CommandLine.arguments.dropFirst(2) {
            if skipNext { skipNext = false; continue }
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if unaffected.contains(name) { skipNext = !argument.contains("="); continue }
            arguments.append(argument)
        }
        let shortlistIdentity = try shortlist == nil ? "" : identity(shortlistFile ?? Shortlist.defaultPath(forModel: model[0]))
        return ([try identity(input!), try model.map(identity).joined(separator: " "), (try prefixFile.map { try identity($0) }) ?? "", shortlistIdentity] + arguments)
            .joined(separator: "\u{1F}")
    }

    /// An ensemble's members share the first's tokenizer; its weights, one per member, or nil (1/N each).
    private func checkEnsemble(_ members: [LoadedModel]) throws -> [Double]? {
        for (path, member) in zip(model, members).dropFirst() {
            guard member.tokenizer.kind == members[0].tokenizer.kind, member.tokenizer.data == members[0].tokenizer.data,
                  member.model.config.vocabularySize == members[0].model.config.vocabularySize else {
                throw NMTError("-m \(path): its tokenizer or vocabulary differs from \(model[0])'s; an ensemble needs one")
            }
        }
        guard let weights else { return nil }
        let values = weights.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == members.count, values.allSatisfy({ $0 != nil }) else {
            throw NMTError("--weights '\(weights)': give \(members.count) comma-separated numbers, one per -m")
        }
        for value in values { try checkOption("--weights", value, .closed(0, 100)) }
        return values.map { $0! }
    }

    /// The shortlist, when asked for: its file learned for this model's vocabularies.
    private func applyShortlist(to options: inout TranslationOptions, loaded: LoadedModel, ensemble: Bool, prefixes: Bool) throws {
        try Shortlist.checkOptions(size: shortlist, file: shortlistFile)
        guard let size = shortlist else { return }
        if ensemble { throw NMTError("--shortlist decodes one model; give one -m") }
        if prefixes { throw NMTError("--shortlist cannot be combined with target prefixes") }
        let (table, path) = try Shortlist.forModel(model[0], tokenizer: loaded.tokenizer, file: shortlistFile)
        options.shortlist = (table, size)
        printError("nmt: shortlist \(path): \(table.description(size: size))")
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
