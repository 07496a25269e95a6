// QuantizedWeights: int8 copies of a model's matrices — every linear layer's weight and the shared
// embedding / output projection — with one Float scale per row (WeightMatrix's scheme), for
// quantized decoding. Biases, norms and positions stay Float in the parameter store. Owns the
// memory its QuantizedMatrix views point into.

import CKernels

public enum ComputeType: String, Codable, CaseIterable, Sendable {
    case float32, int8
}

public final class QuantizedWeights: @unchecked Sendable {
    public let matrices: [String: QuantizedMatrix]
    private let values: UnsafeMutablePointer<Int8>
    private let scales: UnsafeMutablePointer<Float>
    /// The matrices packed for the VNNI product, and their row sums (see `pack()`).
    private let packedValues: UnsafeMutablePointer<Int8>?
    private let packedSums: UnsafeMutablePointer<Int32>?

    /// The tensors that are int8 in a quantized model: the layout's matrices ([out, in] `.weight`s
    /// and the embedding), in storage order.
    public static func layout(_ c: TransformerConfig) -> [(name: String, shape: [Int])] {
        TransformerWeights.layout(c).filter { $0.shape.count == 2 }
    }

    /// The name of a quantized matrix's scale tensor in a model file (CTranslate2's convention).
    public static func scaleName(_ name: String) -> String { name + "_scale" }

    /// Zeroed storage for every matrix of `config`. `forDecoding`: room for the packed copies the
    /// VNNI product reads, on CPUs that have it (fill them with `pack()` once the values are final).
    public init(config: TransformerConfig, forDecoding: Bool = false) {
        let layout = QuantizedWeights.layout(config)
        let valueCount = layout.reduce(0) { $0 + $1.shape[0] * $1.shape[1] }, scaleCount = layout.reduce(0) { $0 + $1.shape[0] }
        values = .allocate(capacity: max(valueCount, 1))
        values.initialize(repeating: 0, count: max(valueCount, 1))
        scales = .allocate(capacity: max(scaleCount, 1))
        scales.initialize(repeating: 1, count: max(scaleCount, 1))
        let packing = forDecoding && Int8Kernel.packedProduct
        let packedCount = layout.reduce(0) { $0 + nmt_int8_packed_size($1.shape[0], $1.shape[1]) }
        let packedValues: UnsafeMutablePointer<Int8>? = packing ? .allocate(capacity: max(packedCount, 1)) : nil
        let packedSums: UnsafeMutablePointer<Int32>? = packing ? .allocate(capacity: max(scaleCount, 1)) : nil
        (self.packedValues, self.packedSums) = (packedValues, packedSums)
        var matrices: [String: QuantizedMatrix] = [:]
        var (v, s, p) = (0, 0, 0)
        for (name, shape) in layout {
            let packed = packedValues.map { (values: $0 + p, sums: packedSums! + s) }
            matrices[name] = QuantizedMatrix(values: values + v, scales: scales + s, rows: shape[0], columns: shape[1], packed: packed)
            v += shape[0] * shape[1]
            s += shape[0]
            p += nmt_int8_packed_size(shape[0], shape[1])
        }
        self.matrices = matrices
    }

    deinit { values.deallocate(); scales.deallocate(); packedValues?.deallocate(); packedSums?.deallocate() }

    /// Fills the packed copies from the values (after loading or quantizing them).
    public func pack() {
        for q in matrices.values {
            if let packed = q.packed { nmt_int8_pack(packed.values, packed.sums, q.values, q.rows, q.columns) }
        }
    }

    /// Quantizes the matrices of a Float32 parameter store.
    public convenience init(quantizing store: ParameterStore, config: TransformerConfig, forDecoding: Bool = false) {
        self.init(config: config, forDecoding: forDecoding)
        for (name, q) in matrices { _ = QuantizedMatrix.quantize(store.value(name), values: q.values, scales: q.scales) }
        pack()
    }

    /// Writes q/scale back into the store's Float32 matrices (running an int8 file in float32).
    public func dequantize(into store: ParameterStore) {
        for (name, q) in matrices {
            let w = store.value(name)
            for r in 0..<q.rows {
                for j in 0..<q.columns { w.pointer[r * q.columns + j] = Float(q.values[r * q.columns + j]) / q.scales[r] }
            }
        }
    }
}
