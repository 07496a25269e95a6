// See bfloat16_rows.h. Plain integer loops the compiler vectorizes per instruction set (the
// Swift loop, built for baseline x86-64, packed 32 → 16 bits one value at a time).

#include "bfloat16_rows.h"
#include "clones.h"
#include "column_sums.h"

CLONES
void nmt_round_to_bfloat16(uint16_t *out, const float *x, long rows, long columns, long ld) {
    for (long r = 0; r < rows; r++) {
        const float *source = x + r * ld;
        uint16_t *target = out + r * columns;
        for (long j = 0; j < columns; j++) target[j] = bfloat16_bits(source[j]);
    }
}

CLONES
void nmt_round_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *x, long rows, long columns, long ld) {
    column_sums_rounding(out, sums, x, NULL, NULL, 1.0f, rows, columns, ld);
}

CLONES
void nmt_dropout_gradient_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *x, const uint8_t *kept, float scale,
                                                      long rows, long columns, long ld) {
    column_sums_rounding(out, sums, x, NULL, kept, scale, rows, columns, ld);
}

CLONES
void nmt_scale_shift_to_bfloat16(uint16_t *out, const float *e, long n, float scale, float offset, long target, float targetOffset) {
    long j = 0;
    for (; j + 16 <= n; j += 16) *(h16u *)(out + j) = BFLOAT16_BITS16(AT(e + j) * scale - offset);
    for (; j < n; j++) out[j] = bfloat16_bits(e[j] * scale - offset);
    if (target >= 0 && target < n) out[target] = bfloat16_bits(e[target] * scale - offset - targetOffset);
}
