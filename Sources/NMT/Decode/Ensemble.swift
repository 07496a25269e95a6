// An ensemble of models over one vocabulary, searched as one model (Marian's, fairseq's and
// OpenNMT-py's ensembles): each step runs every member on the same hypotheses and scores a
// token by the weighted sum of the members' log-probabilities,
//   score(j) = Σ_m w_m · log p_m(j),
// which searches read as log p (normaliser 0), as Marian does. With weights summing to 1 an
// ensemble of a model with itself is that model. The alignment attention is the weighted sum of
// the members'.

public final class Ensemble: SearchModel {
    public let members: [Transformer]
    public let weights: [Float]

    /// `members` must share the vocabulary; `weights` default to 1/N each.
    public init(members: [Transformer], weights: [Double]? = nil) {
        require(!members.isEmpty && members.allSatisfy { $0.config.vocabularySize == members[0].config.vocabularySize },
                "Ensemble: members of one vocabulary")
        self.members = members
        self.weights = (weights ?? Array(repeating: 1 / Double(members.count), count: members.count)).map(Float.init)
    }

    /// The first member's, with the smallest position limit of all.
    public var config: TransformerConfig {
        var c = members[0].config
        c.maxPositions = members.map(\.config.maxPositions).min()!
        return c
    }

    public final class State: SearchState {
        let members: [DecoderState]
        init(_ members: [DecoderState]) { self.members = members }
        public var sourceLength: Int { members[0].sourceLength }
        public func sourcePositions(of b: Int) -> Int { members[0].sourcePositions(of: b) }
        public func select(parents: [Int]) { for m in members { m.select(parents: parents) } }
    }

    public func start(sources: [[Int32]], sentenceOf: [Int]?, maxLength: Int, capacity: Int?, workspace: DecodingWorkspace) -> State {
        State(members.enumerated().map { i, model in
            model.start(sources: sources, sentenceOf: sentenceOf, maxLength: maxLength, capacity: capacity, workspace: workspace.member(i))
        })
    }

    public func step(_ tokens: [Int32], state: State, attention: Bool) -> StepLogits {
        let steps = zip(members, state.members).map { $0.step(tokens, state: $1, attention: attention) }
        let out = steps[0], rows = out.logits.rows, v = out.logits.columns, s = state.sourceLength
        for r in 0..<rows {
            let o = out.logits.pointer + r * v
            let w0 = weights[0], z0 = out.logZ[r]
            for j in 0..<v { o[j] = w0 * (o[j] - z0) }
            for (m, step) in steps.enumerated().dropFirst() {
                let x = step.logits.pointer + r * v, w = weights[m], z = step.logZ[r]
                for j in 0..<v { o[j] += w * (x[j] - z) }
            }
            out.logZ[r] = 0
            if attention, let a = out.attention {
                for k in 0..<s { a[r * s + k] *= w0 }
                for (m, step) in steps.enumerated().dropFirst() {
                    for k in 0..<s { a[r * s + k] += weights[m] * step.attention![r * s + k] }
                }
            }
        }
        return out
    }
}
