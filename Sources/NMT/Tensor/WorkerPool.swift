// WorkerPool: the threads behind `Threads.parallelFor` — started once, kept for the life of the
// process, woken for each parallel region. Starting threads is the step that fails when memory
// is short (a thread's stack is address space: `ulimit -v`), and libdispatch, asked for a worker it
// cannot start, waits for one forever; a pool that starts its threads up front fails there, once,
// with one line, instead of hanging at some later region.
//
// One region at a time: a region asked for while another caller's runs (two translations at
// once) runs serially on its own thread — its results are the same, since every parallel loop
// gives each output to one worker whatever the split.

import Foundation

final class WorkerPool: @unchecked Sendable {
    private var threads: [pthread_t] = []
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var finished = pthread_cond_t()
    /// Held by the caller whose region the pool runs.
    private var region = pthread_mutex_t()
    /// Bumped for every region; a worker runs each generation's job once.
    private var generation: UInt64 = 0
    private var job: ((Int) -> Void)?
    private var jobWorkers = 0
    private var pending = 0

    static let shared = WorkerPool()

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&region, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&finished, nil)
    }

    /// Runs `body(w)` for w in 0..<workers, w = 0 on the calling thread, the rest on the pool's
    /// threads (started here when there are fewer); returns when all have returned. Returns false,
    /// running nothing, when another caller's region holds the pool.
    func run(workers: Int, _ body: @escaping (Int) -> Void) -> Bool {
        guard pthread_mutex_trylock(&region) == 0 else { return false }
        defer { pthread_mutex_unlock(&region) }
        startThreads(workers - 1)
        pthread_mutex_lock(&mutex)
        job = body
        jobWorkers = workers
        pending = workers - 1
        generation &+= 1
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        body(0)
        pthread_mutex_lock(&mutex)
        while pending > 0 { pthread_cond_wait(&finished, &mutex) }
        job = nil
        pthread_mutex_unlock(&mutex)
        return true
    }

    /// Starts threads until the pool has `count`; a thread the system refuses ends the process
    /// with one line (as an allocation it refuses does: PageMemory.outOfMemory).
    private func startThreads(_ count: Int) {
        while threads.count < count {
            let index = threads.count + 1
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.work(index: context.index)
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
                errno = status
                PageMemory.outOfMemory(bytes: 8 << 20, for: "thread \(index + 1) of \(count + 1) (its stack)")
            }
            threads.append(thread)
        }
    }

    private func work(index: Int) {
        var seen: UInt64 = 0
        pthread_mutex_lock(&mutex)
        while true {
            while generation == seen { pthread_cond_wait(&wake, &mutex) }
            seen = generation
            guard index < jobWorkers, job != nil else { continue }
            do {
                // The job's reference ends with this scope, before the caller learns it is done
                // (its closure must not outlive `run`).
                let body = job!
                pthread_mutex_unlock(&mutex)
                body(index)
            }
            pthread_mutex_lock(&mutex)
            pending -= 1
            if pending == 0 { pthread_cond_signal(&finished) }
        }
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) { (self.pool, self.index) = (pool, index) }
}
