// OpenNMT-py's REST server API under /translator, as its server.py defines it: POST /translate
// takes `[{"src": TEXT, "id": MODEL_ID}, …]` and answers `[[{"src", "tgt", "n_best", "pred_score"},
// …]]` — one inner list per n-best rank, each with an entry per input, as OpenNMT-py groups them;
// GET /models lists the models; GET /health says ok.

import Foundation
import Hummingbird

struct OpenNMTAPI: Sendable {
    let models: ServedModels
    let limits: ServerLimits

    func translate(_ body: Any) async throws -> Response {
        guard let inputs = body as? [Any], !inputs.isEmpty else {
            throw APIError.badRequest("Invalid request: expected a non-empty list of {\"src\": TEXT, \"id\": MODEL_ID}")
        }
        try limits.checkTextCount(inputs.count)
        var texts: [String] = [], ids: [Int] = []
        for (i, input) in inputs.enumerated() {
            guard let entry = input as? [String: Any], let src = entry["src"] as? String else {
                throw APIError.badRequest("Invalid request: item \(i) must be an object with a string \"src\"")
            }
            texts.append(src)
            if let id = entry["id"] {
                guard let number = id as? NSNumber, let exact = Int(exactly: number.doubleValue) else {
                    throw APIError.badRequest("Invalid request: item \(i): id must be a model id (a whole number)")
                }
                ids.append(exact)
            }
        }
        // OpenNMT-py translates a request with the model of its first item.
        let id = ids.first ?? models.all[0].settings.id
        guard let model = models.model(id: id) else {
            throw APIError.badRequest("No such model id \(id) (served: \(models.all.map { String($0.settings.id) }.joined(separator: ", ")))")
        }
        guard ids.allSatisfy({ $0 == id }) else { throw APIError.badRequest("Invalid request: every item of a request must name the same model id") }
        try limits.checkCharacters(texts)
        let nbest = model.settings.nbest
        let results = try await model.translate(texts, count: nbest)
        let ranks: [[[String: Any]]] = (0 ..< nbest).map { k in
            zip(texts, results).map { src, result in
                let hypothesis = result.hypotheses[min(k, result.hypotheses.count - 1)]
                return ["src": src, "tgt": hypothesis.text, "n_best": nbest, "pred_score": hypothesis.score]
            }
        }
        return JSONResponse.make(ranks)
    }

    func listModels() -> Response {
        JSONResponse.make(models.all.map { m -> [String: Any] in
            let options = m.translator.options
            return ["model_id": m.settings.id, "loaded": true, "load_time": m.loadSeconds, "timeout": -1,
                    "source": m.settings.source, "target": m.settings.target,
                    "opts": ["models": [m.settings.model], "beam_size": options.search.beam, "n_best": m.settings.nbest,
                             "batch_size": options.batchSize, "compute_type": m.translator.model.computeType.rawValue] as [String: Any]]
        })
    }
}
