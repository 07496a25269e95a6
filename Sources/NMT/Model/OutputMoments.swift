// The whole vocabulary's share of a shortlisted step's log-normaliser. A step under a lexical
// shortlist (RestrictedOutput.swift) computes the logits l_j = h·w_j + b_j of its allowed tokens A
// alone. Normalising over A (as Marian and CTranslate2 do) drops the mass of the excluded tokens
// E = V \ A — with label smoothing every token keeps some, measured 15–25 % of a step's mass on the
// Bible models — so log-probabilities rise by a step-dependent amount and beam search re-ranks.
// Instead the excluded tokens' log-partition is estimated from the first two moments of their
// logits, taken as the whole vocabulary's minus A's exact ones (all relative to the mean logit
// m = h·w̄ + b̄, w̄ and b̄ the mean output row and bias, so nothing cancels):
//   Σ_V (l_j − m)   = 0,
//   Σ_V (l_j − m)²  = hᵀ M h + 2 h·g + s,  M = Σ_j (w_j − w̄)(w_j − w̄)ᵀ [C, C],
//                                           g = Σ_j (w_j − w̄)(b_j − b̄),  s = Σ_j (b_j − b̄)²,
//   n = |E|,  δ = −Σ_A (l_j − m) / n,  σ² = (Σ_V (l_j − m)² − Σ_A (l_j − m)²) / n − δ²,
//   log Σ_E e^(l_j) ≈ log n + m + δ + σ²/2        (the log-normal mean, as if E's logits were normal),
// and the step's log-normaliser is log(Σ_A e^(l_j) + that). Its cost is one [R, C]·[C, C] product
// per step; a row's estimate depends on that row alone. V counts the live tokens only: a token whose
// output bias is below −1000 (the tokens an imported Marian vocabulary lacks have −10⁴,
// MarianImport.absentTokenBias) has no mass, and its logit would swamp the variance.

import Foundation
import CBLAS

public final class OutputMoments: @unchecked Sendable {
    /// V: the live tokens (`isLive`) of the vocabulary.
    let count: Int
    /// [vocabulary]: whether a token's bias leaves it any mass.
    let isLive: [Bool]
    static let deadBias: Float = -1000
    /// w̄ [C] and b̄.
    let meanRow: UnsafeMutablePointer<Float>
    let meanBias: Float
    /// M [C, C] (symmetric, so x·Mᵀ = x·M), packed for the row-independent product.
    let scatter: PackedMatrix
    private let scatterStorage: UnsafeMutablePointer<Float>
    private let scatterSize: Int
    /// g [C] and s.
    let crossBias: UnsafeMutablePointer<Float>
    let biasScatter: Float

