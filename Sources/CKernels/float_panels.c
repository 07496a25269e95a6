// See float_panels.h. Three copies of one product, each compiled for an instruction set with the
// tile that fills its registers (AVX-512: up to 6 rows × 4 panels in 24 of 32 zmm; AVX2: each
// sixteen-lane vector is two ymm, 6 rows × 1 panel in 12 of 16; baseline: 4 × 1). The tile decides
// only which outputs are computed together, never an output's arithmetic: acc = fma(x[r, i],
// w[i, o], acc) for i = 0 … k−1 from 0, then + bias, then ReLU — so all copies give the same bits.

#include "float_panels.h"
#include <math.h>
#include <stdlib.h>
#include "clones.h"

long nmt_panels_size(long n, long k) { return (n + 15) / 16 * 16 * k; }

void nmt_pack_panels(float *packed, const float *w, long n, long k) {
    for (long p = 0; p < (n + 15) / 16; p++) {
        float *panel = packed + p * k * 16;
        for (long l = 0; l < 16; l++) {
            long o = p * 16 + l;
            for (long i = 0; i < k; i++) panel[i * 16 + l] = o < n ? w[o * k + i] : 0.0f;
        }
    }
}

typedef float f16a __attribute__((ext_vector_type(16), aligned(64)));

// One tile: rows r < R of x (from `x`) times panels q < P (from `w`, `panel` floats apart), written
// to y's columns from `column` (of n). A macro so that each instruction set's copy keeps the
// accumulators in its own registers (a function taking vectors would differ between the copies).
#define TILE(R, P) do {                                                                               \
    f16x acc_[R][P];                                                                                  \
    _Pragma("clang loop unroll(full)") for (int r_ = 0; r_ < R; r_++)                                 \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < P; q_++) acc_[r_][q_] = 0;            \
    for (long i_ = 0; i_ < k; i_++) {                                                                 \
        f16x w_[P];                                                                                   \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < P; q_++)                             \
            w_[q_] = *(const f16a *)(w + q_ * panel + i_ * 16);                                       \
        _Pragma("clang loop unroll(full)") for (int r_ = 0; r_ < R; r_++) {                           \
            f16x x_ = x[r_ * ldx + i_];                                                               \
            _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < P; q_++)                         \
                acc_[r_][q_] = __builtin_elementwise_fma(x_, w_[q_], acc_[r_][q_]);                   \
        }                                                                                             \
    }                                                                                                 \
    _Pragma("clang loop unroll(full)") for (int r_ = 0; r_ < R; r_++)                                 \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < P; q_++) {                           \
            long o_ = column + q_ * 16;                                                               \
            f16x v_ = acc_[r_][q_];                                                                   \
            float *out_ = y + r_ * ldy + o_;                                                          \
            if (o_ + 16 <= n) {                                                                       \
                if (bias) v_ = v_ + AT(bias + o_);                                                    \
                if (relu) v_ = v_ < 0 ? (f16x)0.0f : v_;                                              \
                AT(out_) = v_;                                                                        \
            } else {                                                                                  \
                for (long l_ = 0; l_ < 16 && o_ + l_ < n; l_++) {                                     \
                    float e_ = v_[l_];                                                                \
                    if (bias) e_ = e_ + bias[o_ + l_];                                                \
                    if (relu) e_ = e_ < 0 ? 0.0f : e_;                                                \
                    out_[l_] = e_;                                                                    \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
} while (0)

// Rows are taken in blocks that stay in the L2 cache while every panel group passes over them.
#define ROW_BLOCK 48

#define TILES(G) switch (rows) {                                                                      \
    case 1: TILE(1, G); break; case 2: TILE(2, G); break; case 3: TILE(3, G); break;                  \
    case 4: TILE(4, G); break; case 5: TILE(5, G); break; default: TILE(6, G); break; }

// One copy of the product: tiles of up to ROWS rows × GROUP panels (SMALL_GROUP panels when a
// block has at most two rows: more independent sums to hide the fma latency); the panels left
// over after the last whole group go one at a time.
#define PRODUCT(NAME, TARGET, ROWS, GROUP, SMALL_GROUP)                                               \
__attribute__((target(TARGET), min_vector_width(512))) static void NAME(float *y0, long ldy, const float *x0, long ldx, long m, const float *packed, \
                                                  long n, long k, const float *bias, int relu, long panel_begin, long panel_end) { \
    long panel = k * 16;                                                                              \
    for (long r0 = 0; r0 < m; r0 += ROW_BLOCK) {                                                      \
        long r_end = r0 + ROW_BLOCK < m ? r0 + ROW_BLOCK : m;                                         \
        long group = r_end - r0 <= 2 ? SMALL_GROUP : GROUP;                                           \
        for (long p = panel_begin; p < panel_end;) {                                                  \
            long g = panel_end - p >= group ? group : 1;                                              \
            const float *w = packed + p * panel;                                                      \
            long column = p * 16;                                                                     \
            for (long r = r0; r < r_end; r += ROWS) {                                                 \
                long rows = r_end - r < ROWS ? r_end - r : ROWS;                                      \
                const float *x = x0 + r * ldx;                                                        \
                float *y = y0 + r * ldy;                                                              \
                if (g == 4) { TILES(4) } else if (g == 2) { TILES(2) } else { TILES(1) }              \
            }                                                                                         \
            p += g;                                                                                   \
        }                                                                                             \
    }                                                                                                 \
}

PRODUCT(product_avx512, "arch=x86-64-v4", 6, 4, 4)
PRODUCT(product_avx2, "arch=x86-64-v3", 6, 1, 2)
PRODUCT(product_baseline, "arch=x86-64", 4, 1, 1)

typedef void (*product_function)(float *, long, const float *, long, long, const float *, long, long, const float *, int, long, long);

static int isa_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 2;
    if (__builtin_cpu_supports("x86-64-v3")) return 1;
    return 0;
}

static product_function product_for(int level) {
    return level >= 2 ? product_avx512 : level == 1 ? product_avx2 : product_baseline;
}

void nmt_panel_product(float *y, long ldy, const float *x, long ldx, long m, const float *packed, long n, long k,
                       const float *bias, int relu, long panel_begin, long panel_end) {
    static product_function chosen = 0;
    if (!chosen) chosen = product_for(isa_level());
    chosen(y, ldy, x, ldx, m, packed, n, k, bias, relu, panel_begin, panel_end);
}

int nmt_panel_product_level(void) { return isa_level(); }

void nmt_panel_product_on(int level, float *y, long ldy, const float *x, long ldx, long m, const float *packed, long n, long k,
                          const float *bias, int relu, long panel_begin, long panel_end) {
    if (level > isa_level()) abort();
    product_for(level)(y, ldy, x, ldx, m, packed, n, k, bias, relu, panel_begin, panel_end);
}
