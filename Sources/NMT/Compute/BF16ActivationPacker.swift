// BF16ActivationPacker: a weight gradient's activations (B of dW = dyᵀ·x: x [tokens, in]) laid out
// in the row-pair blocks oneDNN's brgemm kernel reads, by nmt's pairs kernels as they are rounded —
// one pass — where oneDNN would copy the rounded rows again inside the product, for every block of
// A's rows. Products that read the same x (attention's q, k and v weight gradients) can share one
// packing (`sharing`).

import CDNNL
import CKernels

/// oneDNN's brgemm layout of B [k, n] (`nmt_dnnl_pairs_layout`): blocks of x rows by y columns of
/// row pairs, kStride and nStride elements apart; `elements` in all (k padded).
struct BF16PairsLayout: Equatable {
    var x, y, kStride, nStride, elements: Int

    init?(_ descriptor: dnnl_memory_desc_t, k: Int, n: Int, padK: Bool) {
        var layout = descriptor
        var x: Int64 = 0, y: Int64 = 0, kStride: Int64 = 0, nStride: Int64 = 0
        guard nmt_dnnl_pairs_layout(&layout, Int64(k), Int64(n), padK ? 1 : 0, &x, &y, &kStride, &nStride) != 0 else { return nil }
        (self.x, self.y, self.kStride, self.nStride) = (Int(x), Int(y), Int(kStride), Int(nStride))
        elements = dnnl_memory_desc_get_size(&layout) / 2
    }
}

final class BF16ActivationPacker {
    /// What the packed activations hold: B's values (where they lie) and layout.
    private struct Packing: Equatable {
        var source: UnsafeRawPointer
        var float32: Bool
        var ld, k, n: Int
        var layout: BF16PairsLayout
    }
    /// Packed activations (grown as needed, reused by every product).
    private let packedValues = GrowableBuffer<UInt16>()
    /// Inside `sharing`: what the last product packed (its B unchanged since).
    private var shared: Packing?? = nil
    /// Activations packed so far (what tests see of the path a product took).
    private(set) var packings = 0

    /// Runs `body` with the promise that no B its products read changes during it: a B packed by
    /// one product is then read as packed by the next with the same B.
    func sharing(_ body: () -> Void) {
        let outermost = shared == nil
        if outermost { shared = .some(nil) }
        body()
        if outermost { shared = nil }
    }

    /// B [k, n] rounded and laid out in `layout`; the rows padding the last row block are zero.
    func pack(_ b: BF16Operand, k: Int, n: Int, layout: BF16PairsLayout) -> UnsafePointer<UInt16> {
        let packing = Packing(source: b.address, float32: b.isFloat32, ld: b.ld(columns: n), k: k, n: n, layout: layout)
        if let last = shared {
            if last == packing { return UnsafePointer(packedValues.reserve(layout.elements)) }
            shared = .some(packing)
        }
        packings += 1
        let words = packedValues.reserve(layout.elements)
        let out = UnsafeMutableRawPointer(words).assumingMemoryBound(to: UInt32.self)
        // Workers take blocks of rows: x is read in order, whole rows at a time.
        Threads.parallelChunks((k + layout.x - 1) / layout.x, minChunk: 1) { rowBlocks in
            switch b {
            case .float32(let p, let ld):
                nmt_bf16_pack_pair_blocks(out, nil, p, k, n, ld, layout.x, layout.y, layout.kStride / 2, layout.nStride / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
            case .bfloat16(let p):
                nmt_bf16_pack_pair_blocks(out, p, nil, k, n, n, layout.x, layout.y, layout.kStride / 2, layout.nStride / 2, rowBlocks.lowerBound, rowBlocks.upperBound)
            }
        }
        return UnsafePointer(words)
    }
}
