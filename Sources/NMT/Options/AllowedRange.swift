// The one rule every numeric option of every command goes through: a finite value inside an
// interval, or a one-line error naming the option, its value and the interval, e.g.
//   --label-smoothing 1.5 must be in [0, 1)
//   --beam 100000 must be in [1, 831] (the tokens this model can output)
// NaN, ±inf and values too large to mean anything (1e300) fail here, before any arithmetic or
// allocation can trap on them.


public struct AllowedRange: Sendable, CustomStringConvertible {
    public var lower: Double
    public var upper: Double
    public var lowerOpen = false
    public var upperOpen = false

    /// [a, b]
    public static func closed(_ a: Double, _ b: Double) -> AllowedRange { AllowedRange(lower: a, upper: b) }
    /// [a, b)
    public static func halfOpen(_ a: Double, _ b: Double) -> AllowedRange { AllowedRange(lower: a, upper: b, upperOpen: true) }
    /// (a, b]
    public static func above(_ a: Double, upTo b: Double) -> AllowedRange { AllowedRange(lower: a, upper: b, lowerOpen: true) }

    public func contains(_ value: Double) -> Bool {
        value.isFinite && (lowerOpen ? value > lower : value >= lower) && (upperOpen ? value < upper : value <= upper)
    }

    public var description: String {
        func number(_ x: Double) -> String {
            if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
            return "\(x)"
        }
        return (lowerOpen ? "(" : "[") + number(lower) + ", " + number(upper) + (upperOpen ? ")" : "]")
    }
}

/// Checks a floating-point option (nil: not given, nothing to check).
public func checkOption<T: BinaryFloatingPoint>(_ flag: String, _ value: T?, _ range: AllowedRange, _ reason: String? = nil) throws {
    guard let value else { return }
    if !range.contains(Double(value)) { throw optionError(flag, "\(value)", range, reason) }
}

/// Checks an integer option (nil: not given, nothing to check).
public func checkOption<T: BinaryInteger>(_ flag: String, _ value: T?, _ range: AllowedRange, _ reason: String? = nil) throws {
    guard let value else { return }
    if !range.contains(Double(value)) { throw optionError(flag, "\(value)", range, reason) }
}

private func optionError(_ flag: String, _ value: String, _ range: AllowedRange, _ reason: String?) -> NMTError {
    NMTError("\(flag) \(value) must be in \(range)" + (reason.map { " (\($0))" } ?? ""))
}

