// nmt score: corpus (or sentence) BLEU and chrF, numerically identical to sacreBLEU 2.4.3.

import ArgumentParser
import Foundation
import NMT

extension BLEUTokenizer: ExpressibleByArgument {}
extension BLEUSmoothing: ExpressibleByArgument {}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score translations with BLEU and chrF (sacreBLEU's definitions and numbers).",
        discussion: "Example: nmt score --ref test.es hyp.es"
    )

    @Option(name: [.customShort("r"), .long], help: "Reference file (repeat for several references).")
    var ref: [String] = []

    @Option(help: "Comma-separated metrics: bleu, chrf.")
    var metrics = "bleu,chrf"

    @Flag(help: "Lowercase hypotheses and references first.")
    var lowercase = false

    @Option(help: "BLEU tokenizer: none, 13a, intl, char.")
    var tokenize = BLEUTokenizer.thirteenA

    @Option(help: "BLEU smoothing: exp, floor, add-k, none.")
    var smooth = BLEUSmoothing.exp

    @Option(help: "Value for floor (default 0.1) and add-k (default 1) smoothing.")
    var smoothValue: Double?

    @Flag(help: "Print one score per hypothesis line (BLEU with effective order, as sacreBLEU does).")
    var sentence = false

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: "Hypothesis file (default: standard input).")
    var hypotheses: String?

    func run() throws {
        try reportingErrors {
            guard !ref.isEmpty else { throw NMTError("give at least one reference with --ref FILE") }
            try checkOption("--smooth-value", smoothValue, .closed(0, 1e6))
            let chosen = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard !chosen.isEmpty else { throw NMTError("--metrics is empty: give bleu, chrf or both") }
            for metric in chosen where metric != "bleu" && metric != "chrf" {
                throw NMTError("unknown metric '\(metric)' (known: bleu, chrf)")
            }
            // sacreBLEU reads with Python's utf-8 codec, which keeps a byte order mark as U+FEFF.
            let hyps = try readInputLines(hypotheses, keepsByteOrderMark: true)
            let hypName = hypotheses ?? "<stdin>"
            var references: [[String]] = []
            for path in ref {
                let lines = try readLines(path: path, keepsByteOrderMark: true)
                if lines.count != hyps.count {
                    throw NMTError("\(hypName) has \(hyps.count) lines but reference \(path) has \(lines.count)")
                }
                references.append(lines)
            }
            let bleu = BLEU(lowercase: lowercase, tokenizer: tokenize, smoothing: smooth, smoothValue: smoothValue,
                            effectiveOrder: sentence)
            let chrf = CHRF(lowercase: lowercase)
            if sentence {
                var columns: [[ScoreReport]] = []
                if chosen.contains("bleu") {
                    let signature = bleu.signature(references: references.count)
                    columns.append(bleu.sentenceScores(hypotheses: hyps, references: references).map { ScoreReport(bleu: $0, signature: signature) })
                }
                if chosen.contains("chrf") {
                    let signature = chrf.signature(references: references.count)
                    columns.append(chrf.sentenceScores(hypotheses: hyps, references: references).map { ScoreReport(chrf: $0, name: chrf.name, signature: signature) })
                }
                let sink = try OutputSink.standardOutput()
                for i in 0..<hyps.count {
                    try sink.write(columns.map { json ? $0[i].json : $0[i].text }.joined(separator: json ? ", " : "\t") + "\n")
                }
                try sink.drain()
                return
            }
            var reports: [ScoreReport] = []
            if chosen.contains("bleu") {
                reports.append(ScoreReport(bleu: bleu.corpusScore(hypotheses: hyps, references: references),
                                           signature: bleu.signature(references: references.count)))
            }
            if chosen.contains("chrf") {
                reports.append(ScoreReport(chrf: chrf.corpusScore(hypotheses: hyps, references: references),
                                           name: chrf.name, signature: chrf.signature(references: references.count)))
            }
            if json {
                try StandardStreams.writeOutput((reports.count == 1 ? reports[0].json : "[\n" + reports.map(\.json).joined(separator: ",\n") + "\n]") + "\n")
            } else {
                try StandardStreams.writeOutput(reports.map { $0.text + "\n" }.joined())
            }
        }
    }
}
