import CKernels
import Foundation
import Testing
@testable import NMT

@Suite struct PanelLinearTests {
    /// A packed copy of `w` that frees itself.
    final class Packed {
        let matrix: PackedMatrix
        private let count: Int
        init(_ w: Tensor) {
            count = PackedMatrix.size(rows: w.rows, columns: w.columns)
            matrix = PackedMatrix.pack(w, into: PageMemory.allocate(count))
        }
        deinit { PageMemory.deallocate(matrix.panels, count) }
    }

    /// Shapes around the tiles' edges: outputs not a multiple of 16, row counts past a tile (6) and a row block (48).
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (1, 33, 7), (2, 16, 16), (5, 70, 19), (7, 64, 32), (49, 17, 5), (100, 50, 40)]

    @Test(arguments: [false, true])
    func everyInstructionSetGivesTheReferenceBitForBit(relu: Bool) {
        var rng = RandomGenerator(seed: 11)
        for (m, n, k) in Self.shapes {
            let x = OwnedTensor(Shape(m, k), uniform: 1, rng: &rng), w = OwnedTensor(Shape(n, k), uniform: 1, rng: &rng)
            let bias = OwnedTensor(Shape(n), uniform: 1, rng: &rng)
            let expected = OwnedTensor(Shape(m, n)), y = OwnedTensor(Shape(m, n))
            panelLinearReference(expected.t, x.t, weight: w.t, bias: bias.t, relu: relu)
            let packed = Packed(w.t)
            for level in 0...nmt_panel_product_level() {
                y.t.fill(.nan)
                nmt_panel_product_on(level, y.t.pointer, n, x.t.pointer, k, m, packed.matrix.panels, n, k, bias.t.pointer, relu ? 1 : 0, 0,
                                     packed.matrix.panelCount)
                #expect((0..<m * n).allSatisfy { y.t[$0].bitPattern == expected.t[$0].bitPattern }, "level \(level), [\(m), \(k)]·[\(n), \(k)]ᵀ")
            }
        }
    }

    @Test func aRowsOutputDoesNotDependOnTheRowsMultipliedWithIt() {
        var rng = RandomGenerator(seed: 12)
        let (n, k) = (83, 37)
        let w = OwnedTensor(Shape(n, k), uniform: 1, rng: &rng), bias = OwnedTensor(Shape(n), uniform: 1, rng: &rng)
        let packed = Packed(w.t)
        let many = OwnedTensor(Shape(97, k), uniform: 1, rng: &rng), all = OwnedTensor(Shape(97, n))
        panelLinearForward(all.t, many.t, weight: packed.matrix, bias: bias.t)
        for (start, count) in [(0, 1), (5, 1), (3, 2), (10, 7), (40, 57)] {
            let part = OwnedTensor(Shape(count, n))
            panelLinearForward(part.t, many.t.rows(start..<start + count), weight: packed.matrix, bias: bias.t)
            #expect((0..<count * n).allSatisfy { part.t[$0].bitPattern == all.t[start * n + $0].bitPattern }, "rows \(start)..<\(start + count)")
        }
    }

    @Test func threadsSplitTheWorkWithoutChangingAnOutput() {
        var rng = RandomGenerator(seed: 13)
        let (m, n, k) = (70, 300, 64)
        let x = OwnedTensor(Shape(m, k), uniform: 1, rng: &rng), w = OwnedTensor(Shape(n, k), uniform: 1, rng: &rng)
        let packed = Packed(w.t)
        let one = OwnedTensor(Shape(m, n)), two = OwnedTensor(Shape(m, n)), fewRows = OwnedTensor(Shape(3, n))
        Threads.serially { panelLinearForward(one.t, x.t, weight: packed.matrix, bias: nil) }
        let saved = Threads.count
        Threads.set(2)
        defer { Threads.set(saved) }
        panelLinearForward(two.t, x.t, weight: packed.matrix, bias: nil)       // split by rows
        panelLinearForward(fewRows.t, x.t.rows(0..<3), weight: packed.matrix, bias: nil)  // split by panels
        #expect((0..<m * n).allSatisfy { one.t[$0].bitPattern == two.t[$0].bitPattern })
        #expect((0..<3 * n).allSatisfy { one.t[$0].bitPattern == fewRows.t[$0].bitPattern })
    }
}
