// DecodingWorkspace: the memory one decoding worker reuses from batch to batch. Caches and
// activations come from two arenas that grow to the largest batch seen, so after the first
// batch decoding touches no fresh pages (first-touch page faults cost ~7 % of a run).

public final class DecodingWorkspace: @unchecked Sendable {
    /// Lives for one batch: encoder output, cross-attention keys/values, self-attention caches.
    let batch = Arena()
    /// Lives for one decoder step: that step's activations and log-probabilities.
    let step = Arena()

    public init() {}
}
