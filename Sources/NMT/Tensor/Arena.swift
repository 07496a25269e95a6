// Arena: bump allocation of Float32 tensors that live for one step (activations, scratch).
//
// `reset()` at the start of a step frees everything at once. The first steps may need more
// than the arena holds; those requests are served from extra chunks, and the next `reset()`
// replaces all chunks by one block of the high-water size. After warm-up (the largest batch
// seen) a step allocates nothing.

public final class Arena: @unchecked Sendable {
    private var block: UnsafeMutablePointer<Float>
    private var capacity: Int
    private var used = 0
    /// Floats in use counting overflow chunks, as a stack (what the block would need).
    private var logical = 0
    /// Chunks for requests that did not fit the block: (memory, logical position, size).
    private var overflow: [(pointer: UnsafeMutablePointer<Float>, start: Int, size: Int)] = []
    private var overflowFloats = 0
    /// Largest number of floats in use at once since creation.
    public private(set) var highWater = 0

    /// Alignment of every tensor, in floats (64 bytes: one cache line, one AVX-512 register).
    private static let alignment = 16

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, Arena.alignment)
        block = PageMemory.allocate(self.capacity)
    }

    deinit {
        PageMemory.deallocate(block, capacity)
        overflow.forEach { PageMemory.deallocate($0.pointer, $0.size) }
    }


    /// A new uninitialised tensor of `shape`, valid until the next `reset()`.
    public func tensor(_ shape: Shape) -> Tensor {
        Tensor(floats(shape.count), shape)
    }

    /// A new tensor of `shape` filled with zeros.
    public func zeros(_ shape: Shape) -> Tensor {
        let t = tensor(shape)
        t.zero()
        return t
    }

    /// Storage for `count` bytes (masks), valid until the next `reset()`.
    public func bytes(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        UnsafeMutableRawPointer(floats((count + 3) / 4)).bindMemory(to: UInt8.self, capacity: count)
    }

    /// Storage for `count` token ids, valid until the next `reset()`.
    public func ids(_ count: Int) -> UnsafeMutablePointer<Int32> {
        UnsafeMutableRawPointer(floats(count)).bindMemory(to: Int32.self, capacity: count)
    }

    /// Storage for `count` flat indices, valid until the next `reset()`.
    public func indices(_ count: Int) -> UnsafeMutablePointer<Int> {
        UnsafeMutableRawPointer(floats(2 * count)).bindMemory(to: Int.self, capacity: count)
    }

    /// A new uninitialised bfloat16 matrix, valid until the next `reset()`.
    public func bfloat16(rows: Int, columns: Int) -> BF16Matrix {
        let p = UnsafeMutableRawPointer(floats((rows * columns + 1) / 2)).bindMemory(to: UInt16.self, capacity: rows * columns)
        return BF16Matrix(p, rows: rows, columns: columns)
    }

    /// `x` rounded to bfloat16, valid until the next `reset()`.
    public func bfloat16(of x: Tensor) -> BF16Matrix {
        let m = bfloat16(rows: x.rows, columns: x.columns)
        m.round(from: x)
        return m
    }

    /// Raw storage for `count` floats, valid until the next `reset()`.
    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let rounded = (count + Arena.alignment - 1) / Arena.alignment * Arena.alignment
        logical += rounded
        highWater = max(highWater, logical)
        if used + rounded <= capacity {
            let p = block + used
            used += rounded
            return p
        }
        let size = max(rounded, Arena.alignment)
        let p = PageMemory.allocate(size)
        overflow.append((p, logical - rounded, size))
        overflowFloats += size
        return p
    }

    /// A point to return to with `release(to:)`: tensors handed out after it are temporaries.
    public func mark() -> Int { logical }

    /// Frees the tensors handed out since `mark` (stack order), so their memory is reused — the
    /// backward pass frees each layer's temporaries this way. Requests that overflowed the block
    /// stay until `reset()`.
    public func release(to mark: Int) {
        guard mark <= logical else { return }
        logical = mark
        used = min(used, mark)
        while let last = overflow.last, last.start >= mark {
            PageMemory.deallocate(last.pointer, last.size)
            overflowFloats -= last.size
            overflow.removeLast()
        }
    }

    /// Frees every tensor handed out. Grows the block to the high-water mark if the last
    /// steps overflowed, so that later steps of the same size allocate nothing.
    public func reset() {
        if !overflow.isEmpty || capacity < highWater {
            overflow.forEach { PageMemory.deallocate($0.pointer, $0.size) }
            overflow.removeAll(keepingCapacity: true)
            overflowFloats = 0
            PageMemory.deallocate(block, capacity)
            capacity = highWater
            block = PageMemory.allocate(capacity)
        }
        used = 0
        logical = 0
    }

    /// Gives the block's pages past its first `keeping` floats back to the system (their contents
    /// are lost; they read as zeros when next touched). For arenas whose largest use is rare — a
    /// decoding worker's batch memory — so that what one long batch touched is not held after it.
    /// Only between steps: everything handed out is invalid.
    public func discardPages(keeping: Int = 0) {
        let kept = min(keeping, capacity)
        PageMemory.discard(block + kept, capacity - kept)
    }

    /// Floats held (block plus overflow chunks): the arena's memory footprint / 4.
    public var footprint: Int { capacity + overflowFloats }
    /// True when the last requests all fit in the block (no allocation happened since reset).
    public var isWarm: Bool { overflow.isEmpty }
}
