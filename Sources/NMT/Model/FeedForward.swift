// Position-wise feed-forward network (Vaswani et al. 2017, §3.3):
//   u = x·W1ᵀ + b1 [N, F],  a = act(u),  a' = dropout(a),  y = a'·W2ᵀ + b2 [N, C]
// Backward:  da' = dy·W2,  dW2 += dyᵀ·a',  da = da'·mask,  du = act′(u)·da,
//            dx += du·W1,  dW1 += duᵀ·x.

public struct FeedForwardActivations {
    var input: Tensor             // x [N, C]
    var preActivation: Tensor     // u [N, F]
    var dropMask: Tensor?         // [N, F]
    var activated: Tensor         // a' [N, F]
}

public enum FeedForward {
    public static func forward(_ y: Tensor, _ x: Tensor, weights w: FeedForwardWeights, activation: Activation,
                               dropout: Float, rng: inout RandomGenerator, arena: Arena) -> FeedForwardActivations {
        let f = w.fc1.weight.rows
        let u = arena.tensor(Shape(x.rows, f)), a = arena.tensor(Shape(x.rows, f))
        linearForward(u, x, weight: w.fc1.weight, bias: w.fc1.bias)
        activationForward(a, u, activation)
        var mask: Tensor? = nil
        if dropout > 0 {
            let m = arena.tensor(a.shape)
            dropoutForward(a, a, mask: m, probability: dropout, rng: &rng)
            mask = m
        }
        linearForward(y, a, weight: w.fc2.weight, bias: w.fc2.bias)
        return FeedForwardActivations(input: x, preActivation: u, dropMask: mask, activated: a)
    }

    /// Accumulates dx and the weight gradients.
    public static func backward(dx: Tensor, dy: Tensor, _ a: FeedForwardActivations, weights w: FeedForwardWeights,
                                gradients g: FeedForwardWeights, activation: Activation, arena: Arena) {
        let da = arena.tensor(a.activated.shape)
        matmul(da, dy, w.fc2.weight)
        linearBackward(dx: nil, dWeight: g.fc2.weight, dBias: g.fc2.bias, dy: dy, x: a.activated, weight: w.fc2.weight)
        if let mask = a.dropMask {
            let p = da.pointer, m = mask.pointer
            for i in 0..<da.count { p[i] *= m[i] }
        }
        let du = arena.zeros(a.preActivation.shape)
        activationBackward(dx: du, dy: da, x: a.preActivation, activation)
        linearBackward(dx: dx, dWeight: g.fc1.weight, dBias: g.fc1.bias, dy: du, x: a.input, weight: w.fc1.weight)
    }
}
