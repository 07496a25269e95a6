// Attention over gathered keys and values: what a decoder step computes when each hypothesis's
// self-attention prefix is a path of shared positions (nodes) rather than a contiguous block.
//
// The results must not depend on the CPU, so the order of every sum is written down here and
// each instruction set performs exactly it, with fused multiply-adds (one rounding each):
//   score:  lanes[j] = fma(q[i], k[i], lanes[j]) for i = j, j+16, j+32, … (16 lanes, i < d), then
//           the lanes are added as a fixed tree — lanes[j] + lanes[j+8], then +4, +2, +1 — and the
//           sum is multiplied by the scale;
//   value:  context[i] = fma(p[t], v_t[i], context[i]) for t = 0, 1, …, count−1, from 0.
// The functions are compiled three times (target_clones: AVX-512, AVX2+FMA, baseline x86-64, where
// fma is a libm call — slow but the same numbers) and the loader picks the best the CPU runs.

#include "gathered_attention.h"
#include <math.h>
#include "clones.h"

/// Σ q[i]·k[i] over i < d in the 16-lane order.
static inline __attribute__((always_inline)) float dot(const float *q, const float *k, long d) {
    f16x lanes = 0;
    long i = 0;
    for (; i + 16 <= d; i += 16) lanes = __builtin_elementwise_fma(AT(q + i), AT(k + i), lanes);
    if (i < d) {
        float rest[16];
        AT(rest) = lanes;
        for (long j = 0; i + j < d; j++) rest[j] = fmaf(q[i + j], k[i + j], rest[j]);
        lanes = AT(rest);
    }
    // The fixed tree: lanes[j] + lanes[j+8], then +4, +2, +1.
    f8x a = lanes.lo + lanes.hi;
    f4x b = a.lo + a.hi;
    f2x c = b.lo + b.hi;
    return c.x + c.y;
}

CLONES
void nmt_gathered_scores(float *s, long head_stride, const float *q, const float *keys, const int32_t *index, long count, long stride,
                         long heads, long d, float scale) {
    for (long t = 0; t < count; t++) {
        const float *k = keys + (index ? (long)index[t] : t) * stride;
        for (long h = 0; h < heads; h++) s[h * head_stride + t] = dot(q + h * d, k + h * d, d) * scale;
    }
}

CLONES
void nmt_gathered_weighted_values(float *context, const float *p, long head_stride, const float *values, const int32_t *index, long count,
                                  long stride, long heads, long d) {
    long c = heads * d;
    for (long i = 0; i < c; i++) context[i] = 0;
    if (d % 16 == 0) {
        // Sixteen columns of one head at a time, kept in registers across the positions.
        for (long i = 0; i < c; i += 16) {
            const float *ph = p + (i / d) * head_stride;
            f16x sum = 0;
            for (long t = 0; t < count; t++)
                sum = __builtin_elementwise_fma((f16x)ph[t], AT(values + (index ? (long)index[t] : t) * stride + i), sum);
            AT(context + i) = sum;
        }
        return;
    }
    for (long t = 0; t < count; t++) {
        const float *v = values + (index ? (long)index[t] : t) * stride;
        for (long h = 0; h < heads; h++) {
            float weight = p[h * head_stride + t];
            for (long i = h * d; i < (h + 1) * d; i++) context[i] = fmaf(weight, v[i], context[i]);
        }
    }
}

const char *nmt_gathered_attention_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "avx512";
    if (__builtin_cpu_supports("x86-64-v3")) return "avx2";
    return "baseline";
}
