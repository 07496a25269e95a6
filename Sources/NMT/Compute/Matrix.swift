// Matrix: a row-major matrix of float32 values (a Tensor) or of bfloat16 values (a BF16Matrix):
// what products read and write. A bf16 pass keeps an activation that only products read rounded
// once (q, k, v, a feed-forward layer's hidden units, a sub-layer's input); everything else, and
// every float32 pass, holds float32. Operations take a Matrix and dispatch on its element type, so
// a layer has one body for every precision (as CTranslate2's ops dispatch on a StorageView's dtype).

public enum Matrix {
    case float32(Tensor)
    case bfloat16(BF16Matrix)

    public var rows: Int {
        switch self {
        case .float32(let t): return t.rows
        case .bfloat16(let m): return m.rows
        }
    }

    public var columns: Int {
        switch self {
        case .float32(let t): return t.columns
        case .bfloat16(let m): return m.columns
        }
    }

    var shape: Shape { Shape(rows, columns) }

    /// Whether the values are rounded to bfloat16.
    public var isRounded: Bool { if case .bfloat16 = self { return true } else { return false } }

    /// The float32 tensor (a float32 pass's matrices, and every matrix that is not a product input).
    public var float32: Tensor {
        guard case .float32(let t) = self else { fatalError("Matrix: a float32 matrix was needed, this one is bfloat16") }
        return t
    }

    /// Rows `range` (a view of the same memory).
    public func rows(_ range: Range<Int>) -> Matrix {
        switch self {
        case .float32(let t): return .float32(t.rows(range))
        case .bfloat16(let m): return .bfloat16(m.rows(range))
        }
    }

    /// The matrix as a bfloat16 product reads it.
    var operand: BF16Operand {
        switch self {
        case .float32(let t): return .float32(t.pointer, ld: t.columns)
        case .bfloat16(let m): return m.operand
        }
    }

    /// Matrices of `heads` columns each, per sequence of `length` rows: matrix (b, h) is [length, columns/heads]
    /// at row b·length, column h·columns/heads (attention's [B, T, H, D] view of [B·T, C]).
    func perHead(length: Int, heads: Int) -> HeadMatrices {
        switch self {
        case .float32(let t):
            return .float32(MatrixBatch(t.pointer, outerStride: length * t.columns, innerStride: t.columns / heads, ld: t.columns))
        case .bfloat16(let m):
            return .bfloat16(BF16Rows(base: m.pointer, outerStride: length * m.columns, innerStride: m.columns / heads, ld: m.columns))
        }
    }
}
