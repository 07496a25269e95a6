// PanelLinear: the float32 linear product of decoding, y = x·Wᵀ + b, with W packed once into
// panels of sixteen outputs (Kernels/float_panels.c). Every output is
//
//   y[r, o] = fma(x[r, k−1], W[o, k−1], … fma(x[r, 1], W[o, 1], fma(x[r, 0], W[o, 0], 0)) …) + b[o]
//
// — a function of row r of x and row o of W alone, in an order the code fixes. OpenBLAS picks its
// kernels and summation blocks by the number of rows (and oneDNN or sgemv take few rows), so a
// sentence's numbers there depend on the batch it is decoded in; here they cannot, on any CPU or
// instruction set, whatever the threads' split. `panelLinearReference` is the same arithmetic in
// plain Swift, which tests hold every instruction set's kernel to, bit for bit.

import CKernels

/// A weight [rows = out, columns = in] packed into ⌈rows/16⌉ panels [columns, 16] (64-byte aligned).
public struct PackedMatrix: @unchecked Sendable {
    public let panels: UnsafeMutablePointer<Float>
    public let rows: Int
    public let columns: Int

    /// Floats the packed form of a [rows, columns] matrix takes.
    public static func size(rows: Int, columns: Int) -> Int { nmt_panels_size(rows, columns) }

    /// Packs `w` [rows, columns] into `panels` (room for `size(rows:columns:)` floats, 64-byte aligned:
    /// PageMemory's are).
    public static func pack(_ w: Tensor, into panels: UnsafeMutablePointer<Float>) -> PackedMatrix {
        nmt_pack_panels(panels, w.pointer, w.rows, w.columns)
        return PackedMatrix(panels: panels, rows: w.rows, columns: w.columns)
    }

    var panelCount: Int { (rows + 15) / 16 }
}

/// y = x·Wᵀ + b (then max(·, 0) with `relu`) for a packed W. Outside parallel regions the work is
/// split between threads — by rows when there are many, else by panels — which changes no output.
public func panelLinearForward(_ y: Tensor, _ x: Tensor, weight w: PackedMatrix, bias: Tensor?, relu: Bool = false) {
    let (m, n, k) = (x.rows, w.rows, w.columns)
    if m == 0 { return }
    let biasPointer = bias.map { UnsafePointer($0.pointer) }
    let workers = Threads.inParallelRegion ? 1 : Threads.count
    let panels = w.panelCount
    guard workers > 1, Double(m) * Double(n) * Double(k) >= 1e6 else {
        nmt_panel_product(y.pointer, n, x.pointer, k, m, w.panels, n, k, biasPointer, relu ? 1 : 0, 0, panels)
        return
    }
    if m >= 16 * workers {
        Threads.parallelFor(workers) { t in
            let rows = (m * t / workers)..<(m * (t + 1) / workers)
            nmt_panel_product(y.pointer + rows.lowerBound * n, n, x.pointer + rows.lowerBound * k, k, rows.count, w.panels, n, k, biasPointer,
                              relu ? 1 : 0, 0, panels)
        }
    } else {
        Threads.parallelFor(workers) { t in
            nmt_panel_product(y.pointer, n, x.pointer, k, m, w.panels, n, k, biasPointer, relu ? 1 : 0, panels * t / workers, panels * (t + 1) / workers)
        }
    }
}

/// The kernel's arithmetic in plain Swift (`addingProduct` is one fused multiply-add), for tests.
func panelLinearReference(_ y: Tensor, _ x: Tensor, weight w: Tensor, bias: Tensor?, relu: Bool) {
    let (n, k) = (w.rows, w.columns)
    for r in 0..<x.rows {
        for o in 0..<n {
            var sum: Float = 0
            for i in 0..<k { sum = sum.addingProduct(x.pointer[r * k + i], w.pointer[o * k + i]) }
            if let bias { sum = sum + bias.pointer[o] }
            y.pointer[r * n + o] = relu && sum < 0 ? 0 : sum
        }
    }
}
