// SearchModel: what a search decodes with — one Transformer, or an Ensemble of them — through
// the step API (TransformerStep.swift):
//
//   start(sources, …)       → a state: sources encoded, the decoder before its first step
//   step(tokens, state)     → logits [R, V] and log-normalisers (log p = logits − logZ)
//   state.select(parents)   → which hypotheses continue
//
// The searches are generic over it, so beam, greedy, Marian's search and sampling run the same
// for a model and for an ensemble.

public protocol SearchState: AnyObject {
    /// S: positions of the (padded) source.
    var sourceLength: Int { get }
    /// Source sentence b's positions: its tokens and </s>.
    func sourcePositions(of b: Int) -> Int
    /// The next step decodes `parents.count` hypotheses; hypothesis i continues hypothesis `parents[i]`.
    func select(parents: [Int])
}

public protocol SearchModel {
    associatedtype State: SearchState
    /// The vocabulary size and position limit searches bound themselves by.
    var config: TransformerConfig { get }
    /// Encodes `sources` (ids without </s>) and returns the decoder's state before its first step,
    /// for hypotheses `sentenceOf` (default: one per sentence), at most `capacity` rows and
    /// `maxLength` positions, in `workspace`.
    func start(sources: [[Int32]], sentenceOf: [Int]?, maxLength: Int, capacity: Int?, workspace: DecodingWorkspace) -> State
    /// Feeds `tokens` (one per hypothesis); the next position's logits, valid until the next step.
    /// `attention`: with the alignment attention [R, S].
    func step(_ tokens: [Int32], state: State, attention: Bool) -> StepLogits
}

extension SearchModel {
    func start(sources: [[Int32]], maxLength: Int, capacity: Int? = nil, workspace: DecodingWorkspace) -> State {
        start(sources: sources, sentenceOf: nil, maxLength: maxLength, capacity: capacity, workspace: workspace)
    }
}

extension DecoderState: SearchState {}

extension Transformer: SearchModel {
    public func start(sources: [[Int32]], sentenceOf: [Int]?, maxLength: Int, capacity: Int?, workspace: DecodingWorkspace) -> DecoderState {
        decoderState(for: encode(sources: sources, arena: workspace.batch), sentenceOf: sentenceOf, maxLength: maxLength, capacity: capacity,
                     workspace: workspace)
    }
}
