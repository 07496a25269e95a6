// BF16Matrix: a row-major matrix of bfloat16 values that it does not own — float32 values rounded
// once (nearest, ties to even) and read by several products of a `--precision bf16` pass, instead
// of being rounded again by each. The feed-forward layer keeps its hidden activations this way for
// the backward pass (half the bytes of float32; the backward products read exactly these values
// either way), and a linear layer's output gradient is rounded once for its two products.

import CKernels

public struct BF16Matrix: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<UInt16>
    public let rows: Int
    public let columns: Int

    public init(_ pointer: UnsafeMutablePointer<UInt16>, rows: Int, columns: Int) {
        self.pointer = pointer
        self.rows = rows
        self.columns = columns
    }

    public var count: Int { rows * columns }

    /// self = bfloat16(x), x of the same shape.
    public func round(from x: Tensor) {
        checkShape(x.rows == rows && x.columns == columns, "BF16Matrix.round: shape", x.shape, Shape(rows, columns))
        roundToBFloat16(pointer, x.pointer, rows: rows, columns: columns, ld: columns)
    }

    /// Rows `range` (a view of the same memory).
    public func rows(_ range: Range<Int>) -> BF16Matrix {
        require(range.lowerBound >= 0 && range.upperBound <= rows, "rows: range \(range) outside a matrix of \(rows) rows")
        return BF16Matrix(pointer + range.lowerBound * columns, rows: range.count, columns: columns)
    }

    /// Element i as float32 (exact: bfloat16 is float32's upper half).
    @inline(__always)
    public subscript(i: Int) -> Float { Float(bitPattern: UInt32(pointer[i]) << 16) }

    var operand: BF16Operand { .bfloat16(pointer) }
}

/// out[r·columns + j] = bfloat16(x[r·ld + j]), rounded to nearest, ties to even, rows split
/// across the cores (the conversion of a step's activations is not free: 4M values per product).
func roundToBFloat16(_ out: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) {
    Threads.parallelChunks(rows, minChunk: max(1, 16384 / max(columns, 1))) { range in
        nmt_round_to_bfloat16(out + range.lowerBound * columns, x + range.lowerBound * ld, range.count, columns, ld)  // Kernels/bfloat16_rows.c
    }
}

/// out = bfloat16(x) and sums[j] += Σ_r x[r, j] (rows in order: the bits `columnSumAccumulate`
/// gives), each worker a block of columns.
/// With `dropout`, x's values pass through dropout's backward first (x·scale where kept, else 0:
/// the bits of `DropoutMask.apply`), in the same read: no float32 copy of that gradient is made.
func roundToBFloat16SummingColumns(_ out: BF16Matrix, _ x: Tensor, sums: UnsafeMutablePointer<Float>, dropout: DropoutMask? = nil) {
    checkShape(x.rows == out.rows && x.columns == out.columns, "roundToBFloat16SummingColumns: shape", x.shape, Shape(out.rows, out.columns))
    if let dropout { checkShape(dropout.count == x.count, "roundToBFloat16SummingColumns: mask vs x", Shape(dropout.count), x.shape) }
    let columns = x.columns
    Threads.parallelColumnBlocks(columns, unit: 128) { block in  // blocks of whole cache lines
        let first = block.lowerBound
        if let dropout {
            nmt_dropout_gradient_to_bfloat16_summing_columns(out.pointer + first, sums + first, x.pointer + first, dropout.kept + first, dropout.scale,
                                                             x.rows, block.count, columns)
        } else {
            nmt_round_to_bfloat16_summing_columns(out.pointer + first, sums + first, x.pointer + first, x.rows, block.count, columns)
        }
    }
}
