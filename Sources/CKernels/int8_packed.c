// See int8_packed.h.

#include "int8_packed.h"
#include <immintrin.h>
#include <string.h>

long nmt_int8_packed_size(long n, long k) { return (n + 15) / 16 * ((k + 3) / 4) * 64; }

void nmt_int8_pack(int8_t *packed, int32_t *sums, const int8_t *w, long n, long k) {
    long groups = (k + 3) / 4;
    memset(packed, 0, (size_t)nmt_int8_packed_size(n, k));
    for (long o = 0; o < n; o++) {
        int32_t total = 0;
        for (long i = 0; i < k; i++) {
            packed[(((o / 16) * groups + i / 4) * 16 + o % 16) * 4 + i % 4] = w[o * k + i];
            total += w[o * k + i];
        }
        sums[o] = total;
    }
}

int nmt_int8_packed_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

#define ROWS 8  // activation rows sharing each load of the weights

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/// Rows r0…r0+rows−1 against one block of sixteen outputs. Inlined with a constant `rows`, so
/// the accumulators live in registers.
VNNI static inline __attribute__((always_inline)) void
block_rows(const int rows, int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
           long r0, long k, const int8_t *wb, long groups, const int32_t *sums, long n, long b, int32_t shift) {
    __m512i acc[ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_si512();
    long full = k / 4;
    for (long j = 0; j < full; j++) {
        __m512i w = _mm512_loadu_si512((const void *)(wb + j * 64));
        for (int r = 0; r < rows; r++) {
            int32_t four;
            memcpy(&four, a + (r0 + r) * k + 4 * j, 4);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(four), w);
        }
    }
    if (full < groups) {  // the last inputs, fewer than four
        __m512i w = _mm512_loadu_si512((const void *)(wb + full * 64));
        for (int r = 0; r < rows; r++) {
            int32_t four = 0;
            memcpy(&four, a + (r0 + r) * k + 4 * full, (size_t)(k - 4 * full));
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(four), w);
        }
    }
    long width = n - 16 * b < 16 ? n - 16 * b : 16;
    __mmask16 mask = (__mmask16)((1u << width) - 1);
    __m512i compensation = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(mask, sums + 16 * b), _mm512_set1_epi32(shift));
    if (!y) {
        for (int r = 0; r < rows; r++) _mm512_mask_storeu_epi32(c + (r0 + r) * n + 16 * b, mask, _mm512_sub_epi32(acc[r], compensation));
        return;
    }
    // y = sum · factor / scale (+ bias): nmt_dequantize_rows's operations, in its order.
    __m512 scale = _mm512_mask_loadu_ps(_mm512_set1_ps(1), mask, scales + 16 * b);
    __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + 16 * b) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r], compensation));
        v = _mm512_div_ps(_mm512_mul_ps(v, _mm512_set1_ps(factors[r0 + r])), scale);
        if (bias) v = _mm512_add_ps(v, add);
        _mm512_mask_storeu_ps(y + (r0 + r) * n + 16 * b, mask, v);
    }
}

