// Threads: one setting for how many cores nmt uses, shared by our own parallel loops and
// by OpenBLAS, so the two never oversubscribe the machine.
//
// OpenBLAS itself always runs single-threaded: `matmul` splits a large product into row blocks,
// one per core, through `parallelFor` (on nmt's WorkerPool); batched attention products run one per worker. So there is
// one pool of threads (ours), no oversubscription, and no OpenBLAS worker threads spinning or
// being woken between the many small products of a step. (Measured: switching OpenBLAS between
// 1 and 2 threads around every parallel region cost ~13 % of a training step in scheduling.)

import CBLAS
import Foundation

public enum Threads {
    nonisolated(unsafe) private static var current = 0
    /// Marks the threads running a parallel region's bodies (thread-local, so independent callers —
    /// two translations at once — do not see each other's regions).
    nonisolated(unsafe) private static var regionKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Cores nmt uses. Defaults to every core the process may run on.
    public static var count: Int {
        if current == 0 { set(ProcessInfo.processInfo.activeProcessorCount) }
        return current
    }

    /// Sets the core count for our loops; OpenBLAS is kept at one thread (`openblas_set_num_threads(1)`).
    public static func set(_ n: Int) {
        require(n >= 1, "Threads.set: thread count must be at least 1, got \(n)")
        current = n
        openblas_set_num_threads(1)
    }

    /// OpenBLAS starts a thread per core when it loads, each allocating a 128 MB buffer at once —
    /// and under a tight `ulimit -v` retrying that allocation forever, which also blocks exit.
    /// nmt never uses them (OpenBLAS always runs on the calling thread, see above), so a command
    /// calls this first thing: unless OPENBLAS_NUM_THREADS is set, it sets it to 1 and executes
    /// itself again, so OpenBLAS loads without them. (If exec fails, the command goes on as it is.)
    public static func restartWithoutOpenBLASThreads() {
        guard getenv("OPENBLAS_NUM_THREADS") == nil else { return }
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// True on a thread that is running the body of a `parallelFor` (nested parallel loops run serially).
    public static var inParallelRegion: Bool { pthread_getspecific(regionKey) != nil }

    /// Runs `body` with the calling thread marked as inside a parallel region: every `parallelFor`
    /// it reaches runs serially on this thread. For workers that each own a share of the work
    /// (decoding workers with single-threaded kernels).
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let key = regionKey
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, outer) }
        return try body()
    }

    /// Runs `body(i)` for every i in 0..<n, split into at most `Threads.count` contiguous
    /// chunks run in parallel. Each index is processed exactly once, by one worker, so a body
    /// whose writes depend only on `i` gives the same result for any thread count.
    /// Nested calls run serially on the calling worker.
    public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        let workers = min(n, count)
        if workers <= 1 || inParallelRegion {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            let ran = WorkerPool.shared.run(workers: workers) { w in
                serially {
                    let start = n * w / workers, end = n * (w + 1) / workers
                    for i in start..<end { body(i) }
                }
            }
            // Another caller's region holds the pool: this one runs on its own thread.
            if !ran { serially { for i in 0..<n { body(i) } } }
        }
    }

    /// Runs `body(range)` over contiguous chunks of 0..<n of at least `minChunk` indices, in
    /// parallel. For element-wise work whose per-index cost is too small for `parallelFor`.
    public static func parallelChunks(_ n: Int, minChunk: Int, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(count, n / max(minChunk, 1)))
        if chunks == 1 { body(0..<n); return }
        parallelFor(chunks) { c in body(n * c / chunks ..< n * (c + 1) / chunks) }
    }

    /// Runs `body(columns)` over contiguous blocks of 0..<columns in parallel, each a multiple of
    /// `unit` columns (the last takes the rest) — `unit` when there are enough for every worker,
    /// else 16 — for kernels that sum down columns, rows in order, so that every column's result
    /// is one worker's whatever the thread count.
    public static func parallelColumnBlocks(_ columns: Int, unit widest: Int, _ body: (Range<Int>) -> Void) {
        let unit = columns >= widest * count ? widest : 16
        parallelChunks(columns / unit, minChunk: 1) { blocks in
            body(blocks.lowerBound * unit ..< (blocks.upperBound == columns / unit ? columns : blocks.upperBound * unit))
        }
    }
}
