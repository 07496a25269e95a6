// See float_rows.h. Every operation is the Swift code's, in its order: mul and add unfused,
// sixteen-lane accumulators reduced lane 0 first, tails element by element.

#include "float_rows.h"
#include "clones.h"
#include "column_sums.h"

// Lane sum in Swift's SIMD.sum() order: −0 + lane 0 + lane 1 + … + lane 15.
#define LANE_SUM(acc, out) do { float s_ = -0.0f; for (int l_ = 0; l_ < 16; l_++) s_ += (acc)[l_]; (out) = s_; } while (0)

// nmt_exp for sixteen lanes (see float_rows.h), as a macro: a function taking vectors would have a
// different calling convention in each clone.
#define EXP16(out, input) do {                                                 \
    f16x in_ = (input), x_ = in_;                                              \
    x_ = x_ < -87.3f ? (f16x)-87.3f : x_;                                      \
    x_ = x_ > 88.3f ? (f16x)88.3f : x_;                                        \
    const f16x magic_ = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */ \
    f16x shifted_ = x_ * 1.442695041f + magic_;                                \
    f16x n_ = shifted_ - magic_;                                               \
    f16x r_ = (x_ - n_ * 0.693359375f) - n_ * -2.12194440e-4f; /* ln2, high and low */ \
    f16x p_ = r_ * (1.0f / 5040) + (1.0f / 720);                               \
    p_ = p_ * r_ + (1.0f / 120);                                               \
    p_ = p_ * r_ + (1.0f / 24);                                                \
    p_ = p_ * r_ + (1.0f / 6);                                                 \
    p_ = p_ * r_ + 0.5f;                                                       \
    p_ = p_ * r_ + 1;                                                          \
    p_ = p_ * r_ + 1;                                                          \
    i16x integer_ = (i16x)shifted_ - (i16x)magic_;                             \
    f16x result_ = p_ * (f16x)((integer_ + 127) << 23);                        \
    (out) = in_ < -87.3f ? (f16x)0.0f : result_;                               \
} while (0)

CLONES
float nmt_exp(float x) {
    f16x e;
    EXP16(e, (f16x)x);
    return e[0];
}

CLONES
float nmt_row_sum(const float *x, long n) {
    f16x acc = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) acc += AT(x + i);
    float s;
    LANE_SUM(acc, s);
    for (; i < n; i++) s += x[i];
    return s;
}

CLONES
float nmt_row_dot(const float *x, const float *y, long n) {
    f16x acc = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) acc += AT(x + i) * AT(y + i);
    float s;
    LANE_SUM(acc, s);
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

CLONES
float nmt_row_max(const float *x, long n) {
    long i = 0;
    float m = -__builtin_inff();
    if (n >= 16) {
        f16x acc = AT(x);
        for (i = 16; i + 16 <= n; i += 16) {
            f16x v = AT(x + i);
            acc = acc < v ? v : acc;
        }
        // Swift's SIMD max(): lane by lane, keeping the later of equals.
        m = acc[0];
        for (int l = 1; l < 16; l++) m = acc[l] >= m ? acc[l] : m;
    }
    for (; i < n; i++) m = x[i] >= m ? x[i] : m;
    return m;
}

CLONES
float nmt_exp_shifted(float *y, const float *x, long n, float shift) {
    f16x acc = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        f16x e;
        EXP16(e, AT(x + i) - shift);
        AT(y + i) = e;
        acc += e;
    }
    float total;
    LANE_SUM(acc, total);
    if (i < n) {
        f16x v = -__builtin_inff();
        for (long j = 0; j < n - i; j++) v[j] = x[i + j];
        f16x e;
        EXP16(e, v - shift);
        for (long j = 0; j < n - i; j++) { y[i + j] = e[j]; total += e[j]; }
    }
    return total;
}

CLONES
float nmt_exp_sum(const float *x, long n, float shift) {
    f16x acc = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        f16x e;
        EXP16(e, AT(x + i) - shift);
        acc += e;
    }
    float total;
    LANE_SUM(acc, total);
    for (; i < n; i++) {
        f16x e;
        EXP16(e, (f16x)(x[i] - shift));
        total += e[0];
    }
    return total;
}

CLONES
void nmt_scale_shift(float *y, long n, float scale, float offset) {
    for (long i = 0; i < n; i++) y[i] = y[i] * scale - offset;
}

