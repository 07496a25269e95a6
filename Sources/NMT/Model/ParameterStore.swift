// ParameterStore: all weights in one contiguous Float32 buffer. Each tensor has a fairseq name, a
// shape and an offset; `TransformerWeights` views the buffer as the model's structure. Training
// keeps gradients (and Adam its moments) in `ParameterBuffer`s of the same layout, so the
// optimizer is one loop — a model loaded only to translate has no such buffers.

public final class ParameterStore: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    private let index: [String: Int]

    public init(entries layout: [(name: String, shape: [Int])]) {
        var offset = 0
        var entries: [Entry] = []
        for (name, shape) in layout {
            entries.append(Entry(name: name, shape: shape, offset: offset))
            // Each tensor starts on a 64-byte boundary.
            offset += (shape.reduce(1, *) + 15) / 16 * 16
        }
        self.entries = entries
        count = offset
        // Zeroed pages straight from the system: a quantized model never touches its Float
        // matrices, so they cost no memory.
        values = PageMemory.allocate(max(count, 1), for: "the model's \(count) parameters")
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    deinit { PageMemory.deallocate(values, max(count, 1)) }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    public func value(_ name: String) -> Tensor { tensor(name, in: values) }

    func tensor(_ name: String, in base: UnsafeMutablePointer<Float>) -> Tensor {
        guard let e = entry(name) else { fatalError("ParameterStore: no tensor named \(name)") }
        let shape: Shape
        switch e.shape.count {
        case 1: shape = Shape(e.shape[0])
        case 2: shape = Shape(e.shape[0], e.shape[1])
        default: fatalError("ParameterStore: \(name) has rank \(e.shape.count)")
        }
        return Tensor(base + e.offset, shape)
    }

    public var valueBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: values, count: count) }

    /// FNV-1a (64 bits) of the values' bytes, in hex: which weights a training-state file belongs to.
    public func checksum() -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = UnsafeRawPointer(values).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count {
            hash = (hash ^ UInt64(words[i])) &* 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }

    /// Number of weights (without alignment padding).
    public var parameterCount: Int { entries.reduce(0) { $0 + $1.count } }
}

/// A zeroed buffer with a parameter store's layout: gradients, optimizer moments.
public final class ParameterBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public func zero() { pointer.update(repeating: 0, count: count) }
}
