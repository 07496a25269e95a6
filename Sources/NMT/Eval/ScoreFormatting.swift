// sacreBLEU's text line: "NAME|SIGNATURE = SCORE DETAILS", the score with two decimals.

import Foundation

public func formatScoreLine(name: String, signature: String, score: Double, details: String?) -> String {
    var line = "\(name)|\(signature) = \(String(format: "%.2f", score))"
    if let details { line += " " + details }
    return line
}
