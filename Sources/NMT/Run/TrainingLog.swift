// TrainingLog: progress for people and for machines. Every event is one JSON object per line in
// DIR/log.jsonl; on a terminal a live status line is redrawn in place, otherwise plain lines.

import Foundation

public final class TrainingLog {
    private var jsonl: Int32 = -1
    private var jsonlPath = ""
    /// Events logged before `open` (written when it is called).
    private var pending: [String] = []
    /// The first failed write to log.jsonl (a full disk, a file-size limit): the trainer stops on it.
    public private(set) var writeError: NMTError?
    private let interactive: Bool
    private var statusShown = false
    public var quiet = false
    /// Drops events too (the ranks of a data-parallel run other than the leader).
    private var silent = false

    public init() {
        interactive = isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Starts appending events to DIRECTORY/log.jsonl. Events before this are held in memory, so
    /// a run that fails its checks writes no file.
    public func open(directory: String) throws {
        try open(path: directory + "/log.jsonl")
    }

    /// Starts appending events to `path`.
    public func open(path: String) throws {
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NMTError("cannot write \(path): \(String(cString: strerror(errno)))") }
        (jsonl, jsonlPath) = (fd, path)
        pending.forEach(append)
        pending = []
        if let writeError { throw writeError }
    }

    deinit { if jsonl >= 0 { close(jsonl) } }

    /// No lines, no events: only one rank of a data-parallel run speaks.
    public func silence() { (quiet, silent) = (true, true) }

    /// Appends `fields` (plus "event") to log.jsonl.
    public func event(_ name: String, _ fields: [String: Any]) {
        if silent { return }
        var object = fields
        object["event"] = name
        object["time"] = ISO8601DateFormatter().string(from: Date())
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        let line = String(decoding: data, as: UTF8.self) + "\n"
        if jsonl >= 0 { append(line) } else { pending.append(line) }
    }

    /// One whole line or nothing: a write that fails part-way is cut back off, so the log never
    /// ends in half a line; the first failure is kept in `writeError`.
    private func append(_ line: String) {
        guard writeError == nil else { return }
        let end = lseek(jsonl, 0, SEEK_END)
        do {
            try writeAll(jsonl, Array(line.utf8), name: jsonlPath)
        } catch let error as NMTError {
            if end >= 0 { _ = ftruncate(jsonl, end) }
            writeError = error
        } catch {}
    }

    /// A line for people on stderr (ends any live status line first). A closed or broken stderr
    /// drops it; training goes on.
    public func say(_ message: String) {
        if quiet { return }
        if statusShown { StandardStreams.writeError("\n"); statusShown = false }
        StandardStreams.writeError(message + "\n")
    }

    /// The live status line (terminal only); returns false when not on a terminal.
    @discardableResult
    public func status(_ line: String) -> Bool {
        guard interactive, !quiet else { return false }
        StandardStreams.writeError("\r\u{1B}[K" + line)
        statusShown = true
        return true
    }

    /// Sums over the updates since the last recorded "train" event.
    public struct Interval {
        var loss = 0.0, nll = 0.0, tokens = 0, sourceTokens = 0, allreduceSeconds = 0.0, start = Date()
        var alignment = AlignmentLoss()
        public init() {}
        mutating func add(_ r: TrainingStep.Result) {
            alignment.lossSum += r.alignment.lossSum
            alignment.alignedTokens += r.alignment.alignedTokens
            loss += r.lossSum
            nll += r.nllSum
            tokens += r.targetTokens
            sourceTokens += r.sourceTokens
            allreduceSeconds += r.allreduceSeconds
        }
    }

    /// After each update: the live status line, and when `record`, a "train" event (and a plain
    /// line off a terminal) with the interval's means, which then starts over.
    func update(step: Int, epoch: Int, epochFraction: Double, result: TrainingStep.Result, lr: Double, interval: inout Interval,
                elapsed: Double, remaining: Double?, record: Bool) {
        let seconds = max(Date().timeIntervalSince(interval.start), 1e-9)
        let tokensPerSecond = Double(interval.tokens) / seconds
        let shown = status(String(format: "step %d | epoch %d %.0f%% | loss %.3f | ppl %.2f | lr %.2e | %.0f tgt tok/s | %@ elapsed%@",
                                  step, epoch + 1, 100 * epochFraction, result.loss, exp(result.nll), lr, tokensPerSecond,
                                  formatDuration(elapsed), remaining.map { " | ETA " + formatDuration($0) } ?? ""))
        guard record else { return }
        let meanLoss = interval.loss / Double(interval.tokens), meanNLL = interval.nll / Double(interval.tokens)
        let recordSeconds = max(Date().timeIntervalSince(interval.start), 1e-9)
        var fields: [String: Any] = ["step": step, "epoch": epoch + 1, "loss": meanLoss, "nll": meanNLL, "ppl": exp(meanNLL),
                                     "lr": lr, "tokens_per_s": Double(interval.tokens) / recordSeconds,
                                     "source_target_tokens_per_s": Double(interval.tokens + interval.sourceTokens) / recordSeconds,
                                     "gradient_norm": result.gradientNorm, "elapsed_s": elapsed]
        // Data-parallel runs: the share of the interval spent summing gradients across ranks.
        if interval.allreduceSeconds > 0 { fields["allreduce_share"] = interval.allreduceSeconds / recordSeconds }
        // Guided alignment: its cross-entropy per aligned target token.
        let alignment = interval.alignment.alignedTokens > 0 ? String(format: " | align %.3f", interval.alignment.loss) : ""
        if interval.alignment.alignedTokens > 0 { fields["alignment_loss"] = interval.alignment.loss }
        event("train", fields)
        if !shown {
            say(String(format: "train | step %d | epoch %d | loss %.3f | nll %.3f | ppl %.2f%@ | lr %.2e | %.0f tgt tok/s | %@",
                       step, epoch + 1, meanLoss, meanNLL, exp(meanNLL), alignment, lr, Double(interval.tokens) / recordSeconds, formatDuration(elapsed)))
        }
        interval = Interval()
    }

    /// After each validation: a line for people and a "valid" event.
    func validation(step: Int, epoch: Int, loss: CrossEntropyResult, bleu: Double, improved: Bool, withoutImprovement: Int,
                    trainedSeconds: Double, seconds: Double) {
        say(String(format: "valid | step %d | loss %.3f | nll %.3f | ppl %.2f | bleu %.2f | %@ | %.1f s",
                   step, loss.loss, loss.nll, loss.perplexity, bleu, improved ? "best so far" : "no improvement (\(withoutImprovement))", seconds))
        event("valid", ["step": step, "epoch": epoch + 1, "loss": loss.loss, "nll": loss.nll, "ppl": loss.perplexity,
                        "bleu": bleu, "best": improved, "elapsed_s": trainedSeconds, "valid_seconds": seconds])
    }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
