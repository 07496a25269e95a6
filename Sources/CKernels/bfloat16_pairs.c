// See bfloat16_pairs.h.

#include "bfloat16_pairs.h"
#include "clones.h"
#include <immintrin.h>

typedef u16x u16xu __attribute__((aligned(4)));
// Sixteen lanes of clones.h's rounding, widened to 32 bits (the bfloat16 in the low half).
#define BFLOAT16_WORDS16(v) __builtin_convertvector(BFLOAT16_BITS16(v), u16x)

// A row of x rounded into pairs: the pairs are the row's bfloat16 values in order (the even one
// in each low half, as little-endian 16-bit values lie), then a zero if columns is odd.
static inline __attribute__((always_inline)) void round_row_into_pairs(uint32_t *out, const float *row, long columns) {
    uint16_t *target = (uint16_t *)out;
    long j = 0;
    for (; j + 16 <= columns; j += 16) *(h16u *)(target + j) = BFLOAT16_BITS16(AT(row + j));
    for (; j < columns; j++) target[j] = bfloat16_bits(row[j]);
    if (columns % 2) target[columns] = 0;
}

CLONES
void nmt_bf16_pairs_along_rows(uint32_t *out, const float *x, long rows, long columns, long ld) {
    long pairs = (columns + 1) / 2;
    for (long i = 0; i < rows; i++) round_row_into_pairs(out + i * pairs, x + i * ld, columns);
}

CLONES
void nmt_bf16_pairs_down_columns(uint32_t *out, const float *x, long rows, long columns, long ld) {
    for (long p = 0; 2 * p < rows; p++) {
        const float *even = x + 2 * p * ld, *odd = 2 * p + 1 < rows ? even + ld : 0;
        uint32_t *target = out + p * columns;
        long j = 0;
        // Lane l: the even row's rounded value in the low half, the odd row's in the high half.
        for (; odd && j + 16 <= columns; j += 16) {
            *(u16xu *)(target + j) = BFLOAT16_WORDS16(AT(even + j)) | BFLOAT16_WORDS16(AT(odd + j)) << 16;
        }
        for (; j < columns; j++) target[j] = (uint32_t)bfloat16_bits(even[j]) | (uint32_t)(odd ? bfloat16_bits(odd[j]) : 0) << 16;
    }
}

// Sixteen rows by sixteen words at a time, transposed in registers (clones.h's transpose16x16_…),
// four columns stored as soon as they are made.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void words_transposed_avx512(uint32_t *out, const uint16_t *x, long rows, long columns, long ld) {
    long pairs = columns / 2;
    for (long i0 = 0; i0 < rows; i0 += 16) {
        long count = rows - i0 < 16 ? rows - i0 : 16;
        __mmask16 rowMask = count == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
        for (long p0 = 0; p0 < pairs; p0 += 16) {
            long width = pairs - p0 < 16 ? pairs - p0 : 16;
            __mmask16 wordMask = width == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
            // Rows past `count` load as zeros through an empty mask (masked-off lanes never fault),
            // so the loads need no branch and the sixteen vectors stay in registers.
            u16x v[16];
            _Pragma("clang loop unroll(full)")
            for (long i = 0; i < 16; i++)
                v[i] = (u16x)_mm512_maskz_loadu_epi32(i < count ? wordMask : 0, x + (i0 + i) * ld + 2 * p0);
            transpose16x16_begin(v);
            _Pragma("clang loop unroll(full)")
            for (int c = 0; c < 4; c++) {
                u16x columns[4];
                transpose16x16_columns(v, c, columns);
                for (int l = 0; l < 4; l++) {
                    long j = 4 * l + c;
                    if (j < width) _mm512_mask_storeu_epi32(out + (p0 + j) * rows + i0, rowMask, (__m512i)columns[l]);
                }
            }
        }
    }
}

// The same word by word, for CPUs without AVX-512 (and tests on them): the same words.
static void words_transposed_portable(uint32_t *out, const uint16_t *x, long rows, long columns, long ld) {
    for (long p = 0; p < columns / 2; p++)
        for (long i = 0; i < rows; i++) out[p * rows + i] = (uint32_t)x[i * ld + 2 * p] | (uint32_t)x[i * ld + 2 * p + 1] << 16;
}

