// A float32 matrix product whose every output is a function of its own input row and weight row
// alone, summed in an order fixed by the code: y[r, o] = (Σ_i x[r, i]·w[o, i]) + b[o], the sum a
// chain of fused multiply-adds over i = 0, 1, …, k−1 starting from 0. A row's result therefore does
// not depend on how many rows are multiplied with it, which rows they are, how the work is split
// between threads, or which instruction set runs it (AVX-512, AVX2+FMA, or baseline x86-64 where
// fma is a libm call): decoding's outputs are the same whatever the batch. Weights are packed once
// into panels of sixteen outputs, each panel [k, 16], so the kernel reads a panel row as one vector.
#ifndef NMT_FLOAT_PANELS_H
#define NMT_FLOAT_PANELS_H

/// Floats of the packed form of an [n, k] matrix: ⌈n/16⌉·16·k.
long nmt_panels_size(long n, long k);

/// packed[(p·k + i)·16 + l] = w[16p + l, i] (0 for 16p + l ≥ n). `packed` is 64-byte aligned.
void nmt_pack_panels(float *packed, const float *w, long n, long k);

/// y[r, o] = Σ_i x[r, i]·w[o, i] (the fixed chain) + bias[o] (bias may be NULL), then max(·, 0)
/// with `relu`, for rows r < m and outputs o of panels [panel_begin, panel_end) below n.
void nmt_panel_product(float *y, long ldy, const float *x, long ldx, long m, const float *packed, long n, long k,
                       const float *bias, int relu, long panel_begin, long panel_end);

/// The instruction set nmt_panel_product runs on this CPU: 2 (AVX-512), 1 (AVX2+FMA) or 0 (baseline).
int nmt_panel_product_level(void);

/// nmt_panel_product's copy for instruction set `level` (at most nmt_panel_product_level()):
/// tests check that every copy this CPU runs gives the same bits.
void nmt_panel_product_on(int level, float *y, long ldy, const float *x, long ldx, long m, const float *packed, long n, long k,
                          const float *bias, int relu, long panel_begin, long panel_end);

#endif
