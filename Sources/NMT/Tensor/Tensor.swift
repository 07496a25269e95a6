// Tensor: a shaped, row-major, contiguous view of Float32 memory that it does not own.
// Memory comes from an `Arena` (activations, scratch) or a `ParameterStore` (weights,
// gradients). A view is two words plus an inline shape: cheap to make and pass around.

public struct Tensor: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let shape: Shape

    public init(_ pointer: UnsafeMutablePointer<Float>, _ shape: Shape) {
        self.pointer = pointer
        self.shape = shape
    }

    public var count: Int { shape.count }
    public var rows: Int { shape.rows }
    public var columns: Int { shape.columns }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// The same memory seen with another shape of the same element count.
    public func reshaped(_ newShape: Shape) -> Tensor {
        require(newShape.count == count, "reshape: \(shape) has \(count) elements, \(newShape) needs \(newShape.count)")
        return Tensor(pointer, newShape)
    }

    /// Rows `range` of the tensor seen as a matrix [rows, columns].
    public func rows(_ range: Range<Int>) -> Tensor {
        require(range.lowerBound >= 0 && range.upperBound <= rows,
                     "rows: range \(range) outside a tensor of \(rows) rows \(shape)")
        return Tensor(pointer + range.lowerBound * columns, Shape(range.count, columns))
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        nonmutating set { pointer[i] = newValue }
    }

    public func fill(_ value: Float) { buffer.update(repeating: value) }
    public func zero() { fill(0) }

    public func copy(from other: Tensor) {
        require(other.count == count, "copy: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    /// A copy of the values (for tests and I/O, not for hot loops).
    public var array: [Float] { Array(buffer) }
}

/// Fails with the operation's name and both shapes. Shape mismatches are programming errors.
/// (fatalError, not precondition: release builds drop precondition messages.)
@inline(__always)
func checkShape(_ condition: Bool, _ operation: StaticString, _ a: Shape, _ b: Shape,
                file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("\(operation): shape mismatch \(a) vs \(b)", file: file, line: line) }
}

/// Stops with `message` when `condition` is false — in release builds too (unlike precondition,
/// whose message -O drops). For programming errors, never for user input.
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
