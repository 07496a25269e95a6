// POST /attention — nmt's own route, for the web page's heat map: one line's best translation with
// its alignment attention (the last decoder layer's cross-attention, averaged over heads, as
// `nmt translate --alignments soft` prints it), token by token.
//   request:  {"q": one line, "source", "target", "api_key"?}
//   response: {"translatedText", "source": [source tokens…, "</s>"], "target": [output tokens…, "</s>"],
//              "attention": [[weight per source token] per output token]}

import Foundation
import Hummingbird
import NMT

struct AttentionAPI: Sendable {
    let models: ServedModels
    let limits: ServerLimits
    let keys: APIKeys?

    func attention(_ fields: RequestFields) async throws -> Response {
        try keys?.check(try fields.string("api_key"))
        let text = try fields.requiredString("q")
        let source = try fields.requiredString("source"), target = try fields.requiredString("target")
        try limits.checkCharacters([text])
        guard !text.contains(where: \.isNewline) else { throw APIError.badRequest("Invalid request: q must be one line") }
        guard let model = models.model(source: source, target: target) else {
            throw APIError.badRequest("\(source)-\(target) is not a served language pair")
        }
        let translator = model.attentionTranslator
        var encoder = translator.tokenizer.makeEncoder(for: .source)
        let ids = Array(encoder.encode(text).prefix(translator.lengthLimit))
        let blank = Translator.isBlank(text)
        let found = await Task.detached { translator.search([ids], empty: [blank], workers: 1) }.value
        let tokenizer = translator.tokenizer
        guard let best = found[0].first, let attention = best.attention else {
            return JSONResponse.make(["translatedText": "", "source": [String](), "target": [String](), "attention": [[Double]]()] as [String: Any])
        }
        let columns = ids.count + 1
        let rows = stride(from: 0, to: attention.count, by: columns).map { start in attention[start ..< start + columns].map(Double.init) }
        let targetTokens = best.tokens.map { tokenizer.vocabulary[$0] } + ["</s>"]
        return JSONResponse.make([
            "translatedText": tokenizer.decode(best.tokens),
            "source": ids.map { tokenizer.sourceVocabulary[$0] } + ["</s>"],
            "target": Array(targetTokens.prefix(rows.count)),
            "attention": rows,
        ] as [String: Any])
    }
}
