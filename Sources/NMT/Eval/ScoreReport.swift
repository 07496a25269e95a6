// ScoreReport: one metric's result as `nmt score` prints it — sacreBLEU's text line, or its JSON
// (sacrebleu --format json: score, signature fields, and BLEU's counts and precisions).

import Foundation

/// One metric's result, printed as sacreBLEU's text line or as JSON.
public struct ScoreReport {
    var name: String
    var signature: String
    var score: Double
    var details: String?
    var fields: [(String, Any)] = []

    public init(bleu: BLEUScore, signature: String) {
        name = "BLEU"
        self.signature = signature
        score = bleu.score
        details = bleu.details
        fields = [("precisions", bleu.precisions), ("counts", bleu.counts), ("totals", bleu.totals),
                  ("bp", bleu.brevityPenalty), ("ratio", bleu.ratio),
                  ("hyp_len", bleu.hypothesisLength), ("ref_len", bleu.referenceLength)]
    }

    public init(chrf: Double, name: String, signature: String) {
        self.name = name
        self.signature = signature
        score = chrf
    }

    /// sacreBLEU's text line: "NAME|SIGNATURE = SCORE DETAILS", the score with two decimals.
    public var text: String {
        var line = "\(name)|\(signature) = \(String(format: "%.2f", score))"
        if let details { line += " " + details }
        return line
    }

    public var json: String {
        var object: [String: Any] = ["name": name, "score": Double(String(format: "%.2f", score))!,
                                     "score_full": score, "signature": signature,
                                     "implementation": "nmt \(nmtVersion) (sacreBLEU 2.4.3 definitions)"]
        if let details { object["verbose_score"] = details }
        for part in signature.split(separator: "|") {
            let kv = part.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { object[String(kv[0])] = String(kv[1]) }
        }
        for (key, value) in fields { object[key] = value }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
