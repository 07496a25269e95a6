// chrF (Popović 2015) as sacreBLEU 2.4.3 computes it by default (sacrebleu/metrics/chrf.py):
// character n-grams of orders 1…6 with whitespace removed, β = 2, statistics summed over the
// corpus, precision and recall averaged over the orders that have n-grams (effective order), and
// for several references the one with the best sentence-level F score.

public struct CHRF: Sendable {
    public static let charOrder = 6
    public static let beta = 2
    public var lowercase = false

    public init(lowercase: Bool = false) { self.lowercase = lowercase }

    public func signature(references: Int) -> String {
        "nrefs:\(references)|case:\(lowercase ? "lc" : "mixed")|eff:yes|nc:\(CHRF.charOrder)|nw:0|space:no|version:nmt-\(nmtVersion)"
    }

    public var name: String { "chrF\(CHRF.beta)" }

    public func corpusScore(hypotheses: [String], references: [[String]]) -> Double {
        let stats = segmentStatistics(hypotheses: hypotheses, references: references)
        var total = [Int](repeating: 0, count: 3 * CHRF.charOrder)
        for segment in stats { for k in 0..<total.count { total[k] += segment[k] } }
        return fScore(total)
    }

    public func sentenceScores(hypotheses: [String], references: [[String]]) -> [Double] {
        segmentStatistics(hypotheses: hypotheses, references: references).map(fScore)
    }

    func segmentStatistics(hypotheses: [String], references: [[String]]) -> [[Int]] {
        perSegment(hypotheses: hypotheses, references: references, metric: "chrF", statistics)
    }

    /// Six 21-bit code points (plus one, so that 0 marks an empty slot) per window.
    private static let layout = WindowLayout(maxOrder: charOrder, bits: 21)

    /// Sorted character windows of the sentence with whitespace removed (''.join(line.split())).
    private func characterWindows(_ sentence: String) -> (windows: [NGramKey], length: Int) {
        let cased = lowercase ? sentence.lowercased() : sentence
        var symbols: [UInt64] = []
        symbols.reserveCapacity(cased.utf8.count)
        for scalar in cased.unicodeScalars where !isPythonWhitespace(scalar.value) { symbols.append(UInt64(scalar.value) + 1) }
        return (CHRF.layout.sortedWindows(symbols), symbols.count)
    }

    private func statistics(hypothesis: String, references: [String]) -> [Int] {
        let (hypothesisWindows, hypothesisLength) = characterWindows(hypothesis)
        var best: [Int] = []
        var bestF = -1.0
        for reference in references {
            let (referenceWindows, referenceLength) = characterWindows(reference)
            var stats: [Int] = []
            stats.reserveCapacity(3 * CHRF.charOrder)
            for n in 1...CHRF.charOrder {
                let referenceCount = max(0, referenceLength - n + 1)
                let hypothesisCount = referenceCount == 0 ? 0 : max(0, hypothesisLength - n + 1)
                let matches = CHRF.layout.clippedMatches(hypothesisWindows, [referenceWindows], order: n)
                stats += [hypothesisCount, referenceCount, matches]
            }
            let f = fScore(stats)
            if f > bestF {
                bestF = f
                best = stats
            }
        }
        return best
    }

    /// sacreBLEU's `_compute_f_score` without eps smoothing, operation for operation.
    func fScore(_ stats: [Int]) -> Double {
        let factor = Double(CHRF.beta * CHRF.beta)
        var averagePrecision = 0.0, averageRecall = 0.0
        var effectiveOrder = 0
        for i in 0..<CHRF.charOrder {
            let nHyp = stats[3 * i], nRef = stats[3 * i + 1], nMatch = stats[3 * i + 2]
            if nHyp > 0 && nRef > 0 {
                averagePrecision += Double(nMatch) / Double(nHyp)
                averageRecall += Double(nMatch) / Double(nRef)
                effectiveOrder += 1
            }
        }
        if effectiveOrder == 0 {
            averagePrecision = 0
            averageRecall = 0
        } else {
            averagePrecision /= Double(effectiveOrder)
            averageRecall /= Double(effectiveOrder)
        }
        if averagePrecision + averageRecall != 0 {
            var score = (1 + factor) * averagePrecision * averageRecall
            score /= (factor * averagePrecision) + averageRecall
            return 100 * score
        }
        return 0
    }
}