VNNI
void nmt_int8_packed_product(int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
                             long m, long k, const int8_t *packed, const int32_t *sums, long n, int32_t shift) {
    long groups = (k + 3) / 4, blocks = (n + 15) / 16;
    // A block of sixteen outputs (⌈k/4⌉·64 bytes: 4 KB for k = 256) stays in L1 while every group
    // of rows passes over it.
    for (long b = 0; b < blocks; b++) {
        const int8_t *wb = packed + b * groups * 64;
        for (long r0 = 0; r0 < m; r0 += ROWS) {
            switch (m - r0 < ROWS ? m - r0 : ROWS) {
            case 1: block_rows(1, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 2: block_rows(2, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 3: block_rows(3, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 4: block_rows(4, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 5: block_rows(5, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 6: block_rows(6, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 7: block_rows(7, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            default: block_rows(8, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            }
        }
    }
}

int nmt_int8_packed_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

#define AVX2_ROWS 4  // two accumulators a row: eight rows would not fit sixteen ymm registers

#define AVX2 __attribute__((target("avx2")))

/// The AVX2 form of block_rows: each group of four inputs is two 32-byte halves of the block
/// (outputs 0–7 and 8–15); vpmaddubsw adds the two u8·s8 products of each pair into int16 (exact:
/// |2·127·128| < 2^15 for activations below 128), vpmaddwd by ones adds the two pairs into int32.
AVX2 static inline __attribute__((always_inline)) void
block_rows_avx2(const int rows, int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
                long r0, long k, const int8_t *wb, long groups, const int32_t *sums, long n, long b, int32_t shift) {
    __m256i low[AVX2_ROWS], high[AVX2_ROWS];
    for (int r = 0; r < rows; r++) low[r] = high[r] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    long full = k / 4;
    for (long j = 0; j < groups; j++) {
        __m256i wl = _mm256_loadu_si256((const __m256i *)(wb + j * 64)), wh = _mm256_loadu_si256((const __m256i *)(wb + j * 64 + 32));
        for (int r = 0; r < rows; r++) {
            int32_t four = 0;
            if (j < full) memcpy(&four, a + (r0 + r) * k + 4 * j, 4);
            else memcpy(&four, a + (r0 + r) * k + 4 * j, (size_t)(k - 4 * full));  // the last inputs, fewer than four
            __m256i x = _mm256_set1_epi32(four);
            low[r] = _mm256_add_epi32(low[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, wl), ones));
            high[r] = _mm256_add_epi32(high[r], _mm256_madd_epi16(_mm256_maddubs_epi16(x, wh), ones));
        }
    }
    long width = n - 16 * b < 16 ? n - 16 * b : 16;
    // A block's sums, scales and bias, padded to sixteen (scale 1, the rest 0) at the matrix's edge.
    int32_t blockSums[16] = {0};
    float blockScales[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, blockBias[16] = {0};
    memcpy(blockSums, sums + 16 * b, (size_t)width * 4);
    __m256i shifts = _mm256_set1_epi32(shift);
    __m256i compensation[2] = {_mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)blockSums), shifts),
                               _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(blockSums + 8)), shifts)};
    if (y) {
        memcpy(blockScales, scales + 16 * b, (size_t)width * 4);
        if (bias) memcpy(blockBias, bias + 16 * b, (size_t)width * 4);
    }
    for (int r = 0; r < rows; r++) {
        __m256i total[2] = {_mm256_sub_epi32(low[r], compensation[0]), _mm256_sub_epi32(high[r], compensation[1])};
        if (!y) {
            int32_t out[16];
            _mm256_storeu_si256((__m256i *)out, total[0]);
            _mm256_storeu_si256((__m256i *)(out + 8), total[1]);
            memcpy(c + (r0 + r) * n + 16 * b, out, (size_t)width * 4);
            continue;
        }
        // y = sum · factor / scale (+ bias): nmt_dequantize_rows's operations, in its order.
        float out[16];
        __m256 factor = _mm256_set1_ps(factors[r0 + r]);
        for (int h = 0; h < 2; h++) {
            __m256 v = _mm256_div_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(total[h]), factor), _mm256_loadu_ps(blockScales + 8 * h));
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(blockBias + 8 * h));
            _mm256_storeu_ps(out + 8 * h, v);
        }
        memcpy(y + (r0 + r) * n + 16 * b, out, (size_t)width * 4);
    }
}

AVX2
void nmt_int8_packed_product_avx2(int32_t *c, float *y, const float *factors, const float *scales, const float *bias, const uint8_t *a,
                                  long m, long k, const int8_t *packed, const int32_t *sums, long n, int32_t shift) {
    long groups = (k + 3) / 4, blocks = (n + 15) / 16;
    for (long b = 0; b < blocks; b++) {
        const int8_t *wb = packed + b * groups * 64;
        for (long r0 = 0; r0 < m; r0 += AVX2_ROWS) {
            switch (m - r0 < AVX2_ROWS ? m - r0 : AVX2_ROWS) {
            case 1: block_rows_avx2(1, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 2: block_rows_avx2(2, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            case 3: block_rows_avx2(3, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            default: block_rows_avx2(4, c, y, factors, scales, bias, a, r0, k, wb, groups, sums, n, b, shift); break;
            }
        }
    }
}
