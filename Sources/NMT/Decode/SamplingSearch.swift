// Sampling search: each output token is drawn from the model's distribution instead of searched
// for (beam 1 per sample) — the sampled back-translations of Edunov et al. 2018.
//   - the distribution at each step is softmax(logits / temperature), restricted by `Sampling`
//     (top-k: the k likeliest tokens; top-p: the smallest set of likeliest tokens whose tempered
//     probability reaches p) and renormalised; <pad>, <unk> and <s> are never drawn;
//   - a sentence asked for n samples decodes n rows, each drawing from a stream of its own,
//     seeded by (seed, line index, sample number) — so a line's samples depend on neither its
//     batch, nor the threads, nor where a resumed run restarted;
//   - a target prefix is forced first; repetition guards apply after it; </s> is forced at the
//     maximum length;
//   - a sample's score is beam search's, Σ log p / lp(|Y|), from the untempered (guarded)
//     distribution; the samples of a line are returned best score first.
// It is the path search of GreedySearch.swift with a draw for the argmax: top-k 1 is greedy search.

import Foundation

func samplingSearch<Model: SearchModel>(model: Model, _ sources: [[Int32]], contexts: [SentenceContext], maxLengths: [Int], options: SearchOptions,
                                        workspace: DecodingWorkspace) -> [[Hypothesis]] {
    let n = max(1, options.nbest)
    var streams = (0..<(sources.count * n)).map { SamplingStream(seed: options.seed, line: contexts[$0 / n].line, sample: $0 % n) }
    var scratch = SamplingScratch()
    return pathSearch(model: model, sources, contexts: contexts, maxLengths: maxLengths, options: options, paths: n, workspace: workspace) { row, v, path in
        scratch.draw(row, v, sampling: options.sampling ?? .full, temperature: options.temperature, stream: &streams[path])
    }
}

/// The random stream of one sample of one line.
struct SamplingStream {
    var generator: RandomGenerator

    init(seed: UInt64, line: Int, sample: Int) {
        generator = RandomGenerator(seed: mix64(mix64(mix64(seed) ^ UInt64(truncatingIfNeeded: line)) ^ UInt64(truncatingIfNeeded: sample)))
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double { Double(generator.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
}

/// Candidate buffers reused from step to step.
struct SamplingScratch {
    private var ids: [Int32] = []
    private var weights: [Double] = []

    /// Draws a token from row `logits` (v entries) as `sampling` and `temperature` define.
    mutating func draw(_ logits: UnsafeMutablePointer<Float>, _ v: Int, sampling: Sampling, temperature: Double,
                       stream: inout SamplingStream) -> Int32 {
        let first = Int(Vocabulary.endOfSentence)
        ids.removeAll(keepingCapacity: true)
        switch sampling {
        case .full:
            ids.append(contentsOf: (first..<v).lazy.map { Int32($0) })
        case .topK(let k):
            ids.append(contentsOf: topK(logits, v, min(k, v - first)).map(\.0))
        case .topP:
            ids.append(contentsOf: (first..<v).lazy.map { Int32($0) })
            ids.sort { logits[Int($0)] != logits[Int($1)] ? logits[Int($0)] > logits[Int($1)] : $0 < $1 }
        }
        var top = -Float.infinity
        for id in ids { top = max(top, logits[Int(id)]) }
        guard top > -.infinity else { return Vocabulary.endOfSentence }
        weights.removeAll(keepingCapacity: true)
        var total = 0.0
        for id in ids {
            let w = exp(Double(logits[Int(id)] - top) / temperature)
            weights.append(w)
            total += w
        }
        if case .topP(let p) = sampling {
            // The smallest set of likeliest tokens whose probability reaches p.
            var kept = 0, mass = 0.0
            while kept < weights.count && (kept == 0 || mass < p * total) {
                mass += weights[kept]
                kept += 1
            }
            ids.removeLast(ids.count - kept)
            weights.removeLast(weights.count - kept)
            total = mass
        }
        let target = stream.nextUnit() * total
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            if target < cumulative && w > 0 { return ids[i] }
        }
        // Rounding left the target past the sum: the last token with any weight.
        return ids[weights.lastIndex { $0 > 0 } ?? 0]
    }
}
