// See int8_rows.h. Written as plain loops the compiler vectorizes per instruction set; each
// element's operations are the Swift reference's, in its order.

#include "int8_rows.h"
#include "clones.h"

CLONES
void nmt_quantize_rows(uint8_t *out, float *factors, const float *x, long m, long k, float range, uint32_t shift) {
    const float magic = 12582912.0f;  // 1.5·2²³: v + magic rounds v (|v| < 2²²) to an integer, half to even
    for (long r = 0; r < m; r++) {
        const float *row = x + r * k;
        uint8_t *q = out + r * k;
        // The largest magnitude, NaN skipped (as Swift's max), in 16 lanes: a maximum does not
        // depend on the order it is taken in.
        f16x lanes = 0;
        long i = 0;
        for (; i + 16 <= k; i += 16) lanes = __builtin_elementwise_max(lanes, __builtin_elementwise_abs(AT(row + i)));
        float largest = __builtin_reduce_max(lanes);
        for (; i < k; i++) {
            float magnitude = __builtin_fabsf(row[i]);
            largest = magnitude >= largest ? magnitude : largest;
        }
        float a = largest > 0 ? range / largest : 1;
        for (i = 0; i < k; i++) {
            float v = row[i] * a;
            float even = (v + magic) - magic;
            // Ties move away from zero, as Float.rounded() does.
            float rounded = __builtin_fabsf(v - even) == 0.5f ? v + (v < 0 ? -0.5f : 0.5f) : even;
            float biased = rounded + magic;
            uint32_t bits;
            __builtin_memcpy(&bits, &biased, 4);
            q[i] = (uint8_t)(bits + shift);
        }
        factors[r] = 1 / a;
    }
}

CLONES
void nmt_dequantize_rows(float *y, const int32_t *sums, const float *factors, const float *scales, const float *bias, long m, long n) {
    for (long r = 0; r < m; r++) {
        float factor = factors[r];
        const int32_t *s = sums + r * n;
        float *out = y + r * n;
        if (bias) {
            for (long o = 0; o < n; o++) out[o] = (float)s[o] * factor / scales[o] + bias[o];
        } else {
            for (long o = 0; o < n; o++) out[o] = (float)s[o] * factor / scales[o];
        }
    }
}