CLONES
void nmt_scale(float *y, long n, float scale) {
    for (long i = 0; i < n; i++) y[i] *= scale;
}

CLONES
void nmt_softmax_backward_row(float *d, const float *p, long n) {
    float inner = nmt_row_dot(d, p, n);
    for (long j = 0; j < n; j++) d[j] = p[j] * (d[j] - inner);
}

CLONES
void nmt_column_sums(float *out, const float *m, long rows, long columns, long ld) {
    column_sums_rounding(NULL, out, m, NULL, NULL, 1.0f, rows, columns, ld);
}

// μ and rstd = 1/√(var + eps) of a row, variance summed in lanes like nmt_row_sum.
static inline __attribute__((always_inline)) void row_moments(const float *x, long c, float eps, float *mean, float *rstd) {
    float mu = nmt_row_sum(x, c) / (float)c;
    f16x acc = 0;
    long i = 0;
    for (; i + 16 <= c; i += 16) { f16x d = AT(x + i) - mu; acc += d * d; }
    float variance;
    LANE_SUM(acc, variance);
    for (; i < c; i++) { float d = x[i] - mu; variance += d * d; }
    variance /= (float)c;
    *mean = mu;
    *rstd = 1 / __builtin_sqrtf(variance + eps);
}

CLONES
void nmt_layer_norm_row(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, long c, float eps) {
    float mu, s;
    row_moments(x, c, eps, &mu, &s);
    for (long j = 0; j < c; j++) y[j] = (x[j] - mu) * s * w[j] + b[j];
    *mean = mu;
    *rstd = s;
}

CLONES
void nmt_layer_norm_row_bf16(uint16_t *y, float *mean, float *rstd, const float *x, const float *w, const float *b, long c, float eps) {
    float mu, s;
    row_moments(x, c, eps, &mu, &s);
    for (long j = 0; j < c; j++) y[j] = bfloat16_bits((x[j] - mu) * s * w[j] + b[j]);
    *mean = mu;
    *rstd = s;
}

// Sixteen rows (rows past `count` read as zeros) by the sixteen columns at m, transposed: lane r
// of out[j] is m[r·ld + j].
static inline __attribute__((always_inline)) void transpose16(f16x out[16], const float *m, long ld, long count) {
    u16x v[16];
    _Pragma("clang loop unroll(full)")
    for (long i = 0; i < 16; i++) v[i] = i < count ? (u16x)AT(m + i * ld) : (u16x)0;
    transpose16x16_begin(v);
    _Pragma("clang loop unroll(full)")
    for (int c = 0; c < 4; c++) {
        u16x columns[4];
        transpose16x16_columns(v, c, columns);
        for (int l = 0; l < 4; l++) out[4 * l + c] = (f16x)columns[l];
    }
}

CLONES
void nmt_layer_norm_backward_rows(float *dx, const float *base, float *dw, float *db, const float *dy, const float *x, const float *w,
                                  const float *mean, const float *rstd, long rows, long c) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        long count = rows - r0 < 16 ? rows - r0 : 16;
        // Lane l: row r0 + l's μ, rstd and its two serial sums, Σ g and Σ g·x̂ (column order).
        f16x mu = 0, s = 1, gSum = 0, gxSum = 0;
        for (long l = 0; l < count; l++) { mu[l] = mean[r0 + l]; s[l] = rstd[r0 + l]; }
        const float *dyBlock = dy + r0 * c, *xBlock = x + r0 * c;
        long j = 0;
        for (; j + 16 <= c; j += 16) {
            f16x g[16], xs[16];
            transpose16(g, dyBlock + j, c, count);
            transpose16(xs, xBlock + j, c, count);
            for (long k = 0; k < 16; k++) {
                f16x gk = g[k] * w[j + k];
                gSum += gk;
                gxSum += gk * (xs[k] - mu) * s;
            }
        }
        for (; j < c; j++) {
            f16x gk = 0, xk = 0;
            for (long l = 0; l < count; l++) { gk[l] = dyBlock[l * c + j]; xk[l] = xBlock[l * c + j]; }
            gk = gk * w[j];
            gSum += gk;
            gxSum += gk * (xk - mu) * s;
        }
        f16x gMean = gSum / (float)c, gxMean = gxSum / (float)c;
        for (long l = 0; l < count; l++) {
            long r = r0 + l;
            const float *xr = x + r * c, *dyr = dy + r * c, *br = base + r * c;
            float *dxr = dx + r * c;
            float m = mu[l], sr = s[l], gm = gMean[l], gxm = gxMean[l];
            long i = 0;
            for (; i + 16 <= c; i += 16) {
                f16x xhat = (AT(xr + i) - m) * sr;
                AT(dxr + i) = AT(br + i) + sr * (AT(dyr + i) * AT(w + i) - gm - xhat * gxm);
            }
            for (; i < c; i++) {
                float xhat = (xr[i] - m) * sr;
                dxr[i] = br[i] + sr * (dyr[i] * w[i] - gm - xhat * gxm);
            }
            if (!dw) continue;
            for (i = 0; i + 16 <= c; i += 16) {
                f16x g = AT(dyr + i);
                AT(dw + i) = AT(dw + i) + g * (AT(xr + i) - m) * sr;
                AT(db + i) = AT(db + i) + g;
            }
            for (; i < c; i++) {
                dw[i] += dyr[i] * (xr[i] - m) * sr;
                db[i] += dyr[i];
            }
        }
    }
}