void nmt_bf16_words_transposed(uint32_t *out, const uint16_t *x, long rows, long columns, long ld) {
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) words_transposed_avx512(out, x, rows, columns, ld);
    else words_transposed_portable(out, x, rows, columns, ld);
}

CLONES
void nmt_bf16_words_down_columns(uint32_t *out, const uint16_t *x, long rows, long columns, long ld) {
    for (long p = 0; 2 * p < rows; p++) {
        const uint16_t *even = x + 2 * p * ld;
        uint32_t *target = out + p * columns;
        if (2 * p + 1 < rows) {
            const uint16_t *odd = even + ld;
            for (long j = 0; j < columns; j++) target[j] = (uint32_t)even[j] | (uint32_t)odd[j] << 16;
        } else {
            for (long j = 0; j < columns; j++) target[j] = (uint32_t)even[j];
        }
    }
}

// Row pairs r, r + 1 of x into each block's pair row (r at pair row pr of its row block): the
// blocks' Y-word pieces of one pair row, left to right, so x is read in order, whole rows at a
// time (a block of 32 rows at a time fits in L2), and each block's piece is 256 contiguous bytes.
// Two 16-bit interleaves per 32 columns (even row's value in the low half of each word).
__attribute__((target("avx512f,avx512bw")))
static void pack_pair_blocks_avx512(uint32_t *out, const uint16_t *x16, const float *x32, long rows, long columns, long ld,
                                    long blockRows, long blockColumns, long kStride, long nStride, long kb0, long kb1) {
    const __m512i low = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                         39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i high = _mm512_add_epi16(low, _mm512_set1_epi16(16));
    const long blocks = columns / blockColumns;
    for (long kb = kb0; kb < kb1; kb++) {
        for (long pr = 0; pr < blockRows / 2; pr++) {
            long r = kb * blockRows + 2 * pr;
            uint32_t *target = out + kb * kStride + pr * blockColumns;
            if (r >= rows) {  // padding past the last row: zeros
                for (long nb = 0; nb < blocks; nb++) __builtin_memset(target + nb * nStride, 0, 4 * blockColumns);
                continue;
            }
            const int hasOdd = r + 1 < rows;
            if (x16) {
                const uint16_t *even = x16 + r * ld, *odd = even + ld;
                for (long nb = 0; nb < blocks; nb++, target += nStride) {
                    long j0 = nb * blockColumns, j = 0;
                    for (; hasOdd && j + 32 <= blockColumns; j += 32) {
                        __m512i e = _mm512_loadu_si512(even + j0 + j), o = _mm512_loadu_si512(odd + j0 + j);
                        _mm512_storeu_si512(target + j, _mm512_permutex2var_epi16(e, low, o));
                        _mm512_storeu_si512(target + j + 16, _mm512_permutex2var_epi16(e, high, o));
                    }
                    for (; j < blockColumns; j++) target[j] = (uint32_t)even[j0 + j] | (hasOdd ? (uint32_t)odd[j0 + j] << 16 : 0);
                }
            } else {
                const float *even = x32 + r * ld, *odd = even + ld;
                for (long nb = 0; nb < blocks; nb++, target += nStride) {
                    long j0 = nb * blockColumns, j = 0;
                    for (; hasOdd && j + 16 <= blockColumns; j += 16) {
                        *(u16xu *)(target + j) = BFLOAT16_WORDS16(AT(even + j0 + j)) | BFLOAT16_WORDS16(AT(odd + j0 + j)) << 16;
                    }
                    for (; j < blockColumns; j++)
                        target[j] = (uint32_t)bfloat16_bits(even[j0 + j]) | (hasOdd ? (uint32_t)bfloat16_bits(odd[j0 + j]) << 16 : 0);
                }
            }
        }
    }
}

