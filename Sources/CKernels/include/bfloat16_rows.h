// Float32 → bfloat16 rounding of the bf16 training products' inputs (Compute/BF16Products.swift).
#ifndef NMT_BFLOAT16_ROWS_H
#define NMT_BFLOAT16_ROWS_H

#include <stdint.h>

/// out[r·columns + j] = bfloat16(x[r·ld + j]) for r < rows, j < columns: the top 16 bits after
/// adding 0x7FFF plus the lowest kept bit (round to nearest, ties to even), in integers, so every
/// instruction set gives the same bits.
void nmt_round_to_bfloat16(uint16_t *out, const float *x, long rows, long columns, long ld);

/// The same rounding of a block of columns (out and x both rows `ld` apart), adding each column's
/// float32 values into sums[j] as it goes, rows in order — a linear layer's output gradient rounded
/// for its products and summed for its bias gradient in one read.
void nmt_round_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *x, long rows, long columns, long ld);

/// The same for dropout's gradient of x: each value x·scale where kept ≠ 0, else +0 (kept: one
/// byte per element, rows ld apart; nmt_dropout_apply's bits), rounded into out and summed.
void nmt_dropout_gradient_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *x, const uint8_t *kept, float scale,
                                                      long rows, long columns, long ld);

/// A row of the loss gradient, rounded as it is written: out[j] = bfloat16(e[j]·scale − offset),
/// and at j = target bfloat16(e[j]·scale − offset − targetOffset) (float32 operations in that
/// order: the values the float32 gradient would hold).
void nmt_scale_shift_to_bfloat16(uint16_t *out, const float *e, long n, float scale, float offset, long target, float targetOffset);

#endif
