// The float sides of an int8 product (Tensor/Int8Matmul.swift): activations quantized per row
// before the integer product, int32 sums scaled back to floats after it. Element by element, so
// every instruction set gives the same bits as the Swift reference.
#ifndef NMT_INT8_ROWS_H
#define NMT_INT8_ROWS_H

#include <stdint.h>

/// Row r of x [m, k]: a = range / max_i |x[r, i]| (1 for a zero row), out[r, i] = round(x[r, i]·a) + shift
/// (half away from zero; u8), factors[r] = 1 / a.
void nmt_quantize_rows(uint8_t *out, float *factors, const float *x, long m, long k, float range, uint32_t shift);

/// y[r, o] = sums[r, o] · factors[r] / scales[o] (+ bias[o] when bias is not NULL), for r < m, o < n.
void nmt_dequantize_rows(float *y, const int32_t *sums, const float *factors, const float *scales, const float *bias, long m, long n);

#endif
