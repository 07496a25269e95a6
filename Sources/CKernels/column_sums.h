// Column sums of a row-major matrix, optionally writing it rounded to bfloat16 in the same read,
// and optionally gated first — x[i] becomes gate[i] > 0 ? x[i]·scale : +0, ReLU's derivative
// times dropout's factor read off the rounded activations (gate: bfloat16, rows ld apart): the
// one loop behind nmt_column_sums (float_rows.c), nmt_round_to_bfloat16_summing_columns
// (bfloat16_rows.c) and nmt_relu_gradient_to_bfloat16_summing_columns (relu_bfloat16.c). Inlined
// into each kernel's clones; with `out` or `gate` NULL that step is compiled away. Each column is
// summed over the rows in order by both loops below, so every instruction set and every split
// into blocks gives the same bits.
#ifndef NMT_COLUMN_SUMS_H
#define NMT_COLUMN_SUMS_H
#include <stddef.h>
#include <stdint.h>
#include "clones.h"

typedef unsigned char u8x16 __attribute__((ext_vector_type(16)));
typedef u8x16 u8x16u __attribute__((aligned(1)));

// Sixteen values rounded into out at element `at` (nothing without out).
#define NMT_ROUND_LANES(at, v) if (out) *(h16u *)(out + (at)) = BFLOAT16_BITS16(v)
// Sixteen values gated in place (nothing without gate): by the rounded activations (gate > 0),
// or by dropout's mask (kept ≠ 0: one byte each) — x·scale, or +0 (as nmt_dropout_apply).
#define NMT_GATE_LANES(at, v) if (gate) v = (f16x)((i16x)(v * scale) & ((f16x)(__builtin_convertvector(*(const h16u *)(gate + (at)), u16x) << 16) > 0)); \
                              else if (kept) v = (f16x)((i16x)(v * scale) & (__builtin_convertvector(*(const u8x16u *)(kept + (at)), i16x) != 0))
// One value gated the same way.
#define NMT_GATE_ONE(at, value) if (gate) value = bfloat16_value(gate[at]) > 0 ? value * scale : 0.0f; \
                                else if (kept) value = kept[at] != 0 ? value * scale : 0.0f

// A block of columns narrower than the rows (a worker's share): 128 columns at a time (whole
// cache lines per row), their sums held in registers down all the rows; then 16 at a time; then one.
static inline __attribute__((always_inline))
void column_sums_rounding_strips(uint16_t *out, float *sums, const float *x, const uint16_t *gate, const uint8_t *kept, float scale, long rows, long columns, long ld) {
    long j = 0;
    for (; j + 128 <= columns; j += 128) {
        f16x a0 = AT(sums + j), a1 = AT(sums + j + 16), a2 = AT(sums + j + 32), a3 = AT(sums + j + 48);
        f16x a4 = AT(sums + j + 64), a5 = AT(sums + j + 80), a6 = AT(sums + j + 96), a7 = AT(sums + j + 112);
        for (long r = 0; r < rows; r++) {
            const float *row = x + r * ld + j;
            f16x v0 = AT(row), v1 = AT(row + 16), v2 = AT(row + 32), v3 = AT(row + 48);
            f16x v4 = AT(row + 64), v5 = AT(row + 80), v6 = AT(row + 96), v7 = AT(row + 112);
            long at = r * ld + j;
            NMT_GATE_LANES(at, v0); NMT_GATE_LANES(at + 16, v1); NMT_GATE_LANES(at + 32, v2); NMT_GATE_LANES(at + 48, v3);
            NMT_GATE_LANES(at + 64, v4); NMT_GATE_LANES(at + 80, v5); NMT_GATE_LANES(at + 96, v6); NMT_GATE_LANES(at + 112, v7);
            a0 += v0; a1 += v1; a2 += v2; a3 += v3; a4 += v4; a5 += v5; a6 += v6; a7 += v7;
            NMT_ROUND_LANES(at, v0); NMT_ROUND_LANES(at + 16, v1); NMT_ROUND_LANES(at + 32, v2); NMT_ROUND_LANES(at + 48, v3);
            NMT_ROUND_LANES(at + 64, v4); NMT_ROUND_LANES(at + 80, v5); NMT_ROUND_LANES(at + 96, v6); NMT_ROUND_LANES(at + 112, v7);
        }
        AT(sums + j) = a0; AT(sums + j + 16) = a1; AT(sums + j + 32) = a2; AT(sums + j + 48) = a3;
        AT(sums + j + 64) = a4; AT(sums + j + 80) = a5; AT(sums + j + 96) = a6; AT(sums + j + 112) = a7;
    }
    for (; j + 16 <= columns; j += 16) {
        f16x acc = AT(sums + j);
        for (long r = 0; r < rows; r++) {
            f16x v = AT(x + r * ld + j);
            NMT_GATE_LANES(r * ld + j, v);
            acc += v;
            NMT_ROUND_LANES(r * ld + j, v);
        }
        AT(sums + j) = acc;
    }
    for (; j < columns; j++) {
        float acc = sums[j];
        for (long r = 0; r < rows; r++) {
            float value = x[r * ld + j];
            NMT_GATE_ONE(r * ld + j, value);
            acc += value;
            if (out) out[r * ld + j] = bfloat16_bits(value);
        }
        sums[j] = acc;
    }
}
// Whole rows (one worker): row by row, each row read whole and its values added into sums[j]
// (a few KB: they stay in the first-level cache). Walking a strip of columns down all the rows
// reads a short piece of every row (a 4 KB stride at 1,024 columns), which memory serves at a
// third to half the speed on one core (measured here: rounding and summing [4096, 1024] 2.7 → 1.0
// ms, [4096, 256] 0.8 → 0.35); with two workers each reading half of every row that way, the
// strips are faster (a bf16 step's column sums 36 → 20 ms of the two cores' time).
static inline __attribute__((always_inline))
void column_sums_rounding(uint16_t *out, float *sums, const float *x, const uint16_t *gate, const uint8_t *kept, float scale, long rows, long columns, long ld) {
    if (columns < ld) {
        column_sums_rounding_strips(out, sums, x, gate, kept, scale, rows, columns, ld);
        return;
    }
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        long j = 0;
        for (; j + 16 <= columns; j += 16) {
            f16x v = AT(row + j);
            NMT_GATE_LANES(r * ld + j, v);
            AT(sums + j) = AT(sums + j) + v;
            NMT_ROUND_LANES(r * ld + j, v);
        }
        for (; j < columns; j++) {
            float value = row[j];
            NMT_GATE_ONE(r * ld + j, value);
            sums[j] += value;
            if (out) out[r * ld + j] = bfloat16_bits(value);
        }
    }
}
#undef NMT_ROUND_LANES
#undef NMT_GATE_LANES
#undef NMT_GATE_ONE
#endif
