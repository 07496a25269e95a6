// An int8 matrix product for VNNI CPUs (AVX512-VNNI's vpdpbusd), and one for AVX2 CPUs with 7-bit
// activations (vpmaddubsw + vpmaddwd), over weights packed once at load:
// sixteen output rows interleaved four inputs at a time, so one instruction multiplies four
// activation bytes, broadcast, by the matching bytes of sixteen outputs. It reads the weights once
// per group of eight activation rows and never packs per call (oneDNN's u8s8s32 gemm repacks the
// weights on every call, which dominates decoding products of a few rows). Integer sums are
// exact, so it equals oneDNN's result bit for bit.
#ifndef NMT_INT8_PACKED_H
#define NMT_INT8_PACKED_H

#include <stdint.h>

/// Bytes of the packed form of an [n, k] int8 matrix: ⌈n/16⌉·⌈k/4⌉·64.
long nmt_int8_packed_size(long n, long k);

/// packed[((b·⌈k/4⌉ + j)·16 + o)·4 + t] = w[16b + o, 4j + t] (0 outside the matrix);
/// sums[o] = Σ_i w[o, i] (the shift's compensation), for o < n.
void nmt_int8_pack(int8_t *packed, int32_t *sums, const int8_t *w, long n, long k);

/// Whether this CPU runs nmt_int8_packed_product (AVX512-F/BW and AVX512-VNNI).
int nmt_int8_packed_available(void);

/// s[r, o] = Σ_i (a[r, i] − shift) · w[o, i] in int32 (exact), for r < m, o < n; a is u8 [m, k].
/// Without y: c[r, o] = s[r, o]. With y: y[r, o] = s[r, o] · factors[r] / scales[o] (+ bias[o]),
/// nmt_dequantize_rows's arithmetic, without the round trip through memory (c unused).
void nmt_int8_packed_product(int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
                             long m, long k, const int8_t *packed, const int32_t *sums, long n, int32_t shift);

/// Whether this CPU runs nmt_int8_packed_product_avx2 (AVX2).
int nmt_int8_packed_avx2_available(void);

/// nmt_int8_packed_product on AVX2 (vpmaddubsw, vpmaddwd) over the same packed weights, for
/// activations a below 128 (7-bit activations shifted by 64: the int16 pair sums cannot saturate,
/// so the int32 sums are exact and equal the VNNI kernel's and oneDNN's).
void nmt_int8_packed_product_avx2(int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
                                  long m, long k, const int8_t *packed, const int32_t *sums, long n, int32_t shift);

#endif