    /// The moments of `model`'s output projection (its weight type's rows: packed float32 or
    /// dequantized int8) and output bias.
    public init(of model: Transformer) {
        let v = model.config.vocabularySize, c = model.config.dModel
        let live = (0..<v).map { j in model.weights.outputBias.map { $0[j] >= Self.deadBias } ?? true }
        let liveCount = live.filter { $0 }.count
        (isLive, count) = (live, liveCount)
        let chunk = 1024
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: chunk * c)
        let centered = UnsafeMutablePointer<Double>.allocate(capacity: chunk * c)
        let ids = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
        defer { rows.deallocate(); centered.deallocate(); ids.deallocate() }
        let bias: (Int) -> Double = { j in model.weights.outputBias.map { Double($0[j]) } ?? 0 }
        /// Rows first…first+n−1 of the output projection into `rows`.
        func gather(_ first: Int, _ n: Int) {
            for i in 0..<n { ids[i] = Int32(first + i) }
            let out = Tensor(rows, Shape(n, c))
            switch model.weights.outputProjection {
            case .float32(let w): embeddingForward(out, ids: ids, table: w, scale: 1)
            case .packed(let p): embeddingForward(out, ids: ids, table: p, scale: 1)
            case .int8(let q): embeddingForward(out, ids: ids, table: q, scale: 1)
            }
        }
        // Means.
        var mean = [Double](repeating: 0, count: c), biasMean = 0.0
        for first in stride(from: 0, to: v, by: chunk) {
            let n = min(chunk, v - first)
            gather(first, n)
            for i in 0..<n where live[first + i] {
                for k in 0..<c { mean[k] += Double(rows[i * c + k]) }
                biasMean += bias(first + i)
            }
        }
        mean = mean.map { $0 / Double(liveCount) }
        biasMean /= Double(liveCount)
        // Centred second moments, in double.
        var m = [Double](repeating: 0, count: c * c), g = [Double](repeating: 0, count: c), s = 0.0
        for first in stride(from: 0, to: v, by: chunk) {
            let n = min(chunk, v - first)
            gather(first, n)
            for i in 0..<n {
                guard live[first + i] else {
                    for k in 0..<c { centered[i * c + k] = 0 }
                    continue
                }
                let db = bias(first + i) - biasMean
                s += db * db
                for k in 0..<c {
                    let d = Double(rows[i * c + k]) - mean[k]
                    centered[i * c + k] = d
                    g[k] += d * db
                }
            }
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(c), Int32(n), 1, centered, Int32(c), 1, &m, Int32(c))
        }
        meanRow = .allocate(capacity: c)
        for k in 0..<c { meanRow[k] = Float(mean[k]) }
        meanBias = Float(biasMean)
        crossBias = .allocate(capacity: c)
        for k in 0..<c { crossBias[k] = Float(g[k]) }
        biasScatter = Float(s)
        let full = UnsafeMutablePointer<Float>.allocate(capacity: c * c)
        defer { full.deallocate() }
        for i in 0..<c { for j in 0..<c { full[i * c + j] = Float(i <= j ? m[i * c + j] : m[j * c + i]) } }
        scatterSize = PackedMatrix.size(rows: c, columns: c)
        scatterStorage = PageMemory.allocate(scatterSize, for: "the shortlist's output moments")
        scatter = PackedMatrix.pack(Tensor(full, Shape(c, c)), into: scatterStorage)
    }

    deinit {
        meanRow.deallocate()
        crossBias.deallocate()
        PageMemory.deallocate(scatterStorage, scatterSize)
    }

    /// Estimates each row's excluded log-mass `excluded[r]` (−∞ when it excludes nothing) and adds
    /// it to its log-normaliser `logZ[r]` (over its allowed tokens), for decoder outputs `x` [R, C]
    /// and the allowed tokens' logits (`allowedLogits(r)` calls its body with each of row r's
    /// tokens and logits).
    func addExcludedMass(to logZ: UnsafeMutablePointer<Float>, excluded: UnsafeMutablePointer<Float>, x: Tensor, arena: Arena,
                         allowedLogits: (Int, (Int32, Float) -> Void) -> Void) {
        let rows = x.rows, c = x.columns
        let mark = arena.mark()
        defer { arena.release(to: mark) }
        let projected = arena.tensor(Shape(rows, c))
        panelLinearForward(projected, x, weight: scatter, bias: nil)
        for r in 0..<rows {
            let h = x.pointer + r * c, hm = projected.pointer + r * c
            var mean = Double(meanBias), quadratic = Double(biasScatter)
            for k in 0..<c {
                mean += Double(h[k]) * Double(meanRow[k])
                quadratic += Double(h[k]) * (Double(hm[k]) + 2 * Double(crossBias[k]))
            }
            var allowed = 0, sum = 0.0, squares = 0.0
            allowedLogits(r) { token, l in
                guard isLive[Int(token)] else { return }
                let d = Double(l) - mean
                allowed += 1; sum += d; squares += d * d
            }
            let n = Double(count - allowed)
            excluded[r] = -.infinity
            guard n > 0 else { continue }
            let shift = -sum / n
            let variance = max(0, (quadratic - squares) / n - shift * shift)
            excluded[r] = Float(log(n) + mean + shift + variance / 2)
            logZ[r] = logAddExp(logZ[r], excluded[r])
        }
    }
}

/// log(e^a + e^b), in double.
func logAddExp(_ a: Float, _ b: Float) -> Float {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    let (x, y) = (Double(a), Double(b))
    return Float(max(x, y) + log1p(exp(-abs(x - y))))
}
