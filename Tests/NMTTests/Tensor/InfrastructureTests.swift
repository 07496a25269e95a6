import Foundation
import Testing
@testable import NMT

@Suite struct InfrastructureTests {
    @Test func arenaAllocatesNothingOnceWarm() {
        let arena = Arena(capacity: 100)
        for _ in 0..<3 {
            arena.reset()
            _ = arena.zeros(Shape(64, 64))
            _ = arena.tensor(Shape(1000))
        }
        let footprint = arena.footprint
        #expect(arena.isWarm)
        for _ in 0..<5 {
            arena.reset()
            _ = arena.tensor(Shape(64, 64))
            _ = arena.tensor(Shape(1000))
            #expect(arena.isWarm)
        }
        #expect(arena.footprint == footprint)
    }

    @Test func arenaTensorsDoNotOverlap() {
        let arena = Arena(capacity: 10)
        let a = arena.tensor(Shape(5)), b = arena.tensor(Shape(50)), c = arena.tensor(Shape(3))
        a.fill(1); b.fill(2); c.fill(3)
        #expect(a.array.allSatisfy { $0 == 1 } && b.array.allSatisfy { $0 == 2 } && c.array.allSatisfy { $0 == 3 })
    }

    @Test func parallelForVisitsEveryIndexOnce() {
        let n = 1000
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: n)
        counts.initialize(repeating: 0, count: n)
        defer { counts.deallocate() }
        nonisolated(unsafe) let c = counts
        Threads.parallelFor(n) { i in c[i] += 1 }
        #expect((0..<n).allSatisfy { counts[$0] == 1 })
    }

    @Test func clippingScalesTheGlobalNormDownToTheLimit() {
        var g: [Float] = [3, 4, 0, 12]  // norm 13
        let before = g.withUnsafeMutableBufferPointer { clipGlobalNorm($0, maxNorm: 6.5) }
        #expect(abs(before - 13) < 1e-9)
        let after = g.withUnsafeBufferPointer { globalNorm($0) }
        #expect(abs(after - 6.5) < 1e-5)
        #expect(abs(g[0] / g[1] - 0.75) < 1e-6)
    }

    @Test func clippingLeavesSmallGradientsAlone() {
        var g: [Float] = [0.3, 0.4]
        g.withUnsafeMutableBufferPointer { _ = clipGlobalNorm($0, maxNorm: 1) }
        #expect(g == [0.3, 0.4])
    }

    @Test func shapeDescribesRowsAndColumns() {
        let s = Shape(2, 3, 4)
        #expect(s.count == 24 && s.rows == 6 && s.columns == 4 && s.description == "[2, 3, 4]")
    }
}
