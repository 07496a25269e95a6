// Dropout's draws (Tensor/Dropout.swift's uniformDraw): element i's draw is splitmix64's finaliser
// of (stream + i·golden ratio) as a 24-bit fraction in [0, 1). Integer hashing and one exact
// conversion: the same bits on every instruction set. Shared by the kernels that draw a mask
// (dropout_mask.c, and relu_bfloat16.c, which fuses the feed-forward activation's dropout into its
// rounding); macros, as clones.h asks of vector helpers.
#ifndef NMT_DROPOUT_DRAW_H
#define NMT_DROPOUT_DRAW_H
#include <stdint.h>
#include "clones.h"

typedef unsigned long long u64x8 __attribute__((ext_vector_type(8)));
typedef int i8x __attribute__((ext_vector_type(8)));
typedef unsigned char u8x8 __attribute__((ext_vector_type(8)));
typedef float f8u __attribute__((ext_vector_type(8), aligned(4)));
typedef u8x8 u8x8u __attribute__((aligned(1)));

#define DROPOUT_GOLDEN 0x9E3779B97F4A7C15ull
#define DROPOUT_MIX1 0xBF58476D1CE4E5B9ull
#define DROPOUT_MIX2 0x94D049BB133111EBull

// The draws of elements index … index + 7 (f8x).
#define DROPOUT_DRAWS8(stream, index) ({                                                            \
    const u64x8 lane_ = {0, 1, 2, 3, 4, 5, 6, 7};                                                   \
    u64x8 z_ = (stream) + (lane_ + (uint64_t)(index)) * DROPOUT_GOLDEN;                              \
    z_ = (z_ ^ (z_ >> 30)) * DROPOUT_MIX1;                                                           \
    z_ = (z_ ^ (z_ >> 27)) * DROPOUT_MIX2;                                                           \
    z_ ^= z_ >> 31;                                                                                  \
    __builtin_convertvector(__builtin_convertvector(z_ >> 40, i8x), f8x) * (1.0f / 16777216.0f);    \
})

// The draw of element `index`.
static inline __attribute__((always_inline)) float dropout_draw(uint64_t stream, long index) {
    uint64_t z = stream + (uint64_t)index * DROPOUT_GOLDEN;
    z = (z ^ (z >> 30)) * DROPOUT_MIX1;
    z = (z ^ (z >> 27)) * DROPOUT_MIX2;
    z ^= z >> 31;
    return (float)(uint32_t)(z >> 40) * (1.0f / 16777216.0f);
}
#endif
