// Corpus and sentence BLEU (Papineni et al. 2002), numerically identical to sacreBLEU 2.4.3
// (sacrebleu/metrics/bleu.py): same tokenizers, clipping over multiple references, closest
// reference length, brevity penalty, the four smoothing methods of Chen & Cherry (2014), and the
// same floating-point operations in the same order.

import Foundation

public enum BLEUSmoothing: String, CaseIterable, Sendable {
    case none, floor
    case addK = "add-k"
    case exp

    /// sacreBLEU's SMOOTH_DEFAULTS.
    var defaultValue: Double? {
        switch self {
        case .floor: return 0.1
        case .addK: return 1
        case .none, .exp: return nil
        }
    }
}

public struct BLEUScore: Sendable {
    public var score: Double
    /// Matching and total n-grams for n = 1…4 (add-k smoothing adds k to orders ≥ 2, as sacreBLEU shows).
    public var counts: [Double]
    public var totals: [Double]
    public var precisions: [Double]
    public var brevityPenalty: Double
    public var hypothesisLength: Int
    public var referenceLength: Int
    public var ratio: Double { referenceLength > 0 ? Double(hypothesisLength) / Double(referenceLength) : 0 }

    /// sacreBLEU's verbose part: "82.1/72.0/65.7/63.8 (BP = 0.891 ratio = 0.896 hyp_len = 95 ref_len = 106)".
    public var details: String {
        let precisionText = precisions.map { String(format: "%.1f", $0) }.joined(separator: "/")
        return "\(precisionText) (BP = \(String(format: "%.3f", brevityPenalty)) ratio = \(String(format: "%.3f", ratio)) "
            + "hyp_len = \(hypothesisLength) ref_len = \(referenceLength))"
    }
}

public struct BLEU: Sendable {
    public static let maxOrder = 4
    public var lowercase = false
    public var tokenizer = BLEUTokenizer.thirteenA
    public var smoothing = BLEUSmoothing.exp
    /// For floor and add-k; nil takes sacreBLEU's default (0.1 and 1).
    public var smoothValue: Double?
    /// Stop at the highest order with any n-grams (sacreBLEU turns this on for sentence BLEU).
    public var effectiveOrder = false

    public init(lowercase: Bool = false, tokenizer: BLEUTokenizer = .thirteenA, smoothing: BLEUSmoothing = .exp,
                smoothValue: Double? = nil, effectiveOrder: Bool = false) {
        self.lowercase = lowercase
        self.tokenizer = tokenizer
        self.smoothing = smoothing
        self.smoothValue = smoothValue
        self.effectiveOrder = effectiveOrder
    }

    /// Statistics of one segment: [hyp_len, ref_len, correct_1…4, total_1…4].
    static let statisticsWidth = 2 + 2 * maxOrder

    /// sacreBLEU's signature, e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:nmt-0.1.0".
    public func signature(references: Int) -> String {
        var smooth = smoothing.rawValue
        if let value = smoothValue ?? smoothing.defaultValue { smooth += String(format: "[%.2f]", value) }
        return "nrefs:\(references)|case:\(lowercase ? "lc" : "mixed")|eff:\(effectiveOrder ? "yes" : "no")"
            + "|tok:\(tokenizer.rawValue)|smooth:\(smooth)|version:nmt-\(nmtVersion)"
    }

    /// Corpus BLEU. `references` holds one array per reference set, each as long as `hypotheses`.
    public func corpusScore(hypotheses: [String], references: [[String]]) -> BLEUScore {
        let stats = segmentStatistics(hypotheses: hypotheses, references: references)
        var total = [Int](repeating: 0, count: BLEU.statisticsWidth)
        for segment in stats { for k in 0..<total.count { total[k] += segment[k] } }
        return score(total)
    }

    /// One BLEU score per segment.
    public func sentenceScores(hypotheses: [String], references: [[String]]) -> [BLEUScore] {
        segmentStatistics(hypotheses: hypotheses, references: references).map(score)
    }

    func segmentStatistics(hypotheses: [String], references: [[String]]) -> [[Int]] {
        perSegment(hypotheses: hypotheses, references: references, metric: "BLEU", statistics)
    }

    /// sacreBLEU's `_preprocess_segment`: lowercase, right-strip, tokenize; then `split()`.
    private func tokens(_ sentence: String) -> (scalars: [UInt32], ranges: [Range<Int>]) {
        let cased = lowercase ? sentence.lowercased() : sentence
        let tokenized = tokenizer.tokens(Array(pythonRstrip(codePoints(cased))))
        return (tokenized, pythonSplit(tokenized))
    }

