// HTMLText: `format: "html"` — a document as its markup and the text between tags. Every tag,
// comment, doctype and the content of <script> and <style> is kept byte for byte; each text run is
// translated apart (entities decoded first, and &, <, > escaped again after), keeping the white
// space around it. Markup is never rewritten, so translated HTML is as well-formed as the input.

struct HTMLText {
    private enum Part {
        case markup(Substring)
        /// White space before, the text, white space after.
        case text(leading: Substring, core: String, trailing: Substring)
    }

    private var parts: [Part] = []

    /// The text runs to translate, in order.
    var texts: [String] {
        parts.compactMap { if case .text(_, let core, _) = $0 { return core } else { return nil } }
    }

    init(_ html: String) {
        var i = html.startIndex
        var textStart = i
        var rawUntil: String? = nil  // inside <script> or <style>: markup until its closing tag
        func flushText(upTo end: String.Index) {
            guard textStart < end else { return }
            let run = html[textStart ..< end]
            let lead = run.prefix { $0.isWhitespace }
            let rest = run.dropFirst(lead.count)
            let trail = rest.reversed().prefix { $0.isWhitespace }.count
            let core = rest.dropLast(trail)
            if core.isEmpty { parts.append(.markup(run)) } else {
                parts.append(.text(leading: lead, core: HTMLText.decodeEntities(core), trailing: rest.suffix(trail)))
            }
        }
        while i < html.endIndex {
            if let closing = rawUntil {
                let end = html[i...].range(of: closing, options: .caseInsensitive)?.lowerBound ?? html.endIndex
                parts.append(.markup(html[i ..< end]))
                i = end
                textStart = i
                rawUntil = nil
                continue
            }
            guard html[i] == "<" else { i = html.index(after: i); continue }
            flushText(upTo: i)
            let end: String.Index
            if html[i...].hasPrefix("<!--") {
                end = html[i...].range(of: "-->")?.upperBound ?? html.endIndex
            } else {
                end = HTMLText.tagEnd(html, from: i)
            }
            let tag = html[i ..< end]
            parts.append(.markup(tag))
            let name = tag.dropFirst().prefix { $0.isLetter || $0.isNumber }.lowercased()
            if name == "script" || name == "style" { rawUntil = "</" + name }
            i = end
            textStart = i
        }
        flushText(upTo: html.endIndex)
    }

    /// The document with the text runs replaced by `translations` (as many as `texts`).
    func assemble(_ translations: [String]) -> String {
        var next = translations.makeIterator()
        return parts.map { part in
            switch part {
            case .markup(let m): return String(m)
            case .text(let lead, _, let trail): return lead + HTMLText.escape(next.next() ?? "") + trail
            }
        }.joined()
    }

    /// The index after a tag's '>' (quoted attribute values may hold '>'), or the end.
    private static func tagEnd(_ html: String, from start: String.Index) -> String.Index {
        var quote: Character? = nil
        var i = html.index(after: start)
        while i < html.endIndex {
            let c = html[i]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == ">" { return html.index(after: i) }
            i = html.index(after: i)
        }
        return html.endIndex
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private static let named: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}"]

    /// Named (the common five and &nbsp;) and numeric character references decoded; others kept.
    static func decodeEntities(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == "&", let semicolon = text[i...].prefix(12).firstIndex(of: ";") {
                let name = text[text.index(after: i) ..< semicolon]
                var value: String? = named[String(name)]
                if name.hasPrefix("#") {
                    let digits = name.dropFirst()
                    let code = digits.lowercased().hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                    value = code.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                }
                if let value {
                    out += value
                    i = text.index(after: semicolon)
                    continue
                }
            }
            out.append(text[i])
            i = text.index(after: i)
        }
        return out
    }
}