// The same word by word, for CPUs without AVX-512 (and tests on them): the same words.
static void pack_pair_blocks_portable(uint32_t *out, const uint16_t *x16, const float *x32, long rows, long columns, long ld,
                                      long blockRows, long blockColumns, long kStride, long nStride, long kb0, long kb1) {
    for (long kb = kb0; kb < kb1; kb++)
        for (long pr = 0; pr < blockRows / 2; pr++) {
            long r = kb * blockRows + 2 * pr;
            for (long nb = 0; nb < columns / blockColumns; nb++) {
                uint32_t *target = out + kb * kStride + nb * nStride + pr * blockColumns;
                for (long j = 0; j < blockColumns; j++) {
                    long column = nb * blockColumns + j;
                    uint32_t even = 0, odd = 0;
                    if (r < rows) even = x16 ? x16[r * ld + column] : bfloat16_bits(x32[r * ld + column]);
                    if (r + 1 < rows) odd = x16 ? x16[(r + 1) * ld + column] : bfloat16_bits(x32[(r + 1) * ld + column]);
                    target[j] = even | odd << 16;
                }
            }
        }
}

void nmt_bf16_pack_pair_blocks(uint32_t *out, const uint16_t *x16, const float *x32, long rows, long columns, long ld,
                               long blockRows, long blockColumns, long kStride, long nStride, long kb0, long kb1) {
    if (__builtin_cpu_supports("avx512bw")) pack_pair_blocks_avx512(out, x16, x32, rows, columns, ld, blockRows, blockColumns, kStride, nStride, kb0, kb1);
    else pack_pair_blocks_portable(out, x16, x32, rows, columns, ld, blockRows, blockColumns, kStride, nStride, kb0, kb1);
}

// C rounded to bfloat16 as it is stored (clones.h's rounding).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void store_rounded(uint16_t *target, __mmask16 k, __m512 x) {
    _mm256_mask_storeu_epi16(target, k, (__m256i)BFLOAT16_BITS16((f16x)x));
}

// Columns j0… of one row of C (at c + at): float32 scaled by alpha, or rounded to bfloat16 —
// scaled and added to the columns' sums (s0, s1: held in registers) first, if summing.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void store_row(float *c32, uint16_t *c16, int summing, __m512 *s0, __m512 *s1, long at,
                                                            __mmask16 k0, __mmask16 k1, __m512 low, __m512 high, __m512 scale) {
    if (c16) {
        if (summing) {
            low = _mm512_mul_ps(low, scale);
            high = _mm512_mul_ps(high, scale);
            *s0 = _mm512_add_ps(*s0, low);
            *s1 = _mm512_add_ps(*s1, high);
        }
        store_rounded(c16 + at, k0, low);
        store_rounded(c16 + at + 16, k1, high);
    } else {
        _mm512_mask_storeu_ps(c32 + at, k0, _mm512_mul_ps(low, scale));
        _mm512_mask_storeu_ps(c32 + at + 16, k1, _mm512_mul_ps(high, scale));
    }
}

