// Position-wise feed-forward network (Vaswani et al. 2017, §3.3):
//   u = x·W1ᵀ + b1 [N, F],  a = act(u),  a' = dropout(a),  y = a'·W2ᵀ + b2 [N, C]
// Backward:  da' = dy·W2,  dW2 += dyᵀ·a',  da = da'·mask,  du = act′(u)·da,
//            dx += du·W1,  dW1 += duᵀ·x.
// a' is kept in the pass's product type ([N, F], the largest activation of a layer): in a bf16 pass
// rounded, at half the bytes — W2's products read exactly those values anyway, and ReLU's
// derivative needs only its sign. With ReLU and no activation dropout (the default), fc1's product
// writes a' itself (ReLU fused: in a bf16 pass no float32 u at all); otherwise the activation, the
// dropout and (bf16) the rounding are one pass over u. Back, ReLU's mask, (bf16) the rounding of du
// and fc1's bias sums are one pass (Kernels/relu_bfloat16.c); all with the bits of separate passes.

public struct FeedForwardActivations {
    var input: Matrix             // x [N, C]
    var preActivation: Tensor?    // u [N, F] (GELU only: ReLU's derivative is read off a')
    var dropMask: DropoutMask?    // [N, F]
    var activated: Matrix         // a' [N, F]
}

public enum FeedForward {
    public static func forward(_ y: Tensor, _ x: Matrix, weights w: FeedForwardWeights, activation: Activation,
                               dropout: DropoutSampler?, compute: Compute, arena: Arena) -> FeedForwardActivations {
        let f = w.fc1.weight.rows
        let shape = Shape(x.rows, f)
        // The mask and a rounded a' come first, so that a float32 u made after them can be a temporary.
        let kept = (dropout?.activation ?? 0) > 0 ? arena.bytes(shape.count) : nil
        let rounded = compute.roundsActivations ? arena.bfloat16(rows: x.rows, columns: f) : nil
        let activated: Matrix, preActivation: Tensor?, mask: DropoutMask?
        if activation == .relu && kept == nil {
            activated = rounded.map { .bfloat16($0) } ?? .float32(arena.tensor(shape))
            linearForward(activated, x, weight: w.fc1.weight, bias: w.fc1.bias, relu: true, compute: compute)
            (preActivation, mask) = (nil, nil)
        } else {
            let beforeU = arena.mark()
            let u = arena.tensor(shape)
            let afterU = arena.mark()
            linearForward(.float32(u), x, weight: w.fc1.weight, bias: w.fc1.bias, compute: compute)
            preActivation = activation == .relu ? nil : u
            (activated, mask) = activationDropoutForward(u, activation, into: rounded, dropout: dropout, kept: kept, arena: arena)
            // Once a' is rounded, ReLU's u (GELU's float32 a) has served.
            if rounded != nil { arena.release(to: preActivation == nil ? beforeU : afterU) }
        }
        linearForward(.float32(y), activated, weight: w.fc2.weight, bias: w.fc2.bias, compute: compute)
        return FeedForwardActivations(input: x, preActivation: preActivation, dropMask: mask, activated: activated)
    }

    /// Accumulates dx (writes it, with `accumulate` false) and the weight gradients.
    /// With `dyDropout`, the output gradient is dropout′(dy) (a sub-layer's dropout, applied by fc2's backward).
    public static func backward(dx: Tensor, accumulate: Bool = true, dy: Tensor, dyDropout: DropoutMask? = nil, _ a: FeedForwardActivations,
                                weights w: FeedForwardWeights, gradients g: FeedForwardWeights, activation: Activation, compute: Compute,
                                arena: Arena) {
        let da = arena.tensor(Shape(dy.rows, w.fc2.weight.columns))
        linearBackward(dx: .float32(da), accumulateDx: false, dWeight: g.fc2.weight.float32, dBias: g.fc2.bias, dy: .float32(dy), dyDropout: dyDropout,
                       x: a.activated, weight: w.fc2.weight.float32, compute: compute, arena: arena)
        let du: Matrix, dBias: Tensor?
        if let u = a.preActivation {
            a.dropMask?.apply(to: da)
            let gradient = arena.zeros(u.shape)
            activationBackward(dx: gradient, dy: da, x: u, activation)
            (du, dBias) = (.float32(gradient), g.fc1.bias)
        } else {
            // ReLU: du = da · mask · 1[u > 0], read off a', its bias gradient summed as it is made.
            (du, dBias) = (reluDropoutBackward(da, activated: a.activated, scale: a.dropMask?.scale ?? 1, biasSums: g.fc1.bias.pointer, arena: arena), nil)
        }
        linearBackward(dx: .float32(dx), accumulateDx: accumulate, dWeight: g.fc1.weight.float32, dBias: dBias, dy: du, x: a.input,
                       weight: w.fc1.weight.float32, compute: compute, arena: arena)
    }
}
