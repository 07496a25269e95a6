// The element-wise row kernels of training and decoding: sums, maxima, the exponentials of
// softmax and the loss, layer normalisation. They compute exactly what the Swift SIMD16 code they
// replace computed (Tensor/FastMath.swift documents the order: sixteen lanes, each summing every
// sixteenth element, the lanes then added 0…15 in order, the tail last), so results are the same
// bits; built for AVX-512 they run sixteen lanes per instruction where Swift, built for baseline
// x86-64, ran four.
#ifndef NMT_FLOAT_ROWS_H
#define NMT_FLOAT_ROWS_H

#include <stdint.h>

/// Σ x[i] for i < n.
float nmt_row_sum(const float *x, long n);
/// Σ x[i]·y[i] for i < n.
float nmt_row_dot(const float *x, const float *y, long n);
/// max x[i] for i < n (−∞ for n = 0).
float nmt_row_max(const float *x, long n);
/// e^x: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-7 Taylor polynomial for
/// e^r (truncation error < 6e-9, ≈1e-7 relative overall) and 2^n from exponent bits. Inputs above
/// 88.3 are clamped (the float range ends at e^88.7); inputs below −87.3 give exactly 0, so a
/// masked (−∞) score contributes nothing. (libm's expf costs ~4.5 ns per element.)
float nmt_exp(float x);
/// y[i] = e^(x[i] − shift) for i < n (nmt_exp's polynomial, sixteen lanes at a time); returns Σ y[i].
/// x and y may be the same memory. The tail runs through one partly filled vector.
float nmt_exp_shifted(float *y, const float *x, long n, float shift);
/// Σ e^(x[i] − shift) for i < n without storing the terms (the tail one element at a time).
float nmt_exp_sum(const float *x, long n, float shift);
/// y[i] = y[i]·scale − offset for i < n.
void nmt_scale_shift(float *y, long n, float scale, float offset);
/// y[i] = y[i]·scale for i < n.
void nmt_scale(float *y, long n, float scale);
/// Softmax's backward pass in place: d[i] = p[i]·(d[i] − Σ_k p[k]·d[k]).
void nmt_softmax_backward_row(float *d, const float *p, long n);
/// out[j] += Σ_r m[r·ld + j] for j < columns, rows in order.
void nmt_column_sums(float *out, const float *m, long rows, long columns, long ld);
/// Layer normalisation's parameter gradients over rows of c (in order), for columns j < columns
/// of each (a block of them: the pointers start at the block): dw[j] += Σ_r dy·(x − μ_r)·rstd_r,
/// db[j] += Σ_r dy.
void nmt_layer_norm_parameter_gradients(float *dw, float *db, const float *dy, const float *x, const float *mean, const float *rstd,
                                        long rows, long columns, long c);
/// Layer normalisation's backward pass over rows of c (LayerNorm.swift has the formulas): with
/// g = dy·w, dx = base + rstd·(g − mean(g) − x̂·mean(g·x̂)) (base may be dx itself), and with dw
/// and db non-null the parameter gradients added row by row as nmt_layer_norm_parameter_gradients
/// adds them. Row means are summed element by element in column order (each row's own serial sum,
/// sixteen rows at once in the lanes of a vector).
void nmt_layer_norm_backward_rows(float *dx, const float *base, float *dw, float *db, const float *dy, const float *x, const float *w,
                                  const float *mean, const float *rstd, long rows, long c);
/// Layer normalisation of one row of c: μ, rstd = 1/√(var + eps), y = (x − μ)·rstd·w + b.
void nmt_layer_norm_row(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, long c, float eps);
/// The same with y rounded to bfloat16 as it is written (nearest, ties to even: nmt_round_to_bfloat16's
/// rounding of the float32 y above, bit for bit).
void nmt_layer_norm_row_bf16(uint16_t *y, float *mean, float *rstd, const float *x, const float *w, const float *b, long c, float eps);

#endif
