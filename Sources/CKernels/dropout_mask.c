// See dropout_mask.h. Eight elements at a time in explicit vectors: the passes run in place
// (y = x), and a plain loop over possibly overlapping y and x stayed scalar.

#include "dropout_mask.h"
#include "dropout_draw.h"
#include <stddef.h>

// Dropout of f, added to x when there is one: y = x + f·kept·scale (or f·kept·scale). The one
// loop behind nmt_dropout_forward and nmt_dropout_residual (with x NULL the sum is compiled away).
static inline __attribute__((always_inline))
void dropout_rows(float *y, const float *x, const float *f, uint8_t *kept, long first, long count, uint64_t stream, float p, float scale) {
    long j = 0;
    for (; j + 8 <= count; j += 8) {
        i8x keep = DROPOUT_DRAWS8(stream, first + j) >= p;  // all ones where kept
        f8x value = *(const f8u *)(f + j) * scale;
        f8x dropped = (f8x)((i8x)value & keep);            // the product, or +0
        *(f8u *)(y + j) = x ? *(const f8u *)(x + j) + dropped : dropped;
        *(u8x8u *)(kept + j) = __builtin_convertvector(keep & 1, u8x8);
    }
    for (; j < count; j++) {
        int keep = dropout_draw(stream, first + j) >= p;
        kept[j] = (uint8_t)keep;
        float dropped = keep ? f[j] * scale : 0.0f;
        y[j] = x ? x[j] + dropped : dropped;
    }
}

CLONES
void nmt_dropout_forward(float *y, const float *x, uint8_t *kept, long first, long count, uint64_t stream,
                         float p, float scale) {
    dropout_rows(y, NULL, x, kept, first, count, stream, p, scale);
}

CLONES
void nmt_dropout_apply(float *y, const float *x, const uint8_t *kept, long count, float scale) {
    long j = 0;
    for (; j + 8 <= count; j += 8) {
        i8x keep = __builtin_convertvector(*(const u8x8u *)(kept + j), i8x) != 0;  // all ones where kept
        f8x value = *(const f8u *)(x + j) * scale;
        *(f8u *)(y + j) = (f8x)((i8x)value & keep);
    }
    for (; j < count; j++) y[j] = kept[j] != 0 ? x[j] * scale : 0.0f;
}

CLONES
void nmt_dropout_residual(float *y, const float *x, const float *f, uint8_t *kept, long first, long count, uint64_t stream,
                          float p, float scale) {
    dropout_rows(y, x, f, kept, first, count, stream, p, scale);
}

CLONES
void nmt_dropout_residual_backward(float *dx, float *df, const float *dy, const uint8_t *kept, long count, float scale) {
    long j = 0;
    for (; j + 8 <= count; j += 8) {
        f8x g = *(const f8u *)(dy + j);
        *(f8u *)(dx + j) = *(const f8u *)(dx + j) + g;
        if (kept) {
            i8x keep = __builtin_convertvector(*(const u8x8u *)(kept + j), i8x) != 0;  // all ones where kept
            *(f8u *)(df + j) = (f8x)((i8x)(g * scale) & keep);
        } else {
            *(f8u *)(df + j) = g;
        }
    }
    for (; j < count; j++) {
        dx[j] += dy[j];
        df[j] = kept ? (kept[j] != 0 ? dy[j] * scale : 0.0f) : dy[j];
    }
}
