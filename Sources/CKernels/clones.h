// Shared by the C kernels. Each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 (target_clones; the loader
// picks the best the CPU runs). NMT_SINGLE_TARGET builds one instruction set at a time, for
// scripts/check-kernels. Products are never fused with sums unless the code says so
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
#endif
