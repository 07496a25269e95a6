// Shared by the C kernels. Each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 (target_clones; the loader
// picks the best the CPU runs). NMT_SINGLE_TARGET builds one instruction set at a time, for
// scripts/check/kernels. Products are never fused with sums unless the code says so
// (fp contract off), so every build rounds the same operations.
#ifndef NMT_CLONES_H
#define NMT_CLONES_H
#ifdef NMT_SINGLE_TARGET
#define CLONES
#else
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#pragma clang fp contract(off)

// Sixteen float lanes, whatever the instruction set (one zmm, two ymm or four xmm registers), and
// the halves the fixed reduction trees take. Unaligned loads and stores are plain dereferences of
// f16u through AT (no vector-typed helper functions, whose calling convention would differ
// between the clones).
typedef float f16x __attribute__((ext_vector_type(16)));
typedef float f8x __attribute__((ext_vector_type(8)));
typedef float f4x __attribute__((ext_vector_type(4)));
typedef float f2x __attribute__((ext_vector_type(2)));
typedef int i16x __attribute__((ext_vector_type(16)));
typedef float f16u __attribute__((ext_vector_type(16), aligned(4)));
#define AT(p) (*(f16u *)(p))

// float32 → bfloat16, nearest with ties to even, in integers (the same bits on every instruction
// set): the top 16 bits after adding 0x7FFF plus the lowest kept bit. A scalar function (vector
// arguments would change the calling convention between clones); sixteen lanes: BFLOAT16_BITS16.
static inline __attribute__((always_inline)) unsigned short bfloat16_bits(float x) {
    unsigned int v;
    __builtin_memcpy(&v, &x, 4);
    return (unsigned short)((v + 0x7FFFu + ((v >> 16) & 1u)) >> 16);
}
// bfloat16 → float32: exact (the upper half of a float32).
static inline __attribute__((always_inline)) float bfloat16_value(unsigned short b) {
    unsigned int v = (unsigned int)b << 16;
    float x;
    __builtin_memcpy(&x, &v, 4);
    return x;
}
typedef unsigned int u16x __attribute__((ext_vector_type(16)));
typedef unsigned short h16x __attribute__((ext_vector_type(16)));
typedef h16x h16u __attribute__((aligned(2)));
// A vector of lanes (unsigned-int vector type `wide`, unsigned-short vector type `narrow`).
#define BFLOAT16_BITS_OF(v, wide, narrow) __builtin_convertvector((((wide)(v)) + 0x7FFFu + ((((wide)(v)) >> 16) & 1u)) >> 16, narrow)
#define BFLOAT16_BITS16(v) BFLOAT16_BITS_OF(v, u16x, h16x)

// A 16×16 transpose of 32-bit lanes (lane j of v[i] becomes lane i of column j), in two steps
// so that a caller can use four columns at a time while the rest are still being made (fewer
// live registers): transpose16x16_begin interleaves 32-bit lanes, then 64-bit pairs, in place
// (after it, v[4g + c] holds in its 128-bit block L lane 4L + c of vectors 4g…4g+3);
// transpose16x16_columns then gathers columns c, 4 + c, 8 + c, 12 + c (out[0…3]) from 128-bit
// blocks. Pure data movement: any bits come through unchanged (floats are bit-cast to u16x).
static inline __attribute__((always_inline)) void transpose16x16_begin(u16x v[16]) {
    u16x t[16];
    _Pragma("clang loop unroll(full)")
    for (int k = 0; k < 8; k++) {
        t[2 * k] = __builtin_shufflevector(v[2 * k], v[2 * k + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
        t[2 * k + 1] = __builtin_shufflevector(v[2 * k], v[2 * k + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
    }
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < 4; g++) {
        v[4 * g] = __builtin_shufflevector(t[4 * g], t[4 * g + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        v[4 * g + 1] = __builtin_shufflevector(t[4 * g], t[4 * g + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
        v[4 * g + 2] = __builtin_shufflevector(t[4 * g + 1], t[4 * g + 3], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        v[4 * g + 3] = __builtin_shufflevector(t[4 * g + 1], t[4 * g + 3], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
}
static inline __attribute__((always_inline)) void transpose16x16_columns(const u16x v[16], int c, u16x out[4]) {
    u16x x0 = __builtin_shufflevector(v[c], v[4 + c], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    u16x x1 = __builtin_shufflevector(v[c], v[4 + c], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    u16x y0 = __builtin_shufflevector(v[8 + c], v[12 + c], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    u16x y1 = __builtin_shufflevector(v[8 + c], v[12 + c], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    out[0] = __builtin_shufflevector(x0, y0, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    out[1] = __builtin_shufflevector(x0, y0, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    out[2] = __builtin_shufflevector(x1, y1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    out[3] = __builtin_shufflevector(x1, y1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
#endif
