// Attention's per-head products in a bf16 training pass (Tensor/BF16HeadProducts.swift): small
// products C [m, n] = alpha · A · B of bfloat16 operands summed in float32 by AVX512-BF16's
// vdpbf16ps (per float32 lane: c += a₀·b₀ + a₁·b₁ over a pair of bfloat16 values). Operands are
// laid out in pairs along the inner dimension (two bfloat16 in 32 bits, the even element in the
// low half; an odd inner dimension is padded with a zero):
//   A: pair p of row i at a[i·rowStride + p·pairStride]
//   B: [pairs, n], pair p of column j at b[p·ldb + j]
// float32 operands (probabilities) are rounded into pairs (nearest, ties to even: clones.h's
// bfloat16_bits); bfloat16 rows (q, k, v, dContext, as their projections wrote them) are only
// rearranged. The products need AVX512-BF16 (compiled for it alone; bf16 training is refused
// elsewhere); the layouts — pairs, transposed words, packed blocks — run on every x86-64 CPU (an
// AVX-512 version where the CPU has it, else a portable one with the same words), so that tests
// check them everywhere.
#ifndef NMT_BFLOAT16_PAIRS_H
#define NMT_BFLOAT16_PAIRS_H
#include <stdint.h>

/// Pairs along rows: out[i·P + p] = (x[i·ld + 2p], x[i·ld + 2p + 1]) for i < rows, p < P = ⌈columns/2⌉.
void nmt_bf16_pairs_along_rows(uint32_t *out, const float *x, long rows, long columns, long ld);

/// Pairs down columns: out[p·columns + j] = (x[2p·ld + j], x[(2p + 1)·ld + j]) for p < ⌈rows/2⌉,
/// j < columns — B for a product with x, or A (rowStride 1, pairStride columns) for one with xᵀ.
void nmt_bf16_pairs_down_columns(uint32_t *out, const float *x, long rows, long columns, long ld);

/// c[i·ldc + j] = alpha · Σ_p A(i, p) · B(p, j) for i < m, j < n.
void nmt_bf16_pair_product(float *c, long ldc, const uint32_t *a, long rowStride, long pairStride, const uint32_t *b, long ldb,
                           long m, long n, long pairs, float alpha);

/// From bfloat16 rows (x[i·ld + j], columns even): out[p·rows + i] = (x[i·ld + 2p], x[i·ld + 2p + 1]) — B for a product with xᵀ.
/// (A product with x itself as A reads x's rows as they are: rowStride ld/2, pairStride 1.)
void nmt_bf16_words_transposed(uint32_t *out, const uint16_t *x, long rows, long columns, long ld);

/// From bfloat16 rows: out[p·columns + j] = (x[2p·ld + j], x[(2p + 1)·ld + j]) (a zero past an odd row count) — B for a product with x.
void nmt_bf16_words_down_columns(uint32_t *out, const uint16_t *x, long rows, long columns, long ld);

/// B [rows, columns] — bfloat16 x16, or float32 x32 rounded (the other null) — with rows ld apart,
/// in oneDNN's brgemm layout of row pairs in blocks of blockRows × blockColumns: block (kb, nb) at
/// out + kb·kStride + nb·nStride words, word (p, j) of a block at p·blockColumns + j =
/// (x[kb·blockRows + 2p, nb·blockColumns + j], the next row's). Row blocks kb0..<kb1; rows past
/// `rows` are zeros. columns a multiple of blockColumns.
void nmt_bf16_pack_pair_blocks(uint32_t *out, const uint16_t *x16, const float *x32, long rows, long columns, long ld,
                               long blockRows, long blockColumns, long kStride, long nStride, long kb0, long kb1);

/// nmt_bf16_pair_product with alpha 1 and C rounded to bfloat16 as it is stored.
void nmt_bf16_pair_product_rounded(uint16_t *c, long ldc, const uint32_t *a, long rowStride, long pairStride, const uint32_t *b, long ldb,
                                   long m, long n, long pairs);

/// c[i·ldc + j] = bfloat16(v) with v = alpha · Σ_p A(i, p) · B(p, j), after sums[j] += v for
/// each row i in order: an input gradient that only products read, and its bias gradient's sums
/// (the bits of writing v in float32 and then rounding and summing it).
void nmt_bf16_pair_product_rounded_summing(uint16_t *c, long ldc, float *sums, const uint32_t *a, long rowStride, long pairStride,
                                           const uint32_t *b, long ldb, long m, long n, long pairs, float alpha);

/// Asks for `rows` rows of `bytes` bytes, `ld` bytes apart from p, to be brought into cache
/// (prefetch hints: no effect on results).
void nmt_prefetch_rows(const void *p, long rows, long bytes, long ld);

#endif