    /// Four 32-bit token ids per window.
    private static let layout = WindowLayout(maxOrder: maxOrder, bits: 32)
    /// The id of a hypothesis token that no reference has: it can never match.
    private static let unknownToken: UInt64 = 0xFFFF_FFFF

    private func statistics(hypothesis: String, references: [String]) -> [Int] {
        // Tokens become ids interned from this segment's references (exact, no hashing of n-grams).
        var ids: [ArraySlice<UInt32>: UInt64] = [:]
        var referenceWindows: [[NGramKey]] = []
        var referenceLengths: [Int] = []
        for reference in references {
            let (scalars, ranges) = tokens(reference)
            let symbols = ranges.map { range -> UInt64 in
                let token = scalars[range]
                if let id = ids[token] { return id }
                let id = UInt64(ids.count + 1)
                ids[token] = id
                return id
            }
            referenceLengths.append(symbols.count)
            referenceWindows.append(BLEU.layout.sortedWindows(symbols))
        }
        let (scalars, ranges) = tokens(hypothesis)
        let hypothesisWindows = BLEU.layout.sortedWindows(ranges.map { ids[scalars[$0]] ?? BLEU.unknownToken })

        var stats = [Int](repeating: 0, count: BLEU.statisticsWidth)
        stats[0] = ranges.count
        stats[1] = closestReferenceLength(ranges.count, referenceLengths)
        for n in 1...BLEU.maxOrder {
            stats[2 + n - 1] = BLEU.layout.clippedMatches(hypothesisWindows, referenceWindows, order: n)
            stats[2 + BLEU.maxOrder + n - 1] = max(0, ranges.count - n + 1)
        }
        return stats
    }

    /// sacreBLEU's `_get_closest_ref_len`: the closest length, the shorter one on a tie.
    private func closestReferenceLength(_ hypothesisLength: Int, _ lengths: [Int]) -> Int {
        var closestDifference = -1, closest = -1
        for length in lengths {
            let difference = abs(hypothesisLength - length)
            if closestDifference == -1 || difference < closestDifference {
                closestDifference = difference
                closest = length
            } else if difference == closestDifference && length < closest {
                closest = length
            }
        }
        return closest
    }

    /// sacreBLEU's `compute_bleu` on summed statistics, operation for operation.
    func score(_ stats: [Int]) -> BLEUScore {
        let maxOrder = BLEU.maxOrder
        let sysLen = stats[0], refLen = stats[1]
        var correct = stats[2..<(2 + maxOrder)].map(Double.init)
        var total = stats[(2 + maxOrder)...].map(Double.init)
        let smoothValue = self.smoothValue ?? smoothing.defaultValue ?? 0
        let bp: Double
        if sysLen < refLen {
            bp = sysLen > 0 ? Foundation.exp(1 - Double(refLen) / Double(sysLen)) : 0
        } else {
            bp = 1
        }
        var precisions = [Double](repeating: 0, count: maxOrder)
        if !correct.contains(where: { $0 != 0 }) {
            return BLEUScore(score: 0, counts: correct, totals: total, precisions: precisions, brevityPenalty: bp,
                             hypothesisLength: sysLen, referenceLength: refLen)
        }
        var smoothMteval = 1.0
        var effectiveOrder = maxOrder
        for n in 1...maxOrder {
            if smoothing == .addK && n > 1 {
                correct[n - 1] += smoothValue
                total[n - 1] += smoothValue
            }
            if total[n - 1] == 0 { break }
            if self.effectiveOrder { effectiveOrder = n }
            if correct[n - 1] == 0 {
                if smoothing == .exp {
                    smoothMteval *= 2
                    precisions[n - 1] = 100 / (smoothMteval * total[n - 1])
                } else if smoothing == .floor {
                    precisions[n - 1] = 100 * smoothValue / total[n - 1]
                }
            } else {
                precisions[n - 1] = 100 * correct[n - 1] / total[n - 1]
            }
        }
        // sum() starts from 0 and adds left to right; my_log(0) is −9999999999.
        var logSum = 0.0
        for p in precisions[0..<effectiveOrder] { logSum += p == 0 ? -9_999_999_999 : Foundation.log(p) }
        let score = bp * Foundation.exp(logSum / Double(effectiveOrder))
        return BLEUScore(score: score, counts: correct, totals: total, precisions: precisions, brevityPenalty: bp,
                         hypothesisLength: sysLen, referenceLength: refLen)
    }
}
