// Position-wise feed-forward network (Vaswani et al. 2017, §3.3):
//   u = x·W1ᵀ + b1 [N, F],  a = act(u),  a' = dropout(a),  y = a'·W2ᵀ + b2 [N, C]
// Backward:  da' = dy·W2,  dW2 += dyᵀ·a',  da = da'·mask,  du = act′(u)·da,
//            dx += du·W1,  dW1 += duᵀ·x.

public struct FeedForwardActivations {
    var input: Tensor             // x [N, C]
    var preActivation: Tensor?    // u [N, F] (GELU only: ReLU's derivative is read off a')
    var dropMask: DropoutMask?    // [N, F]
    var activated: Tensor         // a' [N, F]
}

public enum FeedForward {
    public static func forward(_ y: Tensor, _ x: Tensor, weights w: FeedForwardWeights, activation: Activation,
                               dropout: DropoutSampler?, arena: Arena) -> FeedForwardActivations {
        let f = w.fc1.weight.rows
        let u = arena.tensor(Shape(x.rows, f))
        linearForward(u, x, weight: w.fc1.weight, bias: w.fc1.bias)
        // ReLU runs in place: a' > 0 exactly where u > 0 and the unit was kept, which is all its
        // backward needs, so u is not stored ([N, F] saved per layer).
        let a = activation == .relu ? u : arena.tensor(u.shape)
        activationForward(a, u, activation)
        let mask = dropout.flatMap { $0.apply(a, a, probability: $0.activation, arena: arena) }
        linearForward(y, a, weight: w.fc2.weight, bias: w.fc2.bias)
        return FeedForwardActivations(input: x, preActivation: activation == .relu ? nil : u, dropMask: mask, activated: a)
    }

    /// Accumulates dx and the weight gradients.
    public static func backward(dx: Tensor, dy: Tensor, _ a: FeedForwardActivations, weights w: FeedForwardWeights,
                                gradients g: FeedForwardWeights, activation: Activation, arena: Arena) {
        let da = arena.tensor(a.activated.shape)
        matmul(da, dy, w.fc2.weight.float32)
        linearBackward(dx: nil, dWeight: g.fc2.weight.float32, dBias: g.fc2.bias, dy: dy, x: a.activated, weight: w.fc2.weight.float32)
        let du: Tensor
        if let u = a.preActivation {
            a.dropMask?.apply(to: da)
            du = arena.zeros(u.shape)
            activationBackward(dx: du, dy: da, x: u, activation)
        } else {
            // ReLU: du = da · mask · 1[u > 0] = da · (a' > 0 ? scale : 0), in place.
            let scale = a.dropMask?.scale ?? 1
            let d = da.pointer, out = a.activated.pointer
            Threads.parallelChunks(da.count, minChunk: 1 << 16) { range in
                // The product is taken for every unit and then selected: a branch on the sign of
                // a' (half the units, at random) was mispredicted so often that this loop took
                // 7 % of a bf16 training step.
                for i in range {
                    let kept = d[i] * scale
                    d[i] = out[i] > 0 ? kept : 0
                }
            }
            du = da
        }
        linearBackward(dx: dx, dWeight: g.fc1.weight.float32, dBias: g.fc1.bias, dy: du, x: a.input, weight: w.fc1.weight.float32)
    }
}
