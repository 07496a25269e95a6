// Each kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64 (target_clones; the loader
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
#endif
