// Float32 → bfloat16 rounding of the bf16 training products' inputs (Tensor/BF16Matmul.swift).
#ifndef NMT_BFLOAT16_ROWS_H
#define NMT_BFLOAT16_ROWS_H

#include <stdint.h>

/// out[r·columns + j] = bfloat16(x[r·ld + j]) for r < rows, j < columns: the top 16 bits after
/// adding 0x7FFF plus the lowest kept bit (round to nearest, ties to even), in integers, so every
/// instruction set gives the same bits.
void nmt_round_to_bfloat16(uint16_t *out, const float *x, long rows, long columns, long ld);

#endif
