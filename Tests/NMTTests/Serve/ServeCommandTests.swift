import Foundation
import Testing
@testable import NMT
@testable import NMTServer

/// `nmt translate`'s output for `lines` with `arguments`, a line each.
private func offline(_ model: String, _ lines: [String], _ arguments: [String] = []) throws -> [String] {
    let r = try runNMT(["translate", "-m", model] + arguments, stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
    guard r.status == 0 else { throw CLIError(r.stderr) }
    return r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

private let sentences = ["in the beginning god created the heaven and the earth", "and the earth was without form",
                         "light", "and god said let there be light and there was light", "the spirit of god moved upon the face of the waters"]

@Suite(.serialized) struct ServeCommandTests {
    @Test func listOfTextsIsTranslatedAsNMTTranslateDoes() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--beam", "3"])
        let reply = try await server.post("/translate", json: ["q": sentences, "source": "en", "target": "es"])
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.object["translatedText"] as? [String] == (try offline(model, sentences, ["--beam", "3"])))
        #expect(reply.object["alternatives"] == nil)
        #expect(server.stop() == 0)
    }

    @Test func stringTextIsTranslatedLineByLineKeepingLineBreaks() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let reply = try await server.post("/translate", json: ["q": "light\n\nand the earth was without form\r\nlight", "source": "en", "target": "es"])
        let expected = try offline(model, ["light", "", "and the earth was without form", "light"])
        #expect(reply.object["translatedText"] as? String == "\(expected[0])\n\n\(expected[2])\r\n\(expected[3])")
    }

    @Test func attentionGivesTheTranslationWithARowOfSourceWeightsPerOutputToken() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let line = "and the earth was without form"
        let reply = try await server.post("/attention", json: ["q": line, "source": "en", "target": "es"])
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.object["translatedText"] as? String == (try offline(model, [line]))[0])
        let source = try #require(reply.object["source"] as? [String])
        let target = try #require(reply.object["target"] as? [String])
        let rows = try #require(reply.object["attention"] as? [[Double]])
        #expect(source.last == "</s>" && target.last == "</s>" && rows.count == target.count)
        for row in rows {
            #expect(row.count == source.count)
            #expect(abs(row.reduce(0, +) - 1) < 1e-3)
        }
        let twoLines = try await server.post("/attention", json: ["q": "light\nlight", "source": "en", "target": "es"])
        #expect(twoLines.status == 400 && twoLines.error == "Invalid request: q must be one line")
    }

    @Test func formBodiesAreReadLikeJSON() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let form = "q=and+the+earth+was+without+form&source=en&target=es"
        let reply = try await server.request("POST", "/translate", body: Data(form.utf8), contentType: "application/x-www-form-urlencoded")
        #expect(reply.object["translatedText"] as? String == (try offline(model, ["and the earth was without form"]))[0])
    }

    @Test func alternativesAreOtherHypothesesNotTheBest() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--beam", "4"])
        let reply = try await server.post("/translate", json: ["q": "and the earth was without form", "source": "en", "target": "es", "alternatives": 3])
        let best = try #require(reply.object["translatedText"] as? String)
        let alternatives = try #require(reply.object["alternatives"] as? [String])
        #expect(!alternatives.isEmpty && alternatives.count <= 3)
        #expect(!alternatives.contains(best) && Set(alternatives).count == alternatives.count)
        let nbest = try runNMT(["translate", "-m", model, "--beam", "4", "--nbest", "4"], stdin: Data("and the earth was without form\n".utf8))
        let hypotheses = nbest.stdout.split(separator: "\n").map { $0.components(separatedBy: " ||| ")[1] }
        #expect(hypotheses[0] == best)
        #expect(alternatives.allSatisfy(hypotheses.contains))
        let tooMany = try await server.post("/translate", json: ["q": "light", "source": "en", "target": "es", "alternatives": 4])
        #expect(tooMany.status == 400 && tooMany.error?.contains("alternatives") == true)
    }

    @Test func languagesDetectAndHealthDescribeTheServedPairs() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let languages = try #require(try await server.get("/languages").json as? [[String: Any]])
        #expect(languages.count == 2)
        #expect(languages[0]["code"] as? String == "en" && languages[0]["name"] as? String == "English" && languages[0]["targets"] as? [String] == ["es"])
        #expect(languages[1]["code"] as? String == "es" && languages[1]["targets"] as? [String] == [])
        let detect = try #require(try await server.post("/detect", json: ["q": "hello"]).json as? [[String: Any]])
        #expect(detect.count == 1 && detect[0]["language"] as? String == "en" && detect[0]["confidence"] as? Double == 100)
        #expect(try await server.get("/health").object["status"] as? String == "ok")
        #expect(try await server.get("/translator/health").object["status"] as? String == "ok")
        let auto = try await server.post("/translate", json: ["q": "light", "source": "auto", "target": "es"])
        #expect((auto.object["detectedLanguage"] as? [String: Any])?["language"] as? String == "en")
    }

    @Test func badRequestsGetLibreTranslatesErrors() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--char-limit", "100", "--batch-limit", "3", "--max-body", "2000"])
        let cases: [(Any, Int, String)] = [
            (["source": "en", "target": "es"], 400, "Invalid request: missing q parameter"),
            (["q": "x", "target": "es"], 400, "Invalid request: missing source parameter"),
            (["q": "x", "source": "en"], 400, "Invalid request: missing target parameter"),
            (["q": "x", "source": "fr", "target": "es"], 400, "fr is not supported"),
            (["q": "x", "source": "es", "target": "en"], 400, "English (en) is not available as a target language from Spanish (es)"),
            (["q": "x", "source": "en", "target": "es", "format": "pdf"], 400, "pdf format is not supported"),
            (["q": "x", "source": "en", "target": "es", "alternatives": "many"], 400, "Invalid request: alternatives parameter is not a number"),
            (["q": 7, "source": "en", "target": "es"], 400, "Invalid request: q must be a string or a list of strings"),
            (["q": ["a", "b", "c", "d"], "source": "en", "target": "es"], 400, "Invalid request: request (4) exceeds text limit (3)"),
            (["q": String(repeating: "a", count: 101), "source": "en", "target": "es"], 400, "Invalid request: request (101) exceeds text limit (100)"),
            ([1, 2], 400, "Invalid JSON format"),
        ]
        for (body, status, message) in cases {
            let reply = try await server.post("/translate", json: body)
            #expect(reply.status == status && reply.error == message, "\(body): \(reply.status) \(reply.text)")
            #expect(reply.headers["content-type"] == "application/json")
        }
        let malformed = try await server.request("POST", "/translate", body: Data("{\"q\": \"x\", ".utf8), contentType: "application/json")
        #expect(malformed.status == 400 && malformed.error == "Invalid JSON format")
        let invalidUTF8 = try await server.request("POST", "/translate", body: Data([0x71, 0x3D, 0xFF, 0xFE]), contentType: "application/x-www-form-urlencoded")
        #expect(invalidUTF8.status == 400 && invalidUTF8.error?.contains("UTF-8") == true)
        let large = try await server.request("POST", "/translate", body: Data(repeating: 0x61, count: 5000), contentType: "application/json")
        #expect(large.status == 413 && large.error?.contains("2000") == true)
        let missing = try await server.get("/no/such/route")
        #expect(missing.status == 404 && missing.error != nil)
        // Still answering.
        #expect(try await server.post("/translate", json: ["q": "light", "source": "en", "target": "es"]).status == 200)
    }

    @Test func aBodyInAnUnknownFormatGets415() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let reply = try await server.request("POST", "/translate", body: Data("q=light".utf8), contentType: "application/pdf")
        #expect(reply.status == 415 && reply.error?.contains("application/json") == true, "\(reply.text)")
    }

    @Test func aBodyNotSentInTimeGets408AndTheServerGoesOn() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--request-timeout", "0.5"])
        let head = "POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"q\": \"li"
        let answer = try server.rawExchange(Array(head.utf8))
        #expect(answer.hasPrefix("HTTP/1.1 408") && answer.contains("not received within 0.5 seconds"), "\(answer)")
        #expect(try await server.get("/health").status == 200)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let texts = ["light", "and the earth", "in the beginning"]
        let requests = texts.map { text -> String in
            let body = "{\"q\": \"\(text)\", \"source\": \"en\", \"target\": \"es\"}"
            return "POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }.joined() + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let answer = try server.rawExchange(Array(requests.utf8))
        let expected = try offline(model, texts)
        var position = answer.startIndex
        for translation in expected {
            let escaped = String(decoding: try JSONSerialization.data(withJSONObject: [translation], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast()
            let found = try #require(answer.range(of: "\"translatedText\":\(escaped)}", range: position ..< answer.endIndex), "\(answer)")
            position = found.upperBound
        }
        #expect(answer.components(separatedBy: "HTTP/1.1 200").count == 5)
    }

    @Test func htmlKeepsEveryTagAndTranslatesTheTextBetween() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        let html = "<p class=\"x>y\">light <b>and the earth</b></p><script>var a = '<light>';</script>"
        let reply = try await server.post("/translate", json: ["q": html, "source": "en", "target": "es", "format": "html"])
        let text = try #require(reply.object["translatedText"] as? String)
        let expected = try offline(model, ["light", "and the earth"]).map(HTMLText.escapeForTest)
        #expect(text == "<p class=\"x>y\">\(expected[0]) <b>\(expected[1])</b></p><script>var a = '<light>';</script>")
    }

    @Test func apiKeysAreRequiredWhenConfigured() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let keys = try dir.write("keys", "# keys\nsecret-1\n")
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--api-keys", keys])
        let none = try await server.post("/translate", json: ["q": "light", "source": "en", "target": "es"])
        let wrong = try await server.post("/translate", json: ["q": "light", "source": "en", "target": "es", "api_key": "guess"])
        let right = try await server.post("/translate", json: ["q": "light", "source": "en", "target": "es", "api_key": "secret-1"])
        #expect(none.status == 403 && wrong.status == 403 && wrong.error == "Invalid API key")
        #expect(right.status == 200)
    }

    @Test func aFullQueueAnswers503WithRetryAfter() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--max-queue", "1", "--batch-wait-ms", "1500"])
        async let first = server.post("/translate", json: ["q": "light", "source": "en", "target": "es"])
        try await Task.sleep(for: .milliseconds(500))
        let second = try await server.post("/translate", json: ["q": "and the earth", "source": "en", "target": "es"])
        #expect(second.status == 503 && second.headers["retry-after"] == "1", "\(second.text)")
        #expect(try await first.status == 200)
    }

    @Test func requestsOverTheClientRateGet429() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--requests-per-minute", "2"])
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(try await server.get("/languages").status) }
        #expect(statuses == [200, 200, 429])
    }

    @Test func openNMTRouteReturnsNBestListsWithScores() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--beam", "3", "--nbest", "2"])
        let reply = try await server.post("/translator/translate", json: [["src": "light", "id": 100], ["src": "and the earth", "id": 100]])
        let ranks = try #require(reply.json as? [[[String: Any]]])
        #expect(ranks.count == 2 && ranks.allSatisfy { $0.count == 2 })
        let nbest = try runNMT(["translate", "-m", model, "--beam", "3", "--nbest", "2", "--scores"], stdin: Data("light\nand the earth\n".utf8))
        let lines = nbest.stdout.split(separator: "\n").map { $0.components(separatedBy: " ||| ") }
        for (k, rank) in ranks.enumerated() {
            for (i, entry) in rank.enumerated() {
                #expect(entry["src"] as? String == ["light", "and the earth"][i])
                #expect(entry["tgt"] as? String == lines[i * 2 + k][1])
                #expect(abs((entry["pred_score"] as? Double ?? 0) - Double(lines[i * 2 + k][2])!) < 1e-5)
                #expect(entry["n_best"] as? Int == 2)
            }
        }
        let models = try #require(try await server.get("/translator/models").json as? [[String: Any]])
        #expect(models.count == 1 && models[0]["model_id"] as? Int == 100)
        let unknown = try await server.post("/translator/translate", json: [["src": "light", "id": 7]])
        #expect(unknown.status == 400 && unknown.object["status"] as? String == "error")
    }

    @Test func concurrentRequestsEachGetTheirOwnLinesInOrder() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--batch-wait-ms", "50"])
        let expected = try offline(model, sentences)
        let replies = try await withThrowingTaskGroup(of: (Int, [String]?).self) { group in
            for r in 0..<16 {
                // Request r asks for the sentences rotated by r.
                let lines = (0..<sentences.count).map { sentences[($0 + r) % sentences.count] }
                group.addTask { (r, try await server.post("/translate", json: ["q": lines, "source": "en", "target": "es"]).object["translatedText"] as? [String]) }
            }
            var all: [Int: [String]?] = [:]
            for try await (r, texts) in group { all[r] = texts }
            return all
        }
        for r in 0..<16 {
            #expect(replies[r] == (0..<sentences.count).map { expected[($0 + r) % sentences.count] }, "request \(r)")
        }
        let metrics = try await server.get("/metrics").text
        #expect(metrics.contains("nmt_sentences_translated_total{pair=\"en-es\"} 80"))
        #expect(metrics.contains("nmt_batch_sentences_count"))
    }

    @Test func sigtermAnswersRequestsInFlightAndExitsZero() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es", "--batch-wait-ms", "1000"])
        async let replies = withThrowingTaskGroup(of: Int.self) { group in
            for r in 0..<8 { group.addTask { try await server.post("/translate", json: ["q": sentences[r % 5], "source": "en", "target": "es"]).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await Task.sleep(for: .milliseconds(400))
        let status = server.stop()
        #expect(try await replies == Array(repeating: 200, count: 8))
        #expect(status == 0)
        #expect(server.stderr.contains("nmt: stopped"))
    }

    @Test func everyRequestWritesOneJSONAccessLogLine() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let server = try ServerProcess(["-m", model, "--source", "en", "--target", "es"])
        _ = try await server.get("/languages")
        _ = try await server.get("/missing")
        _ = server.stop()
        let entries = server.stderr.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(entries.map { $0["path"] as? String } == ["/languages", "/missing"])
        #expect(entries.map { $0["status"] as? Int } == [200, 404])
    }

    @Test func aConfigFileServesSeveralPairs() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let config = try dir.write("serve.yaml", """
        char-limit: 500
        models:
          - model: model.safetensors
            source: en
            target: es
            beam: 2
          - model: \(model)
            source: es
            target: en
            compute-type: int8
            id: 7
        """)
        let server = try ServerProcess(["--config", config])
        let languages = try #require(try await server.get("/languages").json as? [[String: Any]])
        #expect(languages.map { $0["targets"] as? [String] ?? [] } == [["es"], ["en"]])
        let reply = try await server.post("/translate", json: ["q": "light", "source": "es", "target": "en"])
        #expect(reply.object["translatedText"] as? String == (try offline(model, ["light"], ["--compute-type", "int8"]))[0])
        let models = try #require(try await server.get("/translator/models").json as? [[String: Any]])
        #expect(models.map { $0["model_id"] as? Int } == [100, 7])
    }

    @Test func aShortlistedModelServesWhatTranslateGivesWithTheShortlist() async throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let (en, es) = try smallCorpus(dir, lines: 40)
        #expect(try runNMT(["shortlist", "learn", "-m", model, "--src", en, "--tgt", es, "--best", "3", "--frequent", "2",
                            "-o", dir.path("table.shortlist")]).status == 0)
        let restricted = try offline(model, sentences, ["--beam", "2", "--shortlist", "2", "--shortlist-file", dir.path("table.shortlist")])
        #expect(restricted != (try offline(model, sentences, ["--beam", "2"])), "the shortlist changes this model's output")
        let config = try dir.write("serve.yaml", """
        models:
          - model: model.safetensors
            source: en
            target: es
            beam: 2
            shortlist: 2
            shortlist-file: table.shortlist
        """)
        let server = try ServerProcess(["--config", config])
        let reply = try await server.post("/translate", json: ["q": sentences, "source": "en", "target": "es"])
        #expect(reply.object["translatedText"] as? [String] == restricted, "\(reply.text)")
        #expect(server.stderr.contains("en-es (id 100): \(model), float32, beam 2, shortlist 2"), "\(server.stderr)")
    }

    @Test func badServeSettingsAreOneLineErrors() throws {
        let dir = try TemporaryDirectory()
        let model = try savedRandomModel(dir)
        let config = try dir.write("serve.yaml", "models:\n  - model: m\n    source: en\n    target: es\n    beam: wide\n")
        let cases: [([String], String)] = [
            (["-m", model, "--source", "en"], "--target"),
            (["-m", model, "--source", "en", "--target", "en"], "both 'en'"),
            (["-m", model, "--source", "e n", "--target", "es"], "not a language code"),
            (["-m", dir.path("none.safetensors"), "--source", "en", "--target", "es"], "none.safetensors"),
            (["--config", config], "serve.yaml:5: beam must be a whole number"),
            (["-m", model, "--source", "en", "--target", "es", "--port", "70000"], "--port 70000"),
            (["-m", model, "--source", "en", "--target", "es", "--shortlist", "5"], "no shortlist at \(dir.path("model.shortlist"))"),
            (["-m", model, "--source", "en", "--target", "es", "--shortlist-file", "t.shortlist"], "--shortlist-file needs --shortlist K"),
        ]
        for (arguments, fragment) in cases {
            let r = try runNMT(["serve"] + arguments)
            #expect(r.status == 1 && r.stderr.hasPrefix("nmt: error: ") && r.stderr.contains(fragment), "\(arguments): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
    }
}
