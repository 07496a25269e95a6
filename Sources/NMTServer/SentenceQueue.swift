// SentenceQueue: batching across requests. Requests hand in their sentences (token ids) and wait.
// A model has a thread per worker; an idle one, once sentences arrive, waits up to `batchWait` for
// more (or until a full batch's tokens have gathered), takes its share of what is waiting — in
// arrival order, an equal part for each idle worker, splitting a request if need be — and searches
// it in one `Translator.search` with single-threaded kernels, which cuts it into length-sorted
// batches. A worker that finishes takes the next sentences at once, so no core waits for
// another's longest sentence. A request resumes when all its sentences are back, in order.
// Decoding is batch-independent (Compute.rowIndependent), so a sentence's translation is what
// `nmt translate` gives for it, whoever it shares a batch with.
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

    /// What the queue reports after each search.
    struct BatchReport {
        var sentences: Int
        var waitingAfter: Int
        var seconds: Double
    }

    /// A request's sentences and the hypotheses found so far.
    private final class Request {
        let sources: [[Int32]]
        let empty: [Bool]
        var found: [[Hypothesis]]
        var missing: Int
        let done: CheckedContinuation<[[Hypothesis]], any Error>

        init(sources: [[Int32]], empty: [Bool], done: CheckedContinuation<[[Hypothesis]], any Error>) {
            self.sources = sources
            self.empty = empty
            self.found = Array(repeating: [], count: sources.count)
            self.missing = sources.count
            self.done = done
        }
    }

    /// Sentences `range` of `request`.
    private struct Part {
        var request: Request
        var range: Range<Int>
        var tokens: Int { request.sources[range].reduce(0) { $0 + $1.count + 1 } }
    }

    let translator: Translator
    let capacity: Int
    private let workers: Int
    private let batchWait: Double
    private let batchTokens: Int
    private let report: @Sendable (BatchReport) -> Void
    private let condition = NSCondition()
    /// Parts not yet taken, in arrival order.
    private var parts: [Part] = []
    private var waitingSentences = 0
    private var waitingTokens = 0
    private var stopping = false
    /// Workers waiting for sentences (in `nextParts`).
    private var idleWorkers = 0
    private let finished = DispatchSemaphore(value: 0)

    /// `workers` threads search at once, each a batch at a time on one core.
    init(translator: Translator, workers: Int, capacity: Int, batchWait: Double, report: @escaping @Sendable (BatchReport) -> Void) {
        self.translator = translator
        self.workers = workers
        self.capacity = capacity
        self.batchWait = batchWait
        // A full batch: what one worker's batch may hold (sentences of ~24 tokens).
        self.batchTokens = translator.options.maxTokens ?? translator.options.batchSize * 24
        self.report = report
        for w in 0 ..< workers {
            let thread = Thread { [unowned self] in self.run() }
            thread.name = "nmt-serve-\(w)"
            thread.stackSize = 8 << 20
            thread.start()
        }
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
            let part = Part(request: Request(sources: sources, empty: empty, done: done), range: 0 ..< sources.count)
            parts.append(part)
            waitingSentences += sources.count
            waitingTokens += part.tokens
            condition.broadcast()
        }
    }

    /// Translates what is already waiting, then ends the threads; later requests are refused.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
        for _ in 0 ..< workers { finished.wait() }
    }

    private func run() {
        while let taken = nextParts() {
            let start = DispatchTime.now().uptimeNanoseconds
            let sources = taken.flatMap { $0.request.sources[$0.range] }, empty = taken.flatMap { $0.request.empty[$0.range] }
            let found = translator.search(sources, empty: empty, workers: 1)
            var completed: [Request] = []
            condition.withLock {
                var offset = 0
                for part in taken {
                    part.request.found.replaceSubrange(part.range, with: found[offset ..< offset + part.range.count])
                    offset += part.range.count
                    part.request.missing -= part.range.count
                    if part.request.missing == 0 { completed.append(part.request) }
                }
            }
            for request in completed { request.done.resume(returning: request.found) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            report(BatchReport(sentences: sources.count, waitingAfter: waiting, seconds: seconds))
        }
        finished.signal()
    }

    /// This worker's share of the waiting sentences (whole requests where they fit), once the first has waited `batchWait` or a
    /// full batch has gathered for each idle worker; nil when stopping with nothing left.
    private func nextParts() -> [Part]? {
        condition.lock()
        defer { condition.unlock() }
        idleWorkers += 1
        defer { idleWorkers -= 1 }
        while true {
            while parts.isEmpty {
                if stopping { return nil }
                condition.wait()
            }
            let deadline = Date(timeIntervalSinceNow: batchWait)
            while waitingTokens < batchTokens * idleWorkers && !stopping && condition.wait(until: deadline) {}
            if !parts.isEmpty { break }  // other idle workers took them all
        }
        // An equal part for each idle worker — but a lone idle worker leaves the busy ones their
        // part of a long queue (at least a batch), so all finish together.
        let perIdle = (waitingSentences + idleWorkers - 1) / idleWorkers
        let perWorker = (waitingSentences + workers - 1) / workers
        let share = min(perIdle, max(translator.options.batchSize, perWorker))
        var taken: [Part] = []
        var count = 0
        while count < share, !parts.isEmpty {
            var part = parts.removeFirst()
            if count + part.range.count > share {  // split: the rest stays first in line
                let cut = part.range.lowerBound + (share - count)
                parts.insert(Part(request: part.request, range: cut ..< part.range.upperBound), at: 0)
                part.range = part.range.lowerBound ..< cut
            }
            count += part.range.count
            waitingTokens -= part.tokens
            taken.append(part)
        }
        waitingSentences -= count
        return taken
    }
}
