// Learning-rate schedules (step counts from 1):
//   inverse-sqrt (fairseq): linear warmup from warmupInitLR to lr over `warmup` steps, then lr·√warmup/√step
//   noam (Vaswani et al. 2017, eq. 3, with lr as the scale factor):  lr · C^−½ · min(step^−½, step·warmup^−1.5)
//   constant: lr after a linear warmup.

import Foundation

public enum LearningRateSchedule: String, CaseIterable, Codable, Sendable {
    case inverseSqrt = "inverse-sqrt"
    case noam
    case constant

    public func rate(step: Int, lr: Double, warmup: Int, warmupInitLR: Double, dModel: Int) -> Double {
        let s = Double(max(step, 1)), w = Double(max(warmup, 1))
        switch self {
        case .inverseSqrt:
            if warmup > 0 && step < warmup { return warmupInitLR + (lr - warmupInitLR) * s / w }
            return lr * (w.squareRoot() / s.squareRoot())
        case .noam:
            return lr / Double(dModel).squareRoot() * min(1 / s.squareRoot(), s * pow(w, -1.5))
        case .constant:
            if warmup > 0 && step < warmup { return warmupInitLR + (lr - warmupInitLR) * s / w }
            return lr
        }
    }
}
