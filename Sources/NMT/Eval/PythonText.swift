// The few pieces of Python's string semantics that sacreBLEU's numbers depend on. Python strings
// are sequences of code points, so sentences here are arrays of Unicode scalar values (UInt32).

/// Python's `str.isspace()`: the characters `str.split()` and `str.rstrip()` treat as whitespace.
@inline(__always)
func isPythonWhitespace(_ c: UInt32) -> Bool {
    switch c {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// The code points of `s`.
func codePoints(_ s: String) -> [UInt32] {
    var out: [UInt32] = []
    out.reserveCapacity(s.utf8.count)
    for scalar in s.unicodeScalars { out.append(scalar.value) }
    return out
}

/// Python's `s.rstrip()`.
func pythonRstrip(_ s: [UInt32]) -> ArraySlice<UInt32> {
    var end = s.count
    while end > 0 && isPythonWhitespace(s[end - 1]) { end -= 1 }
    return s[0..<end]
}

/// Python's `s.split()`: the maximal runs of non-whitespace, as ranges into `s`.
func pythonSplit(_ s: [UInt32]) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    var i = 0
    let n = s.count
    while i < n {
        while i < n && isPythonWhitespace(s[i]) { i += 1 }
        let start = i
        while i < n && !isPythonWhitespace(s[i]) { i += 1 }
        if i > start { ranges.append(start..<i) }
    }
    return ranges
}

/// Python's `s.replace(old, new)`: non-overlapping occurrences, left to right.
func pythonReplace(_ s: [UInt32], _ old: [UInt32], _ new: [UInt32]) -> [UInt32] {
    guard !old.isEmpty, s.count >= old.count else { return s }
    var out: [UInt32] = []
    out.reserveCapacity(s.count)
    var i = 0
    while i < s.count {
        if i + old.count <= s.count && s[i] == old[0] && s[i..<(i + old.count)].elementsEqual(old) {
            out.append(contentsOf: new)
            i += old.count
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}
