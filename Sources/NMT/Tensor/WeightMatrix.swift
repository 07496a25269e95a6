// WeightMatrix: a linear layer's weight [out, in] as the layers read it — Float32 (a view of the
// parameter store, what training uses), or int8 with one Float scale per output row (quantized
// decoding, CTranslate2's scheme: scale_o = 127 / max_i |W[o, i]|, q[o, i] = round(W[o, i]·scale_o),
// so W ≈ q / scale).
//
//   y[n, o] = Σ_i x[n, i] · W[o, i]  (+ b[o])
// A new weight type is a new case here and in `linearForward` (Linear.swift); the layers do not
// change. The int8 product is in Int8Matmul.swift, the packed float32 one in PanelLinear.swift.

import CBLAS
import CDNNL
import CKernels

public struct QuantizedMatrix: @unchecked Sendable {
    public let values: UnsafeMutablePointer<Int8>   // [rows, columns]
    public let scales: UnsafeMutablePointer<Float>  // [rows]
    public let rows: Int
    public let columns: Int
    /// The values packed for the VNNI product (Kernels/int8_packed.c) and each row's sum, when the
    /// CPU has it and the matrix is used for decoding; nil otherwise.
    public let packed: (values: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int32>)?

    public init(values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                packed: (values: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int32>)? = nil) {
        self.values = values
        self.scales = scales
        self.rows = rows
        self.columns = columns
        self.packed = packed
    }

    /// Quantizes `w` [rows, columns] into `values` and `scales` (a row of zeros gets scale 1). A
    /// non-finite weight (a diverged model, which loading warns about) cannot trap: the scale is
    /// taken over the finite ones, NaN becomes 0 and ±inf ±127.
    public static func quantize(_ w: Tensor, values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) -> QuantizedMatrix {
        let (rows, columns) = (w.rows, w.columns)
        for r in 0..<rows {
            let row = w.pointer + r * columns
            var largest: Float = 0
            for j in 0..<columns where row[j].isFinite { largest = max(largest, abs(row[j])) }
            let scale: Float = largest > 0 ? 127 / largest : 1
            scales[r] = scale
            for j in 0..<columns {
                let q = (row[j] * scale).rounded()
                values[r * columns + j] = q.isNaN ? 0 : Int8(max(-127, min(127, q)))
            }
        }
        return QuantizedMatrix(values: values, scales: scales, rows: rows, columns: columns)
    }
}

public enum WeightMatrix: @unchecked Sendable {
    case float32(Tensor)
    /// Float32 packed into panels for decoding's row-independent product (PanelLinear.swift).
    case packed(PackedMatrix)
    case int8(QuantizedMatrix)

    public var rows: Int {
        switch self {
        case .float32(let t): return t.rows
        case .packed(let p): return p.rows
        case .int8(let q): return q.rows
        }
    }

    public var columns: Int {
        switch self {
        case .float32(let t): return t.columns
        case .packed(let p): return p.columns
        case .int8(let q): return q.columns
        }
    }

    /// The Float32 matrix (training and its gradients always hold Float32 weights).
    public var float32: Tensor {
        guard case .float32(let t) = self else { fatalError("WeightMatrix: training needs Float32 weights as stored, this one is packed or int8") }
        return t
    }
}

/// What runs a compute type's matrix products, for the log (never a silent fallback): in decoding
/// (`decoding`) float32 products run on packed panels, elsewhere through OpenBLAS.
public func kernelDescription(_ type: ComputeType, decoding: Bool = false) -> String {
    switch type {
    case .float32 where decoding:
        let isa = ["baseline x86-64", "AVX2", "AVX-512"][Int(nmt_panel_product_level())]
        return "nmt's row-independent product over weights packed at load, \(isa)"
    case .float32:
        let v = dnnl_version()!.pointee
        return "OpenBLAS sgemm, \(String(cString: openblas_get_corename())) kernels; oneDNN \(v.major).\(v.minor) sgemm for products of 2–5 rows"
    case .int8: return Int8Kernel.description
    }
}
