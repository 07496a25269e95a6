// See dropout_mask.h. Eight elements at a time in explicit vectors: the passes run in place
// (y = x), and a plain loop over possibly overlapping y and x stayed scalar.

#include "dropout_mask.h"
#include "clones.h"

typedef unsigned long long u64x8 __attribute__((ext_vector_type(8)));
typedef int i8x __attribute__((ext_vector_type(8)));
typedef unsigned char u8x8 __attribute__((ext_vector_type(8)));
typedef float f8u __attribute__((ext_vector_type(8), aligned(4)));
typedef u8x8 u8x8u __attribute__((aligned(1)));

#define GOLDEN 0x9E3779B97F4A7C15ull
#define MIX1 0xBF58476D1CE4E5B9ull
#define MIX2 0x94D049BB133111EBull

CLONES
void nmt_dropout_forward(float *y, const float *x, uint8_t *kept, long first, long count, uint64_t stream,
                         float p, float scale) {
    long j = 0;
    const u64x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (; j + 8 <= count; j += 8) {
        u64x8 z = stream + (lane + (uint64_t)(first + j)) * GOLDEN;
        z = (z ^ (z >> 30)) * MIX1;
        z = (z ^ (z >> 27)) * MIX2;
        z ^= z >> 31;
        f8x draw = __builtin_convertvector(__builtin_convertvector(z >> 40, i8x), f8x) * (1.0f / 16777216.0f);
        i8x keep = draw >= p;                       // all ones where kept
        f8x value = *(const f8u *)(x + j) * scale;
        *(f8u *)(y + j) = (f8x)((i8x)value & keep);  // the product, or +0
        *(u8x8u *)(kept + j) = __builtin_convertvector(keep & 1, u8x8);
    }
    for (; j < count; j++) {
        uint64_t z = stream + (uint64_t)(first + j) * GOLDEN;
        z = (z ^ (z >> 30)) * MIX1;
        z = (z ^ (z >> 27)) * MIX2;
        z ^= z >> 31;
        float draw = (float)(uint32_t)(z >> 40) * (1.0f / 16777216.0f);
        int keep = draw >= p;
        kept[j] = (uint8_t)keep;
        y[j] = keep ? x[j] * scale : 0.0f;
    }
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
