// Test helpers: owned tensors, seeded random fills, and a central finite-difference checker.

import Foundation
@testable import NMT

/// A tensor that owns its memory (tests only; the library uses arenas and parameter stores).
final class OwnedTensor {
    let tensor: Tensor
    init(_ shape: Shape) {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(shape.count, 1))
        p.initialize(repeating: 0, count: max(shape.count, 1))
        tensor = Tensor(p, shape)
    }
    convenience init(_ shape: Shape, values: [Float]) {
        self.init(shape)
        precondition(values.count == shape.count)
        for (i, v) in values.enumerated() { tensor[i] = v }
    }
    convenience init(_ shape: Shape, uniform scale: Float, rng: inout RandomGenerator) {
        self.init(shape)
        for i in 0..<shape.count { tensor[i] = (rng.nextUnitFloat() * 2 - 1) * scale }
    }
    deinit { tensor.pointer.deallocate() }
    var t: Tensor { tensor }
}

/// Checks analytic gradients against central finite differences.
///
/// `objective` must recompute the scalar loss from the current inputs (Float kernels, the final
/// sum in Double). For each checked element x: fd = (L(x+h) − L(x−h)) / 2h.
///
/// Why the tolerance is sound in Float32: inputs and gradients are O(0.1–1); the loss is a sum of
/// ≲10³ Float terms, so its rounding noise is ≲1e-5 and, divided by 2h = 2e-2, perturbs fd by
/// ≲5e-4. The truncation error h²·f‴/6 is ≲2e-5 for these smooth functions. A wrong gradient
/// (missing term, wrong index, transposed matrix) is off by O(|g|), far above
/// |fd − g| ≤ 2e-3 + 1e-2·|g|.
struct GradientCheck {
    var h: Float = 1e-2
    var absoluteTolerance: Double = 2e-3
    var relativeTolerance: Double = 1e-2
    /// At most this many elements per input are checked (spread evenly), to keep tests fast.
    var maxElements = 64

    struct Mismatch: CustomStringConvertible {
        var input: String, index: Int, analytic: Double, numeric: Double
        var description: String { "\(input)[\(index)]: analytic \(analytic) vs finite-difference \(numeric)" }
    }

    func mismatches(inputs: [(name: String, value: Tensor, gradient: Tensor)], objective: () -> Double) -> [Mismatch] {
        var found: [Mismatch] = []
        for input in inputs {
            let n = input.value.count
            let step = max(1, n / maxElements)
            for i in stride(from: 0, to: n, by: step) {
                let saved = input.value[i]
                input.value[i] = saved + h
                let plus = objective()
                input.value[i] = saved - h
                let minus = objective()
                input.value[i] = saved
                let numeric = (plus - minus) / (2 * Double(h))
                let analytic = Double(input.gradient[i])
                if abs(numeric - analytic) > absoluteTolerance + relativeTolerance * abs(analytic) {
                    found.append(Mismatch(input: input.name, index: i, analytic: analytic, numeric: numeric))
                }
            }
        }
        return found
    }
}

/// Σ_i w[i]·out[i] in Double: a scalar objective whose gradient with respect to `out` is `w`.
func weightedSum(_ out: Tensor, _ w: Tensor) -> Double {
    var s = 0.0
    for i in 0..<out.count { s += Double(out[i]) * Double(w[i]) }
    return s
}

/// Path to a bundled test fixture.
func fixturePath(_ relative: String) -> String {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}

/// A file of this repository (tests may read the bundled corpus).
func repositoryPath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(relative).path
}
