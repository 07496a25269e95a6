// BF16Weights: the weights a bf16 pass's products read — the model's parameters rounded to
// bfloat16 once per update (a pass reads each weight matrix in several products: the forward
// product, the backward's input gradient; rounding each time gives the same bits, once is cheaper),
// and each weight packed from that copy, once per update, into the layout oneDNN's kernel reads
// (its "any" weights format: row pairs in blocks), which oneDNN would otherwise do inside every
// product for every block of rows.

import CDNNL
import CKernels

final class BF16Weights {
    /// The parameters' float32 values and their rounded copy, between `round` and `release`.
    private var source: UnsafePointer<Float>? = nil
    private var count = 0
    private let values = GrowableBuffer<UInt16>()
    /// Counts `round` calls: packed weights of an earlier count are stale.
    private var generation = 0

    /// A weight's packed copy, by where its rounded rows lie and which way it is read.
    private struct Slot: Hashable {
        var source: UnsafePointer<UInt16>
        var transposed: Bool
    }
    private struct Packed {
        var values: UnsafeMutableRawPointer
        var bytes: Int
        var layout: dnnl_memory_desc_t
        var generation: Int
    }
    private var packed: [Slot: Packed] = [:]

    deinit { for p in packed.values { p.values.deallocate() } }

    /// Rounds `parameters` (unchanged until `release`): products that read a float32 operand lying
    /// in them read it from the copy.
    func round(_ parameters: UnsafeBufferPointer<Float>) {
        guard let base = parameters.baseAddress, !parameters.isEmpty else { return }
        let count = parameters.count, rows = count / 1024
        let copy = values.reserve(count)
        roundToBFloat16(copy, base, rows: rows, columns: 1024, ld: 1024)
        if count > rows * 1024 {
            roundToBFloat16(copy + rows * 1024, base + rows * 1024, rows: 1, columns: count - rows * 1024, ld: count - rows * 1024)
        }
        (source, self.count) = (base, count)
        generation += 1
    }

    /// Ends what `round` started (before the parameters change).
    func release() {
        source = nil
    }

    /// The rounded copy of `count` float32 values at `p`, where the rounded parameters hold them.
    func rounded(at p: UnsafePointer<Float>, count: Int) -> UnsafePointer<UInt16>? {
        guard let source, p >= source, p + count <= source + self.count else { return nil }
        return UnsafePointer(values.reserve(self.count)) + (p - source)
    }

    /// Whether `count` bfloat16 values at `p` lie in the rounded parameters.
    func holds(_ p: UnsafePointer<UInt16>, count: Int) -> Bool {
        guard source != nil else { return false }
        let base = UnsafePointer(values.reserve(self.count))
        return p >= base && p + count <= base + self.count
    }

    /// B [k, n] (Wᵀ over W's rounded rows [n, k] when transposed, else W [k, n] itself) in
    /// `layout`, packed this update: the same bfloat16 values, moved — by the pairs kernels when
    /// the layout is brgemm's row pairs in blocks, else by oneDNN's reorder.
    func packed(_ source: UnsafePointer<UInt16>, transposed: Bool, k: Int, n: Int, layout: dnnl_memory_desc_t,
                primitives: OneDNNBF16Primitives) -> UnsafePointer<UInt16> {
        var layout = layout
        let slot = Slot(source: source, transposed: transposed)
        var entry = packed[slot]
        if let e = entry, e.generation == generation, var seen = Optional(e.layout), dnnl_memory_desc_equal(&seen, &layout) != 0 {
            return UnsafePointer(e.values.assumingMemoryBound(to: UInt16.self))
        }
        let bytes = dnnl_memory_desc_get_size(&layout)
        if entry == nil || entry!.bytes < bytes {
            entry?.values.deallocate()
            entry = Packed(values: UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes: bytes, layout: layout, generation: 0)
        }
        entry!.layout = layout
        entry!.generation = generation
        packed[slot] = entry
        let target = entry!.values
        if let pairs = BF16PairsLayout(layout, k: k, n: n, padK: false) {
            // The layout brgemm reads (blocks of X rows by Y columns of B, row pairs in 32-bit
            // words): laid out block by block by the pairs kernels (Kernels/bfloat16_pairs.c),
            // about three times faster here than oneDNN's generic reorder.
            let (bx, by, ks, ns) = (pairs.x, pairs.y, pairs.kStride, pairs.nStride)
            let words = target.assumingMemoryBound(to: UInt32.self)
            if transposed {  // W's rows [n, k]: B(r, j) = W[j, r]
                Threads.parallelChunks(n / by, minChunk: 1) { columnBlocks in
                    for nb in columnBlocks {
                        for kb in 0..<(k / bx) {
                            nmt_bf16_words_transposed(words + (kb * ks + nb * ns) / 2, source + nb * by * k + kb * bx, by, bx, k)
                        }
                    }
                }
            } else {         // W's rows [k, n] are B's
                Threads.parallelChunks(k / bx, minChunk: 1) { rowBlocks in
                    nmt_bf16_pack_pair_blocks(words, source, nil, k, n, n, bx, by, ks / 2, ns / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
                }
            }
        } else {
            primitives.reorder(source, transposed: transposed, k: k, n: n, layout: layout, into: target)
        }
        return UnsafePointer(target.assumingMemoryBound(to: UInt16.self))
    }
}
