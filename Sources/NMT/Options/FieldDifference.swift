// Field-by-field comparison of Codable values (configs of checkpoints, options of runs), so a new
// field is compared as soon as it is declared — no hand-kept list of fields.

import Foundation

/// Each field of `value` as compact JSON text, keyed by its coding key (nil optionals are absent).
func encodedFields<T: Encodable>(_ value: T) -> [String: String] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
    var fields: [String: String] = [:]
    for (key, field) in object {
        let text = (try? JSONSerialization.data(withJSONObject: field, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]))
        fields[key] = text.map { String(decoding: $0, as: UTF8.self) } ?? "\(field)"
    }
    return fields
}

/// The first field where `a` and `b` differ, as (key, a's value, b's value), "none" for an absent
/// optional. Fields are visited in `keys` order, by default the declaration order of `a`'s stored
/// properties (right for values whose coding keys are their property names).
func firstDifference<T: Encodable>(_ a: T, _ b: T, keys: [String]? = nil) -> (key: String, a: String, b: String)? {
    let (fa, fb) = (encodedFields(a), encodedFields(b))
    let order = keys ?? Mirror(reflecting: a).children.compactMap(\.label)
    for key in order where fa[key] != fb[key] { return (key, fa[key] ?? "none", fb[key] ?? "none") }
    // Keys outside the property names (coding keys renamed): compared too, in sorted order.
    if keys == nil, let key = Set(fa.keys).union(fb.keys).sorted().first(where: { fa[$0] != fb[$0] }) {
        return (key, fa[key] ?? "none", fb[key] ?? "none")
    }
    return nil
}