// Four rows of C by 32 columns at a time: eight accumulators, each pair of B loaded once for four
// broadcast pairs of A; all rows of a block of columns before the next block. C is float32 (c32,
// scaled by alpha) or bfloat16 (c16; with sums, scaled by alpha and each row added to sums first,
// rows in order, the block's sums held in registers down the rows).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static inline __attribute__((always_inline)) void pair_product(float *c32, uint16_t *c16, float *sums, long ldc, const uint32_t *a, long rowStride, long pairStride,
                                                               const uint32_t *b, long ldb, long m, long n, long pairs, float alpha) {
    const __m512 scale = _mm512_set1_ps(alpha);
    const int summing = sums != 0;
    for (long j0 = 0; j0 < n; j0 += 32) {
        long columns = n - j0 < 32 ? n - j0 : 32;
        __mmask16 k0 = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1);
        __mmask16 k1 = columns <= 16 ? 0 : columns >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (columns - 16)) - 1);
        __m512 s0 = summing ? _mm512_maskz_loadu_ps(k0, sums + j0) : _mm512_setzero_ps();
        __m512 s1 = summing ? _mm512_maskz_loadu_ps(k1, sums + j0 + 16) : _mm512_setzero_ps();
        for (long i0 = 0; i0 < m; i0 += 4) {
            long rows = m - i0 < 4 ? m - i0 : 4;
            const uint32_t *a0 = a + i0 * rowStride;
            const uint32_t *a1 = a0 + (rows > 1 ? rowStride : 0), *a2 = a0 + (rows > 2 ? 2 * rowStride : 0), *a3 = a0 + (rows > 3 ? 3 * rowStride : 0);
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const uint32_t *bp = b + j0;
            if (columns <= 16) {
                // One vector of columns (short sequences' scores): half the work of the loop below.
                for (long p = 0; p < pairs; p++, bp += ldb) {
                    __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(k0, bp);
                    long at = p * pairStride;
                    c00 = _mm512_dpbf16_ps(c00, (__m512bh)_mm512_set1_epi32((int)a0[at]), b0);
                    c10 = _mm512_dpbf16_ps(c10, (__m512bh)_mm512_set1_epi32((int)a1[at]), b0);
                    c20 = _mm512_dpbf16_ps(c20, (__m512bh)_mm512_set1_epi32((int)a2[at]), b0);
                    c30 = _mm512_dpbf16_ps(c30, (__m512bh)_mm512_set1_epi32((int)a3[at]), b0);
                }
            } else for (long p = 0; p < pairs; p++, bp += ldb) {
                __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(k0, bp), b1 = (__m512bh)_mm512_maskz_loadu_epi32(k1, bp + 16);
                long at = p * pairStride;
                __m512bh x0 = (__m512bh)_mm512_set1_epi32((int)a0[at]), x1 = (__m512bh)_mm512_set1_epi32((int)a1[at]);
                __m512bh x2 = (__m512bh)_mm512_set1_epi32((int)a2[at]), x3 = (__m512bh)_mm512_set1_epi32((int)a3[at]);
                c00 = _mm512_dpbf16_ps(c00, x0, b0); c01 = _mm512_dpbf16_ps(c01, x0, b1);
                c10 = _mm512_dpbf16_ps(c10, x1, b0); c11 = _mm512_dpbf16_ps(c11, x1, b1);
                c20 = _mm512_dpbf16_ps(c20, x2, b0); c21 = _mm512_dpbf16_ps(c21, x2, b1);
                c30 = _mm512_dpbf16_ps(c30, x3, b0); c31 = _mm512_dpbf16_ps(c31, x3, b1);
            }
            // Rows past m were computed from row i0's A (in bounds) and are not stored.
            long at = i0 * ldc + j0;
            store_row(c32, c16, summing, &s0, &s1, at, k0, k1, c00, c01, scale);
            if (rows > 1) store_row(c32, c16, summing, &s0, &s1, at + ldc, k0, k1, c10, c11, scale);
            if (rows > 2) store_row(c32, c16, summing, &s0, &s1, at + 2 * ldc, k0, k1, c20, c21, scale);
            if (rows > 3) store_row(c32, c16, summing, &s0, &s1, at + 3 * ldc, k0, k1, c30, c31, scale);
        }
        if (summing) {
            _mm512_mask_storeu_ps(sums + j0, k0, s0);
            _mm512_mask_storeu_ps(sums + j0 + 16, k1, s1);
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void nmt_bf16_pair_product(float *c, long ldc, const uint32_t *a, long rowStride, long pairStride, const uint32_t *b, long ldb,
                           long m, long n, long pairs, float alpha) {
    pair_product(c, 0, 0, ldc, a, rowStride, pairStride, b, ldb, m, n, pairs, alpha);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void nmt_bf16_pair_product_rounded(uint16_t *c, long ldc, const uint32_t *a, long rowStride, long pairStride, const uint32_t *b, long ldb,
                                   long m, long n, long pairs) {
    pair_product(0, c, 0, ldc, a, rowStride, pairStride, b, ldb, m, n, pairs, 1);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void nmt_bf16_pair_product_rounded_summing(uint16_t *c, long ldc, float *sums, const uint32_t *a, long rowStride, long pairStride,
                                           const uint32_t *b, long ldb, long m, long n, long pairs, float alpha) {
    pair_product(0, c, sums, ldc, a, rowStride, pairStride, b, ldb, m, n, pairs, alpha);
}

void nmt_prefetch_rows(const void *p, long rows, long bytes, long ld) {
    const char *row = (const char *)p;
    for (long i = 0; i < rows && bytes > 0; i++, row += ld) {
        // Every 64-byte line the row touches, from the one holding its first byte to its last.
        const char *line = (const char *)((uintptr_t)row & ~(uintptr_t)63), *last = row + bytes - 1;
        for (; line <= last; line += 64) __builtin_prefetch(line);
    }
}
