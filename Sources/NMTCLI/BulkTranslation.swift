// `nmt translate -i IN -o OUT`: a file translated in bulk — resumable after kill -9, SIGTERM or a
// full disk (ResumableOutput), with a progress display, and optionally one shard of the file.

import Foundation
import NMT

/// `--shard I/N`: the blocks of `blockLines` input lines numbered I−1, I−1+N, I−1+2N, … (0-based).
struct Shard: Equatable {
    static let blockLines = 1000
    var index: Int   // 1…count
    var count: Int

    init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 100_000, i >= 1, i <= n else {
            throw NMTError("--shard '\(text)' must be I/N with 1 ≤ I ≤ N ≤ 100000")
        }
        (index, count) = (i, n)
    }

    func contains(line: Int) -> Bool { (line / Shard.blockLines) % count == index - 1 }
}

/// Lines done, speed and time left, on stderr: redrawn in place on a terminal, a plain line every
/// `plainInterval` seconds otherwise.
final class ProgressDisplay {
    private let totalBytes: Int
    private let startLines: Int
    private let start = Date()
    private var lastShown = Date.distantPast
    private let terminal = isatty(2) == 1
    static let plainInterval = 30.0

    init(totalBytes: Int, startLines: Int) {
        self.totalBytes = totalBytes
        self.startLines = startLines
    }

    func update(lines: Int, bytes: Int, final: Bool = false) {
        let now = Date()
        guard final || now.timeIntervalSince(lastShown) >= (terminal ? 0.5 : Self.plainInterval) else { return }
        lastShown = now
        let elapsed = max(now.timeIntervalSince(start), 1e-3)
        let rate = Double(lines - startLines) / elapsed
        let fraction = totalBytes > 0 ? min(Double(bytes) / Double(totalBytes), 1) : 1
        var text = "nmt: \(lines) lines, \(String(format: "%.1f", rate)) lines/s, \(String(format: "%.1f", fraction * 100))%"
        if !final, fraction > 0, let started = startFraction {
            let done = fraction - started
            if done > 0 { text += ", ETA " + Self.duration(elapsed * (1 - fraction) / done) }
        }
        if final { text += " in " + Self.duration(elapsed) }
        StandardStreams.writeError(terminal ? "\r\u{1B}[K" + text + (final ? "\n" : "") : text + "\n")
    }

    /// The fraction of the input done when this run started (bytes of skipped lines), set on the first update.
    var startFraction: Double?

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Translates `input` into `output` resumably: everything `job` names must match for a stopped
/// run to be continued.
func translateResumably(_ translator: Translator, input: String, output: String, job: String, prefixes: Translator.PrefixSource?,
                        shard: Shard?, format: (Int, Translation) -> String) throws {
    let out = try ResumableOutput(path: output, job: job)
    let reader = try LineReader(path: input)
    var info = stat()
    let size = stat(input, &info) == 0 ? Int(info.st_size) : 0
    let progress = ProgressDisplay(totalBytes: size, startLines: out.resumedLines)
    if out.resumedLines > 0 { printError("nmt: resuming \(output) after input line \(out.resumedLines)") }
    var lastCheckpoint = Date()
    try translator.translate(stream: reader, prefixes: prefixes, skipping: out.resumedLines, selecting: shard.map { s in { s.contains(line: $0) } },
                             warn: { printError("nmt: warning: " + $0) }) { indices, translations in
        if progress.startFraction == nil { progress.startFraction = size > 0 ? Double(reader.bytesRead) / Double(size) : 0 }
        for (index, translation) in zip(indices, translations) { out.write(format(index, translation)) }
        // A checkpoint costs fsyncs: at most one a second.
        if Date().timeIntervalSince(lastCheckpoint) >= 1 {
            try out.checkpoint(lines: reader.lineNumber)
            lastCheckpoint = Date()
        }
        progress.update(lines: reader.lineNumber, bytes: reader.bytesRead)
    }
    try out.finish(lines: reader.lineNumber)
    progress.update(lines: reader.lineNumber, bytes: reader.bytesRead, final: true)
}