CLONES
void nmt_layer_norm_parameter_gradients(float *dw, float *db, const float *dy, const float *x, const float *mean, const float *rstd,
                                        long rows, long columns, long c) {
    if (columns == c) {
        // Whole rows (one worker): row by row, as column_sums.h sums them (dw and db stay in cache).
        for (long r = 0; r < rows; r++) {
            const float *xr = x + r * c, *dyr = dy + r * c;
            float mu = mean[r], s = rstd[r];
            long j = 0;
            for (; j + 16 <= columns; j += 16) {
                f16x g = AT(dyr + j);
                AT(dw + j) = AT(dw + j) + g * (AT(xr + j) - mu) * s;
                AT(db + j) = AT(db + j) + g;
            }
            for (; j < columns; j++) {
                float g = dyr[j];
                dw[j] += g * (xr[j] - mu) * s;
                db[j] += g;
            }
        }
        return;
    }
    long j = 0;
    // A worker's block of columns: 64 at a time, both gradients held in registers across the rows; then 16 at a time.
    for (; j + 64 <= columns; j += 64) {
        f16x w0 = AT(dw + j), w1 = AT(dw + j + 16), w2 = AT(dw + j + 32), w3 = AT(dw + j + 48);
        f16x b0 = AT(db + j), b1 = AT(db + j + 16), b2 = AT(db + j + 32), b3 = AT(db + j + 48);
        for (long r = 0; r < rows; r++) {
            const float *xr = x + r * c + j, *dyr = dy + r * c + j;
            float mu = mean[r], s = rstd[r];
            f16x g0 = AT(dyr), g1 = AT(dyr + 16), g2 = AT(dyr + 32), g3 = AT(dyr + 48);
            w0 += g0 * (AT(xr) - mu) * s;
            w1 += g1 * (AT(xr + 16) - mu) * s;
            w2 += g2 * (AT(xr + 32) - mu) * s;
            w3 += g3 * (AT(xr + 48) - mu) * s;
            b0 += g0; b1 += g1; b2 += g2; b3 += g3;
        }
        AT(dw + j) = w0; AT(dw + j + 16) = w1; AT(dw + j + 32) = w2; AT(dw + j + 48) = w3;
        AT(db + j) = b0; AT(db + j + 16) = b1; AT(db + j + 32) = b2; AT(db + j + 48) = b3;
    }
    for (; j + 16 <= columns; j += 16) {
        f16x w0 = AT(dw + j), b0 = AT(db + j);
        for (long r = 0; r < rows; r++) {
            f16x g0 = AT(dy + r * c + j);
            w0 += g0 * (AT(x + r * c + j) - mean[r]) * rstd[r];
            b0 += g0;
        }
        AT(dw + j) = w0;
        AT(db + j) = b0;
    }
    for (; j < columns; j++) {
        float w0 = dw[j], b0 = db[j];
        for (long r = 0; r < rows; r++) {
            float g = dy[r * c + j];
            w0 += g * (x[r * c + j] - mean[r]) * rstd[r];
            b0 += g;
        }
        dw[j] = w0;
        db[j] = b0;
    }
}
