// Position-wise feed-forward network (Vaswani et al. 2017, §3.3):
//   u = x·W1ᵀ + b1 [N, F],  a = act(u),  a' = dropout(a),  y = a'·W2ᵀ + b2 [N, C]
// Backward:  da' = dy·W2,  dW2 += dyᵀ·a',  da = da'·mask,  du = act′(u)·da,
//            dx += du·W1,  dW1 += duᵀ·x.
// In a bf16 pass a' is kept rounded to bfloat16 ([N, F], the largest activation of a layer, at
// half the bytes): W2's forward and weight-gradient products read exactly those values anyway,
// and ReLU's derivative needs only its sign. With ReLU and no activation dropout (the default),
// fc1's product writes a' itself (oneDNN's ReLU post-op, then rounding: no float32 u); with
// dropout, the activation, the dropout and the rounding are one pass over u. Back, the mask, the
// rounding of du and fc1's bias sums are one pass (Kernels/relu_bfloat16.c); all with the bits of
// the separate passes.

public struct FeedForwardActivations {
    var input: LinearInput        // x [N, C] (rounded in a bf16 pass: only products read it)
    var preActivation: Tensor?    // u [N, F] (GELU only: ReLU's derivative is read off a')
    var dropMask: DropoutMask?    // [N, F]
    var activated: LinearInput    // a' [N, F]: float32, or bfloat16 in a bf16 pass
}

public enum FeedForward {
    public static func forward(_ y: Tensor, _ x: LinearInput, weights w: FeedForwardWeights, activation: Activation,
                               dropout: DropoutSampler?, arena: Arena) -> FeedForwardActivations {
        let f = w.fc1.weight.rows
        let shape = Shape(x.rows, f)
        // The mask (and, in a bf16 pass, a' rounded) come first, so that in a bf16 pass the
        // float32 a' above them is a temporary.
        let kept = (dropout?.activation ?? 0) > 0 ? arena.bytes(shape.count) : nil
        let rounded = BF16Matmul.inPass ? arena.bfloat16(rows: x.rows, columns: f) : nil
        if let rounded, activation == .relu, kept == nil {
            // No activation dropout (the default): fc1 writes max(u, 0) rounded, no float32 u at all.
            linearForward(rounded, x, weight: w.fc1.weight.float32, bias: w.fc1.bias, relu: true)
            linearForward(y, .bfloat16(rounded), weight: LinearInput.float32(w.fc2.weight.float32), bias: w.fc2.bias)
            return FeedForwardActivations(input: x, preActivation: nil, dropMask: nil, activated: .bfloat16(rounded))
        }
        let beforeU = arena.mark()
        let u = arena.tensor(shape)
        let afterU = arena.mark()
        linearForward(u, x, weight: w.fc1.weight, bias: w.fc1.bias)
        if let rounded, activation == .relu {
            // ReLU, dropout and rounding in one pass over u; u is then a temporary.
            let mask = reluDropoutToBFloat16(rounded, u, dropout: dropout.flatMap { $0.fusedMask(probability: $0.activation, kept: kept) })
            arena.release(to: beforeU)
            linearForward(y, .bfloat16(rounded), weight: LinearInput.float32(w.fc2.weight.float32), bias: w.fc2.bias)
            return FeedForwardActivations(input: x, preActivation: nil, dropMask: mask, activated: .bfloat16(rounded))
        }
        // ReLU runs in place: a' > 0 exactly where u > 0 and the unit was kept, which is all its
        // backward needs, so u is not stored ([N, F] saved per layer).
        let a = activation == .relu ? u : arena.tensor(shape)
        activationForward(a, u, activation)
        let mask = dropout.flatMap { $0.apply(a, a, probability: $0.activation, kept: kept) }
        guard let rounded else {
            linearForward(y, a, weight: w.fc2.weight, bias: w.fc2.bias)
            return FeedForwardActivations(input: x, preActivation: activation == .relu ? nil : u, dropMask: mask, activated: .float32(a))
        }
        rounded.round(from: a)
        arena.release(to: afterU)  // GELU keeps u and frees a
        linearForward(y, .bfloat16(rounded), weight: LinearInput.float32(w.fc2.weight.float32), bias: w.fc2.bias)
        return FeedForwardActivations(input: x, preActivation: activation == .relu ? nil : u, dropMask: mask, activated: .bfloat16(rounded))
    }

    /// Accumulates dx (writes it, with `accumulate` false) and the weight gradients.
    /// With `dyDropout`, the output gradient is dropout′(dy) (a sub-layer's dropout, applied by fc2's backward).
    public static func backward(dx: Tensor, accumulate: Bool = true, dy: Tensor, dyDropout: DropoutMask? = nil, _ a: FeedForwardActivations,
                                weights w: FeedForwardWeights, gradients g: FeedForwardWeights, activation: Activation, arena: Arena) {
        let da = arena.tensor(Shape(dy.rows, w.fc2.weight.float32.columns))
        linearBackward(dx: da, dWeight: g.fc2.weight.float32, dBias: g.fc2.bias, dy: dy, dyDropout: dyDropout, x: a.activated,
                       weight: .float32(w.fc2.weight.float32), accumulateDx: false, arena: arena)
        let du: Tensor
        if let u = a.preActivation {
            a.dropMask?.apply(to: da)
            du = arena.zeros(u.shape)
            activationBackward(dx: du, dy: da, x: u, activation)
        } else {
            // ReLU: du = da · mask · 1[u > 0] = da · (a' > 0 ? scale : 0), in place. The product is
            // taken for every unit and then selected: a branch on the sign of a' (half the units,
            // at random) was mispredicted so often that this loop took 7 % of a bf16 training step.
            let scale = a.dropMask?.scale ?? 1
            let d = da.pointer
            switch a.activated {
            case .float32(let activated):
                let out = activated.pointer
                Threads.parallelChunks(da.count, minChunk: 1 << 16) { range in
                    for i in range {
                        let kept = d[i] * scale
                        d[i] = out[i] > 0 ? kept : 0
                    }
                }
            case .bfloat16(let activated):
                // The same, rounded for fc1's products and summed for its bias gradient in the same pass.
                let mark = arena.mark()
                let du16 = arena.bfloat16(rows: da.rows, columns: da.columns)
                reluGradientToBFloat16SummingColumns(du16, da, activated: activated, scale: scale, sums: g.fc1.bias.pointer)
                linearBackward(dx: dx, dWeight: g.fc1.weight.float32, dy16: du16, x: a.input, weight: .float32(w.fc1.weight.float32),
                               accumulateDx: accumulate)
                arena.release(to: mark)
                return
            }
            du = da
        }
        linearBackward(dx: dx, dWeight: g.fc1.weight.float32, dBias: g.fc1.bias, dy: du, x: a.input, weight: .float32(w.fc1.weight.float32),
                       accumulateDx: accumulate, arena: arena)
    }
}
