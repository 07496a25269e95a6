// PackedWeights: a model's matrices — every linear layer's weight, the embeddings and the output
// projection — packed into panels for decoding's row-independent float32 product (PanelLinear.swift),
// once, when a model is made ready for decoding. Biases, norms and positions stay in the parameter
// store. Owns the memory its PackedMatrix views point into.

public final class PackedWeights: @unchecked Sendable {
    public let matrices: [String: PackedMatrix]
    private let storage: UnsafeMutablePointer<Float>
    private let count: Int

    /// The tensors a decoding model reads packed: the same matrices int8 decoding quantizes.
    public static func layout(_ c: TransformerConfig) -> [(name: String, shape: [Int])] { QuantizedWeights.layout(c) }

    /// Packs the matrices of `store` (which may then give their memory back: nothing reads them there).
    public init(packing store: ParameterStore, config: TransformerConfig) {
        let layout = PackedWeights.layout(config)
        count = layout.reduce(0) { $0 + PackedMatrix.size(rows: $1.shape[0], columns: $1.shape[1]) }
        storage = PageMemory.allocate(count, for: "the packed weights")
        var matrices: [String: PackedMatrix] = [:]
        var offset = 0
        for (name, shape) in layout {
            matrices[name] = .pack(store.value(name), into: storage + offset)
            offset += PackedMatrix.size(rows: shape[0], columns: shape[1])
        }
        self.matrices = matrices
    }

    deinit { PageMemory.deallocate(storage, count) }
}
