// MPICommunicator: the ranks of an `mpirun` job over Open MPI, through the C shim in Sources/CMPI
// (Open MPI's handles are macros Swift cannot import). Built only with the MPI trait
// (`swift build --traits MPI`, scripts/build-mpi).

#if MPI
import CMPI
import Foundation

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localSize: Int
    public let name: String

    init() throws {
        try MPICommunicator.check(nmt_mpi_init(), "MPI_Init_thread")
        var value: Int32 = 0
        try MPICommunicator.check(nmt_mpi_rank(&value), "MPI_Comm_rank")
        rank = Int(value)
        try MPICommunicator.check(nmt_mpi_size(&value), "MPI_Comm_size")
        size = Int(value)
        try MPICommunicator.check(nmt_mpi_local_size(&value), "MPI_Comm_split_type")
        localSize = Int(value)
        var major: Int32 = 0, minor: Int32 = 0
        MPI_Get_version(&major, &minor)
        name = "MPI \(major).\(minor) (\(MPICommunicator.libraryName()))"
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try MPICommunicator.check(nmt_mpi_sum_floats(base, Int64(values.count)), "MPI_Allreduce")
    }

    public func sum(_ values: inout [Double]) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { try MPICommunicator.check(nmt_mpi_sum_doubles($0.baseAddress, count), "MPI_Allreduce") }
    }

    public func max(_ values: inout [Int64]) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { try MPICommunicator.check(nmt_mpi_max_int64($0.baseAddress, count), "MPI_Allreduce") }
    }

    public func broadcast(_ bytes: inout [UInt8], from root: Int) throws {
        var length: [Int64] = [rank == root ? Int64(bytes.count) : 0]
        try length.withUnsafeMutableBytes { try MPICommunicator.check(nmt_mpi_broadcast($0.baseAddress, 8, Int32(root)), "MPI_Bcast") }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        guard length[0] > 0 else { return }
        try bytes.withUnsafeMutableBytes { try MPICommunicator.check(nmt_mpi_broadcast($0.baseAddress, length[0], Int32(root)), "MPI_Bcast") }
    }

    public func abort(status: Int32) -> Never {
        nmt_mpi_abort(status)
        exit(status)
    }

    public func finish() { _ = nmt_mpi_finalize() }

    private static func check(_ status: Int32, _ call: String) throws {
        guard status != 0 else { return }
        var text = [CChar](repeating: 0, count: Int(nmt_mpi_max_error_string()) + 1)
        nmt_mpi_error_string(status, &text, Int32(text.count))
        throw NMTError("\(call) failed: \(string(text))")
    }

    private static func libraryName() -> String {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        MPI_Get_library_version(&text, &length)
        let full = string(text)
        return full.split(whereSeparator: { $0 == "," || $0.isNewline }).first.map(String.init) ?? full
    }
}
/// A C string in a buffer, up to its terminating zero.
private func string(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
#endif
