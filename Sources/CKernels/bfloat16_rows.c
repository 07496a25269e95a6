// See bfloat16_rows.h. Plain integer loops the compiler vectorizes per instruction set (the
// Swift loop, built for baseline x86-64, packed 32 → 16 bits one value at a time).

#include "bfloat16_rows.h"
#include "clones.h"

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
    long j = 0;
    // 128 columns at a time (whole cache lines of x and of out per row), their sums held in
    // registers across the rows; then 16 at a time.
    for (; j + 128 <= columns; j += 128) {
        f16x a0 = AT(sums + j), a1 = AT(sums + j + 16), a2 = AT(sums + j + 32), a3 = AT(sums + j + 48);
        f16x a4 = AT(sums + j + 64), a5 = AT(sums + j + 80), a6 = AT(sums + j + 96), a7 = AT(sums + j + 112);
        for (long r = 0; r < rows; r++) {
            const float *row = x + r * ld + j;
            uint16_t *target = out + r * ld + j;
            f16x v0 = AT(row), v1 = AT(row + 16), v2 = AT(row + 32), v3 = AT(row + 48);
            f16x v4 = AT(row + 64), v5 = AT(row + 80), v6 = AT(row + 96), v7 = AT(row + 112);
            a0 += v0; a1 += v1; a2 += v2; a3 += v3; a4 += v4; a5 += v5; a6 += v6; a7 += v7;
            *(h16u *)(target) = BFLOAT16_BITS16(v0);
            *(h16u *)(target + 16) = BFLOAT16_BITS16(v1);
            *(h16u *)(target + 32) = BFLOAT16_BITS16(v2);
            *(h16u *)(target + 48) = BFLOAT16_BITS16(v3);
            *(h16u *)(target + 64) = BFLOAT16_BITS16(v4);
            *(h16u *)(target + 80) = BFLOAT16_BITS16(v5);
            *(h16u *)(target + 96) = BFLOAT16_BITS16(v6);
            *(h16u *)(target + 112) = BFLOAT16_BITS16(v7);
        }
        AT(sums + j) = a0; AT(sums + j + 16) = a1; AT(sums + j + 32) = a2; AT(sums + j + 48) = a3;
        AT(sums + j + 64) = a4; AT(sums + j + 80) = a5; AT(sums + j + 96) = a6; AT(sums + j + 112) = a7;
    }
    for (; j + 16 <= columns; j += 16) {
        f16x acc = AT(sums + j);
        for (long r = 0; r < rows; r++) {
            f16x v = AT(x + r * ld + j);
            acc += v;
            *(h16u *)(out + r * ld + j) = BFLOAT16_BITS16(v);
        }
        AT(sums + j) = acc;
    }
    for (; j < columns; j++) {
        float acc = sums[j];
        for (long r = 0; r < rows; r++) {
            float value = x[r * ld + j];
            acc += value;
            out[r * ld + j] = bfloat16_bits(value);
        }
        sums[j] = acc;
    }
}

CLONES
void nmt_scale_shift_to_bfloat16(uint16_t *out, const float *e, long n, float scale, float offset, long target, float targetOffset) {
    long j = 0;
    for (; j + 16 <= n; j += 16) *(h16u *)(out + j) = BFLOAT16_BITS16(AT(e + j) * scale - offset);
    for (; j < n; j++) out[j] = bfloat16_bits(e[j] * scale - offset);
    if (target >= 0 && target < n) out[target] = bfloat16_bits(e[target] * scale - offset - targetOffset);
}
