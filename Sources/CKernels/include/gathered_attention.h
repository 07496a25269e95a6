// Attention of one query row over keys and values gathered by index (the decoder's prefix-shared
// self-attention cache) or in a contiguous block (cross-attention, and encoding in a decoding pass),
// with a summation order fixed by the code, not the CPU: every instruction set computes the same
// bits, and a query's result depends on its own keys only. See gathered_attention.c.
#ifndef NMT_GATHERED_ATTENTION_H
#define NMT_GATHERED_ATTENTION_H

#include <stdint.h>

/// s[h·head_stride + t] = scale · Σ_i q[h·d + i] · keys[index[t]·stride + h·d + i]  (h < heads, t < count);
/// with index NULL, key t is keys[t·stride + …] (a contiguous block).
void nmt_gathered_scores(float *s, long head_stride, const float *q, const float *keys, const int32_t *index, long count, long stride,
                         long heads, long d, float scale);

/// context[h·d + i] = Σ_t p[h·head_stride + t] · values[index[t]·stride + h·d + i]  (h < heads, i < d);
/// index NULL as above.
void nmt_gathered_weighted_values(float *context, const float *p, long head_stride, const float *values, const int32_t *index, long count,
                                  long stride, long heads, long d);

/// The instruction set the kernels above were dispatched to: "avx512", "avx2" or "baseline".
const char *nmt_gathered_attention_isa(void);

#endif
