// Communicator: the ranks of a data-parallel training run and the few collective operations the
// trainer needs (sum a buffer across ranks, broadcast bytes, agree on a flag). One process is the
// world of size 1, whose operations do nothing; `mpirun -np N` gives N ranks over Open MPI
// (MPICommunicator, compiled only with the MPI trait).

import Foundation

public protocol Communicator: AnyObject {
    /// This process's rank, 0..<size; rank 0 leads (validates, logs, writes checkpoints).
    var rank: Int { get }
    var size: Int { get }
    /// Ranks on this machine, which share its cores.
    var localSize: Int { get }
    /// A short description for the log, e.g. "Open MPI 4.1.4".
    var name: String { get }
    /// values[i] = Σ over ranks of values[i], on every rank.
    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws
    func sum(_ values: inout [Double]) throws
    /// values[i] = max over ranks of values[i], on every rank.
    func max(_ values: inout [Int64]) throws
    /// Every rank receives `root`'s bytes (they may differ in length beforehand).
    func broadcast(_ bytes: inout [UInt8], from root: Int) throws
    /// Ends every rank of the job now (after a failure only this rank saw).
    func abort(status: Int32) -> Never
    /// Leaves the world at the end of a run.
    func finish()
}

extension Communicator {
    public var isLeader: Bool { rank == 0 }

    /// True on every rank when `flag` is true on any.
    public func any(_ flag: Bool) throws -> Bool {
        if size == 1 { return flag }
        var values: [Int64] = [flag ? 1 : 0]
        try max(&values)
        return values[0] != 0
    }

    /// True on every rank when every rank passed the same `value`.
    /// (One process never computes `value`: a whole-model checksum costs a pass over the weights.)
    public func allEqual(_ value: @autoclosure () -> UInt64) throws -> Bool {
        if size == 1 { return true }
        let value = value()
        // max(v) and max(~v) bound v from above and below: equal everywhere iff max(v) == ~max(~v).
        var values = [Int64(bitPattern: value), Int64(bitPattern: ~value)]
        try max(&values)
        return values[0] == ~values[1]
    }

    /// Runs `body` on every rank; when it fails on any rank, every rank throws the error of the
    /// lowest failing rank (so the leader can report a problem another rank found, once).
    public func agree<T>(_ body: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        if size == 1 { return try result.get() }
        var failed: [Int64] = [0]
        if case .failure = result { failed[0] = Int64(size - rank) }
        try max(&failed)
        guard failed[0] > 0 else { return try result.get() }
        let first = size - Int(failed[0])
        var message: [UInt8] = []
        if case .failure(let error) = result, rank == first { message = Array(describeError(error).utf8) }
        try broadcast(&message, from: first)
        let text = String(decoding: message, as: UTF8.self)
        throw CollectiveError(message: first == 0 ? text : "rank \(first): \(text)")
    }
}

/// A failure every rank of the job knows about (so the ranks can leave together and only the
/// leader reports it; an empty message: another process reports it).
public struct CollectiveError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

private func describeError(_ error: Error) -> String {
    if let error = error as? NMTError { return error.message }
    if let error = error as? CollectiveError { return error.message }
    return "\(error)"
}

/// The world of one process.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localSize: Int { 1 }
    public var name: String { "one process" }
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    public func sum(_ values: inout [Double]) throws {}
    public func max(_ values: inout [Int64]) throws {}
    public func broadcast(_ bytes: inout [UInt8], from root: Int) throws {}
    public func abort(status: Int32) -> Never { exit(status) }
    public func finish() {}
}

/// The world this process belongs to: Open MPI's when `mpirun` started it and nmt was built with
/// MPI, otherwise one process. A job of several copies started by `mpirun` from a build without
/// MPI is refused (they would each train alone into the same directory).
public func joinWorld() throws -> Communicator {
    let environment = ProcessInfo.processInfo.environment
    let launchedSize = environment["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) }
    #if MPI
    if launchedSize != nil { return try MPICommunicator() }
    #else
    if let launchedSize, launchedSize > 1 {
        let rank = environment["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } ?? 0
        guard rank == 0 else { throw CollectiveError(message: "") }  // rank 0 says it
        throw NMTError("mpirun started \(launchedSize) copies of an nmt built without MPI; build the MPI-enabled binary with scripts/build-mpi and run that")
    }
    #endif
    return SingleProcess()
}
