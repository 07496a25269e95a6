// See relu_bfloat16.h.

#include "relu_bfloat16.h"
#include "clones.h"
#include "column_sums.h"
#include "dropout_draw.h"

typedef unsigned int u8x __attribute__((ext_vector_type(8)));
typedef unsigned short h8x __attribute__((ext_vector_type(8)));
typedef h8x h8u __attribute__((aligned(2)));
#define BFLOAT16_BITS8(v) BFLOAT16_BITS_OF(v, u8x, h8x)  // clones.h's rounding, eight lanes

CLONES
void nmt_relu_dropout_to_bfloat16(uint16_t *out, uint8_t *kept, const float *u, long first, long count, uint64_t stream,
                                  float p, float scale) {
    long j = 0;
    if (!kept) {
        for (; j < count; j++) out[j] = bfloat16_bits(u[j] > 0 ? u[j] : 0.0f);
        return;
    }
    for (; j + 8 <= count; j += 8) {
        i8x keep = DROPOUT_DRAWS8(stream, first + j) >= p;  // all ones where kept
        f8x x = *(const f8u *)(u + j);
        f8x a = (f8x)((i8x)x & (x > 0));                    // ReLU: x, or +0
        f8x value = (f8x)((i8x)(a * scale) & keep);         // dropout: the product, or +0
        *(h8u *)(out + j) = BFLOAT16_BITS8(value);
        *(u8x8u *)(kept + j) = __builtin_convertvector(keep & 1, u8x8);
    }
    for (; j < count; j++) {
        int keep = dropout_draw(stream, first + j) >= p;
        float a = u[j] > 0 ? u[j] : 0.0f;
        kept[j] = (uint8_t)keep;
        out[j] = bfloat16_bits(keep ? a * scale : 0.0f);
    }
}

CLONES
void nmt_relu_gradient_to_bfloat16_summing_columns(uint16_t *out, float *sums, const float *da, const uint16_t *activated, float scale,
                                                   long rows, long columns, long ld) {
    column_sums_rounding(out, sums, da, activated, NULL, scale, rows, columns, ld);
}
