// Inverted dropout's forward pass over a range of elements (Tensor/Dropout.swift holds the math):
// element i is kept when its draw, splitmix64's finaliser of (stream + i·golden ratio) as a 24-bit
// fraction, is at least p; then y[i] = x[i]·scale and kept[i] = 1, else y[i] = 0 and kept[i] = 0.
// `first` is the index of x[0] within the mask (draws depend on the index, not on the split); y may
// be x. Integer hashing and one product per element: the same bits on every instruction set. The
// Swift loop ran one element at a time (no 64-bit vector multiplies on baseline x86-64, and y = x
// defeats the compiler's overlap check): 3.6 % of a bf16 training step.
#ifndef NMT_DROPOUT_MASK_H
#define NMT_DROPOUT_MASK_H
#include <stdint.h>

void nmt_dropout_forward(float *y, const float *x, uint8_t *kept, long first, long count, uint64_t stream,
                         float p, float scale);

/// y[j] = kept[j] ? x[j]·scale : +0 (y may be x): a gradient passing back through the mask, or the
/// forward values rebuilt from it.
void nmt_dropout_apply(float *y, const float *x, const uint8_t *kept, long count, float scale);

/// A residual connection's sum with dropout on its branch, in one pass: y[j] = x[j] + dropout(f)[j]
/// (the draws, mask and products of nmt_dropout_forward, then the sum residualForward takes); y
/// may be f.
void nmt_dropout_residual(float *y, const float *x, const float *f, uint8_t *kept, long first, long count, uint64_t stream,
                          float p, float scale);

/// Its backward in one pass: dx[j] += dy[j] (the residual path) and df[j] = the branch's gradient
/// through the mask, kept[j] ? dy[j]·scale : +0 (dy[j] itself without a mask) — the bits of the
/// separate passes.
void nmt_dropout_residual_backward(float *dx, float *df, const float *dy, const uint8_t *kept, long count, float scale);

#endif
