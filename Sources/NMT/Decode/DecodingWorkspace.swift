// DecodingWorkspace: the memory one decoding worker reuses from batch to batch. Caches and
// activations come from two arenas that grow to the largest batch seen, so decoding touches few
// fresh pages (first-touch page faults cost ~7 % of a run when every batch had new memory). What
// a rare long batch touched beyond `residentBatchFloats` is given back after it, so a long stream
// holds what one batch needs, not the union of all of them.

public final class DecodingWorkspace: @unchecked Sendable {
    /// Lives for one batch: encoder output, cross-attention keys/values, self-attention caches.
    let batch = Arena()
    /// Lives for one decoder step: that step's activations and log-probabilities.
    let step = Arena()
    /// The self-attention cache's positions (nodes) of one batch, reserved for the longest output
    /// allowed with no prefix shared; only the pages of nodes used so far are resident.
    let selfAttention = PageBuffer()
    /// Batch memory kept resident between batches (16 MB).
    static let residentBatchFloats = 1 << 22

    public init() {}

    /// The workspaces of an ensemble's other members (member i > 0 uses members[i − 1]).
    private var members: [DecodingWorkspace] = []

    /// The workspace of ensemble member `i` (0: this one).
    func member(_ i: Int) -> DecodingWorkspace {
        if i == 0 { return self }
        while members.count < i { members.append(DecodingWorkspace()) }
        return members[i - 1]
    }

    /// After a batch: returns its memory beyond the resident part to the system.
    func releaseBatchMemory() {
        batch.reset()
        batch.discardPages(keeping: DecodingWorkspace.residentBatchFloats)
        selfAttention.discardAll()
        for member in members { member.releaseBatchMemory() }
    }
}
