// A Transformer decoding under a lexical shortlist (Shortlist.swift): each batch's decoder state
// carries its RestrictedOutput — sentence b may produce Shortlist.tokens(for: source b, size:) —
// and every step projects onto that batch's tokens alone. Searches run it as any SearchModel.

public struct ShortlistedModel: SearchModel {
    public let model: Transformer
    public let shortlist: Shortlist
    /// Each source token's likeliest targets taken (K).
    public let size: Int
    /// The model's output moments (`OutputMoments(of: model)`), to keep the excluded tokens' mass
    /// in each step's normaliser; nil: normalise over the allowed tokens (as Marian, CTranslate2).
    public let moments: OutputMoments?

    public init(model: Transformer, shortlist: Shortlist, size: Int, moments: OutputMoments?) {
        (self.model, self.shortlist, self.size, self.moments) = (model, shortlist, size, moments)
    }

    public var config: TransformerConfig { model.config }

    public func start(sources: [[Int32]], sentenceOf: [Int]?, maxLength: Int, capacity: Int?, workspace: DecodingWorkspace) -> DecoderState {
        let state = model.start(sources: sources, sentenceOf: sentenceOf, maxLength: maxLength, capacity: capacity, workspace: workspace)
        state.restriction = model.restrictedOutput(allowed: sources.map { shortlist.tokens(for: $0, size: size) }, moments: moments,
                                                    memory: workspace.batch)
        return state
    }

    public func step(_ tokens: [Int32], state: DecoderState, attention: Bool) -> StepLogits {
        model.step(tokens, state: state, attention: attention)
    }
}
