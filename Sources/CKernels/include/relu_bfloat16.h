// The feed-forward layer's ReLU in a bf16 training pass (Model/FeedForward.swift), fused with its
// dropout and the rounding of its output for the products that read it: one pass over the hidden
// activations [N, F] in each direction instead of three (forward: ReLU, dropout, rounding;
// backward: the mask, the rounding, the bias gradient's sums). Same operations in the same order
// as the separate passes, so the same bits.
#ifndef NMT_RELU_BFLOAT16_H
#define NMT_RELU_BFLOAT16_H
#include <stdint.h>

/// out[j] = bfloat16(a'[j]) for elements first … first + count − 1 of u, where a = max(u, +0) (NaN
/// → +0) and a' = dropout(a): with `kept`, a·scale where element (first + j)'s draw is ≥ p (kept[j]
/// = 1), else +0 (kept[j] = 0) — dropout_mask.h's draws; without `kept`, a' = a.
void nmt_relu_dropout_to_bfloat16(uint16_t *out, uint8_t *kept, const float *u, long first, long count, uint64_t stream,
                                  float p, float scale);

/// The gradient of u from da = ∂L/∂a' for a block of columns (all rows `ld` apart): du = a' > 0 ?
/// da·scale : +0 (a' given rounded: its sign is all ReLU and dropout left), written rounded into
/// out, and each column of du added into sums[j] (the bias gradient), rows in order.
void nmt_relu_gradient_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *da, const uint16_t *activated, float scale,
                                                   long rows, long columns, long ld);

#endif
