// Guards against the repetition loops a decoder can fall into, as CTranslate2's logits processors
// define them, applied to a hypothesis's next-token logits before they are normalised:
//   repetition penalty R (Keskar et al. 2019): every token the hypothesis already holds has its
//     logit x replaced by x·R when x < 0 and by x/R otherwise (R > 1 discourages repeats);
//   no-repeat n-gram N: a token that would complete an n-gram of N tokens the hypothesis already
//     holds gets logit −∞.
// The log-probabilities a search adds up are those of the guarded distribution.

public struct RepetitionGuards: Sendable, Equatable {
    public var penalty = 1.0
    public var noRepeatNgram = 0
    public init(penalty: Double = 1, noRepeatNgram: Int = 0) {
        self.penalty = penalty
        self.noRepeatNgram = noRepeatNgram
    }

    public var isActive: Bool { penalty != 1 || noRepeatNgram > 0 }

    /// Applies the guards to `logits` (v entries) of the token after `previous`; returns whether
    /// any logit changed (its normaliser must then be recomputed).
    func apply(_ logits: UnsafeMutablePointer<Float>, _ v: Int, previous: [Int32]) -> Bool {
        var changed = false
        if penalty != 1 && !previous.isEmpty {
            let r = Float(penalty)
            var seen = Set<Int32>()
            for token in previous where Int(token) < v && seen.insert(token).inserted {
                let x = logits[Int(token)]
                logits[Int(token)] = x < 0 ? x * r : x / r
                changed = true
            }
        }
        let n = noRepeatNgram
        if n > 0 && previous.count >= n - 1 {
            if n == 1 {
                for token in previous where Int(token) < v { logits[Int(token)] = -.infinity }
                return changed || !previous.isEmpty
            }
            // The last n−1 tokens, and every earlier place they occur: the token that followed is banned.
            let tail = previous.count - (n - 1)
            for start in 0..<tail where (0..<(n - 1)).allSatisfy({ previous[start + $0] == previous[tail + $0] }) {
                let banned = Int(previous[start + n - 1])
                if banned < v { logits[banned] = -.infinity; changed = true }
            }
        }
        return changed
    }

    /// Applies the guards to row `row` of a step's logits and renormalises it when they changed it
    /// (keeping the mass of tokens a shortlist excluded).
    func apply(to step: StepLogits, row: Int, previous: [Int32]) {
        let v = step.logits.columns
        if apply(step.logits.pointer + row * v, v, previous: previous) {
            let logZ = logNormalizer(step.logits.pointer + row * v, v).floatValue
            step.logZ[row] = step.excluded.map { logAddExp(logZ, $0[row]) } ?? logZ
        }
    }
}
