// Sublayer: the residual connection and LayerNorm around each attention or feed-forward block.
//
//   pre-norm  (default):   y = x + dropout(F(LN(x)))
//   post-norm (the paper): y = LN(x + dropout(F(x)))
// A layer runs each sub-layer with `forward` (F given its input and the tensor to write) and
// `backward` (F's backward given its output gradient and where its input gradient goes). Backward
// turns one buffer `d` from dy (the gradient at y) into dx (at x), in place: each element of dy is
// read before dx is written over it, and nothing reads dy afterwards. Pre-norm: dx = dy +
// LN′(dF_in), written by the LayerNorm's backward; post-norm: dx = the residual's share, then F
// adds its own.
// F reads its input only through matrix products, so in a bf16 pass it gets it rounded once, for
// all of its products forward and backward: a pre-norm LayerNorm writes it rounded (no float32
// copy is made or kept), a post-norm sub-layer rounds x.

public struct Sublayer {
    var input: Tensor          // x [N, C]
    var normInput: Tensor      // what the LayerNorm normalised: x (pre) or x + dropout(F) (post)
    var normOutput: Tensor?    // LN output in float32: F's input (pre, float32 pass) or y (post)
    var functionInput: Matrix  // F's input: LN(x) (pre) or x (post), rounded in a bf16 pass
    var mean, rstd: UnsafeMutablePointer<Float>
    var dropMask: DropoutMask?
    let preNorm: Bool

    /// y = the sub-layer over x (x becomes y) with F = `function`, which is given F's input and the
    /// tensor to write F's output into; returns the sub-layer (for `backward`) and what F returned.
    static func forward<Activations>(_ x: inout Tensor, norm: NormWeights, preNorm: Bool, dropout: DropoutSampler?, compute: Compute, arena: Arena,
                                     _ function: (_ input: Matrix, _ output: Tensor) -> Activations) -> (Sublayer, Activations) {
        var block = begin(x, norm: norm, preNorm: preNorm, compute: compute, arena: arena)
        let out = arena.tensor(x.shape)
        let activations = function(block.functionInput, out)
        x = block.end(out, norm: norm, dropout: dropout, arena: arena)
        return (block, activations)
    }

    /// Given dy in `d`, leaves dx there; F's backward is `function`, given F's output gradient, the
    /// dropout mask that gradient still passes through (nil: none), and where F's input gradient
    /// goes — a tensor to write, or (`accumulate`) to add to.
    func backward(_ d: Tensor, norm: NormWeights, normGradients: NormWeights, arena: Arena,
                  _ function: (_ dOutput: Tensor, _ dOutputDropout: DropoutMask?, _ dInput: Tensor, _ accumulate: Bool) -> Void) {
        let dOutput = backwardEnd(d, norm: norm, normGradients: normGradients, arena: arena)
        let dInput = inputGradient(d, arena: arena)
        function(dOutput.gradient, dOutput.dropout, dInput.gradient, dInput.accumulate)
        backwardBegin(dFunctionInput: dInput.gradient, d, norm: norm, normGradients: normGradients)
    }

    /// Starts the sub-layer on x; returns it with F's input available as `functionInput`, in the
    /// pass's product type (a bf16 pass: rounded; a pre-norm LayerNorm writes it so directly).
    static func begin(_ x: Tensor, norm: NormWeights, preNorm: Bool, compute: Compute, arena: Arena) -> Sublayer {
        let mean = arena.floats(x.rows), rstd = arena.floats(x.rows)
        guard preNorm else {
            return Sublayer(input: x, normInput: x, normOutput: x, functionInput: compute.productInput(x, arena: arena), mean: mean, rstd: rstd,
                            dropMask: nil, preNorm: false)
        }
        let n = compute.matrix(rows: x.rows, columns: x.columns, arena: arena)
        layerNormForward(n, mean: mean, rstd: rstd, x, weight: norm.weight, bias: norm.bias, epsilon: norm.epsilon)
        return Sublayer(input: x, normInput: x, normOutput: n.isRounded ? nil : n.float32, functionInput: n, mean: mean, rstd: rstd, dropMask: nil,
                        preNorm: true)
    }

    /// Finishes with F's output `f` (overwritten by its dropout, then by the residual sum: F's
    /// output is not needed by the backward pass, so its memory holds x + dropout(F)); returns y.
    private mutating func end(_ f: Tensor, norm: NormWeights, dropout: DropoutSampler?, arena: Arena) -> Tensor {
        let sum = f
        if let dropout, let mask = dropout.fusedMask(probability: dropout.residual, count: f.count, arena: arena) {
            dropMask = residualForward(sum, input, f, dropout: mask)  // the dropout and the sum in one pass
        } else {
            residualForward(sum, input, f)
        }
        if preNorm { return sum }
        let y = arena.tensor(input.shape)
        layerNormForward(y, mean: mean, rstd: rstd, sum, weight: norm.weight, bias: norm.bias, epsilon: norm.epsilon)
        normInput = sum
        normOutput = y
        return y
    }

    /// Given dy in `d`, returns dF_out (the gradient at F's output) as a gradient and the dropout
    /// mask it still passes through — dF_out = dropout′(gradient) — or nil; post-norm also writes
    /// the residual path's share of dx over d (dy, consumed first). Pre-norm leaves the mask to F's first linear layer
    /// (`linearBackward`'s dyDropout), which in a bf16 pass applies it as it rounds dy: no float32
    /// dF_out is written.
    private func backwardEnd(_ d: Tensor, norm: NormWeights, normGradients: NormWeights, arena: Arena) -> (gradient: Tensor, dropout: DropoutMask?) {
        // Pre-norm: dx = dy + … is left to `backwardBegin`, which reads dy as the residual's share.
        guard !preNorm else { return (d, dropMask) }
        let dSum = arena.zeros(d.shape)
        layerNormBackward(dx: dSum, dWeight: normGradients.weight, dBias: normGradients.bias, dy: d, x: normInput,
                          weight: norm.weight, mean: mean, rstd: rstd)
        d.zero()  // dy is consumed: d becomes dx
        let dF = arena.tensor(d.shape)
        residualBackward(dx: d, df: dF, dy: dSum, mask: dropMask)  // dx += dSum, dF = dropout′(dSum), one pass
        return (dF, nil)
    }

    /// Where F's backward puts its input gradient: a new tensor that F writes (pre-norm), or d
    /// (holding dx's residual share by then), which F adds to (post-norm).
    private func inputGradient(_ d: Tensor, arena: Arena) -> (gradient: Tensor, accumulate: Bool) {
        preNorm ? (arena.tensor(d.shape), false) : (d, true)
    }

    /// Pre-norm: LayerNorm backward from F's input gradient: dx = dy + LN′(dF_in), written over
    /// dy in d. Post-norm: nothing left to do.
    private func backwardBegin(dFunctionInput: Tensor, _ d: Tensor, norm: NormWeights, normGradients: NormWeights) {
        guard preNorm else { return }
        layerNormBackward(dx: d, dWeight: normGradients.weight, dBias: normGradients.bias, dy: dFunctionInput, x: input,
                          weight: norm.weight, mean: mean, rstd: rstd, residual: d)
    }
}
