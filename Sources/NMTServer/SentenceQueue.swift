// SentenceQueue: batching across requests. Requests hand in their sentences (token ids) and wait;
// one thread per model takes everything waiting — after the first arrival it waits up to
// `batchWait` for more, or until a full batch's tokens have gathered — and searches it in one
// `Translator.search` call, which cuts it into length-sorted batches on the model's workers. Each
// request gets its own sentences' hypotheses back, in order. Decoding is batch-independent
// (Compute.rowIndependent), so a sentence's translation is what `nmt translate` gives for it,
// whoever it shares a batch with.
//
// The queue is bounded: a request whose sentences would take the waiting count past `capacity`
// is refused at once (the server answers 503 with Retry-After) rather than queued without end.

import Foundation
import NMT

final class SentenceQueue: @unchecked Sendable {
    enum Refusal: Error {
        /// The waiting sentences plus these would exceed the capacity.
        case full(waiting: Int, capacity: Int)
        /// The server is shutting down.
        case stopped
    }

    /// What the queue reports after each search: sentences, and source tokens with padding.
    struct BatchReport {
        var sentences: Int
        var waitingAfter: Int
        var seconds: Double
    }

    private struct Job {
        var sources: [[Int32]]
        var empty: [Bool]
        var done: CheckedContinuation<[[Hypothesis]], any Error>
    }

    let translator: Translator
    let capacity: Int
    private let batchWait: Double
    private let batchTokens: Int
    private let report: @Sendable (BatchReport) -> Void
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var waitingSentences = 0
    private var waitingTokens = 0
    private var stopping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    init(translator: Translator, capacity: Int, batchWait: Double, report: @escaping @Sendable (BatchReport) -> Void) {
        self.translator = translator
        self.capacity = capacity
        self.batchWait = batchWait
        // A full batch: what one worker's batch may hold, times the workers.
        let perBatch = translator.options.maxTokens ?? translator.options.batchSize * 24
        self.batchTokens = perBatch * (translator.options.workers ?? Threads.count)
        self.report = report
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "nmt-serve-batches"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Sentences waiting now.
    var waiting: Int { condition.withLock { waitingSentences } }

    /// Hypotheses (the model's n-best, best first) of each of `sources`, in order; `empty` ones
    /// (blank lines) get none. Throws `Refusal` when the queue is full or stopped.
    func translate(_ sources: [[Int32]], empty: [Bool]) async throws -> [[Hypothesis]] {
        if sources.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { done in
            condition.lock()
            defer { condition.unlock() }
            if stopping { done.resume(throwing: Refusal.stopped); return }
            if waitingSentences > 0 && waitingSentences + sources.count > capacity {
                done.resume(throwing: Refusal.full(waiting: waitingSentences, capacity: capacity))
                return
            }
            jobs.append(Job(sources: sources, empty: empty, done: done))
            waitingSentences += sources.count
            waitingTokens += sources.reduce(0) { $0 + $1.count + 1 }
            condition.signal()
        }
    }

    /// Translates what is already waiting, then ends the thread; later requests are refused.
    func stop() {
        condition.withLock {
            stopping = true
            condition.signal()
        }
        finished.wait()
    }

    private func run() {
        while let taken = nextJobs() {
            let start = DispatchTime.now().uptimeNanoseconds
            let sources = taken.flatMap(\.sources), empty = taken.flatMap(\.empty)
            let found = translator.search(sources, empty: empty)
            var offset = 0
            for job in taken {
                job.done.resume(returning: Array(found[offset ..< offset + job.sources.count]))
                offset += job.sources.count
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            report(BatchReport(sentences: sources.count, waitingAfter: waiting, seconds: seconds))
        }
        finished.signal()
    }

    /// Everything waiting, once the first job has waited `batchWait` or a full batch has gathered;
    /// nil when stopping with nothing left.
    private func nextJobs() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty {
            if stopping { return nil }
            condition.wait()
        }
        let deadline = Date(timeIntervalSinceNow: batchWait)
        while waitingTokens < batchTokens && !stopping && condition.wait(until: deadline) {}
        let taken = jobs
        jobs.removeAll()
        waitingSentences = 0
        waitingTokens = 0
        return taken
    }
}
