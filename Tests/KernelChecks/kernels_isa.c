// Prints a hash of every C kernel's results on random cases (vector and tail paths);
// scripts/check/kernels builds this once per instruction set and compares.
#include "gathered_attention.h"
#include "int8_rows.h"
#include "int8_packed.h"
#include "top_k.h"
#include "bfloat16_rows.h"
#include "dropout_mask.h"
#include "float_rows.h"
#include "relu_bfloat16.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static unsigned hash(const float *x, int n, unsigned h) { for (int i = 0; i < n; i++) { unsigned u; __builtin_memcpy(&u, &x[i], 4); h = h * 31 + u; } return h; }

/// The packed int8 products on 1…20 rows of a [37, 77] weight matrix (a block of sixteen outputs
/// and a tail, groups of four inputs and a tail; groups of eight rows and tails), sums and fused
/// scaling, by every packed kernel this CPU runs (the CPU, not the build, picks them): each must
/// equal the plain integer sums below (the exact arithmetic of oneDNN's gemm) and
/// nmt_dequantize_rows of them. Hashes the plain results; `verdict` says, per kernel, "ok",
/// "DIFFERS" or "not-run".
static unsigned packed_products(unsigned h, char *verdict) {
    enum { N = 37, K = 77, M = 20 };
    static int8_t w[N * K], packed[(N + 15) / 16 * ((K + 3) / 4) * 64];  // nmt_int8_packed_size(N, K)
    static uint8_t a[M * K];
    static int32_t column_sums[N], plain[M * N], c[M * N];
    static float factors[M], scales[N], bias[N], expected[M * N], y[M * N];
    for (int i = 0; i < N * K; i++) w[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < N; i++) { scales[i] = 1 + rand() % 500 / 3.0f; bias[i] = (rand() % 200 - 100) / 7.0f; }
    for (int r = 0; r < M; r++) factors[r] = (rand() % 1000 + 1) / 4096.0f;
    nmt_int8_pack(packed, column_sums, w, N, K);
    int available[2] = {nmt_int8_packed_available(), nmt_int8_packed_avx2_available()}, differs[2] = {0, 0};
    for (int range = 255; range >= 127; range -= 128) {  // 8-bit activations shifted by 128; 7-bit by 64 (AVX2's)
        int32_t shift = (range + 1) / 2;
        for (int i = 0; i < M * K; i++) a[i] = (uint8_t)(rand() % (range + 1));
        for (int m = 1; m <= M; m++) {
            for (int r = 0; r < m; r++)
                for (int o = 0; o < N; o++) {
                    int32_t s = 0;
                    for (int i = 0; i < K; i++) s += ((int32_t)a[r * K + i] - shift) * w[o * K + i];
                    plain[r * N + o] = s;
                }
            nmt_dequantize_rows(expected, plain, factors, scales, bias, m, N);
            for (int i = 0; i < m * N; i++) h = h * 31 + (unsigned)plain[i];
            h = hash(expected, m * N, h);
            for (int kernel = 0; kernel < 2; kernel++) {
                if (!available[kernel] || (kernel == 1 && range > 127)) continue;
                void (*product)(int32_t *, float *, const float *, const float *, const float *, const uint8_t *, long, long,
                                const int8_t *, const int32_t *, long, int32_t) = kernel == 0 ? nmt_int8_packed_product : nmt_int8_packed_product_avx2;
                product(c, NULL, NULL, NULL, NULL, a, m, K, packed, column_sums, N, shift);
                product(NULL, y, factors, scales, bias, a, m, K, packed, column_sums, N, shift);
                if (memcmp(c, plain, sizeof(int32_t) * m * N) != 0 || memcmp(y, expected, sizeof(float) * m * N) != 0) differs[kernel] = 1;
            }
        }
    }
    const char *name[2] = {"vnni", "avx2"};
    verdict[0] = 0;
    for (int kernel = 0; kernel < 2; kernel++)
        sprintf(verdict + strlen(verdict), "%s%s=%s", kernel ? "," : "", name[kernel], !available[kernel] ? "not-run" : differs[kernel] ? "DIFFERS" : "ok");
    return h;
}

int main(void) {
    unsigned h = 0;
    for (int d = 13; d <= 80; d += 17) {  // 13, 30, 47, 64 (the vector path), 81
        int heads = 3, c = heads * d, n = 37;
        float *q = malloc(4 * c), *kv = malloc(4 * (long)n * c), *s = malloc(4 * heads * n), *ctx = malloc(4 * c);
        int32_t idx[37];
        for (int i = 0; i < c; i++) q[i] = (rand() % 2001 - 1000) / 997.0f;
        for (int i = 0; i < n * c; i++) kv[i] = (rand() % 2001 - 1000) / 991.0f;
        for (int t = 0; t < n; t++) idx[t] = (t * 7) % n;
        nmt_gathered_scores(s, n, q, kv, idx, n, c, heads, d, 0.125f);
        nmt_gathered_weighted_values(ctx, s, n, kv, idx, n, c, heads, d);
        h = hash(ctx, c, hash(s, heads * n, h));
        // A contiguous block of keys (no index), fewer than the row holds.
        nmt_gathered_scores(s, n, q, kv, NULL, n - 5, c, heads, d, 0.125f);
        nmt_gathered_weighted_values(ctx, s, n, kv, NULL, n - 5, c, heads, d);
        h = hash(ctx, c, hash(s, heads * n, h));
    }
    // int8 rows: quantize 5 rows of 77 (ties included), scale 5×43 sums back.
    float x[5 * 77], factors[5], scales[43], bias[43], y[5 * 43];
    uint8_t qx[5 * 77];
    int32_t sums[5 * 43];
    for (int i = 0; i < 5 * 77; i++) x[i] = (rand() % 2001 - 1000) / 8.0f;
    for (int i = 0; i < 43; i++) { scales[i] = 1 + rand() % 500 / 3.0f; bias[i] = (rand() % 200 - 100) / 7.0f; }
    for (int i = 0; i < 5 * 43; i++) sums[i] = rand() % 2000001 - 1000000;
    nmt_quantize_rows(qx, factors, x, 5, 77, 127, 128);
    for (int i = 0; i < 5 * 77; i++) h = h * 31 + qx[i];
    h = hash(factors, 5, h);
    nmt_dequantize_rows(y, sums, factors, scales, bias, 5, 43);
    h = hash(y, 5 * 43, h);
    nmt_dequantize_rows(y, sums, factors, scales, 0, 5, 43);
    h = hash(y, 5 * 43, h);
    // top k over a row with ties, in every count.
    float row[1003];
    int32_t ids[10];
    float values[10];
    for (int i = 0; i < 1003; i++) row[i] = (float)(rand() % 40);
    for (int count = 1; count <= 10; count++) {
        long found = nmt_top_k(ids, values, row, 3, 1003, count);
        for (long i = 0; i < found; i++) h = h * 31 + (unsigned)ids[i];
    }
    // bfloat16 rounding, ties and all: 3 rows of 37 out of rows of 40.
    float wide[3 * 40];
    uint16_t narrow[3 * 37];
    for (int i = 0; i < 3 * 40; i++) { uint32_t b = (uint32_t)rand() * 2654435761u; memcpy(&wide[i], &b, 4); }
    nmt_round_to_bfloat16(narrow, wide, 3, 37, 40);
    for (int i = 0; i < 3 * 37; i++) h = h * 31 + narrow[i];
    // ... and summing columns: 3 rows of 150 (the 128-column step, a 16-column step, a tail).
    static float wider[3 * 150], columnSums[150];
    static uint16_t narrower[3 * 150];
    for (int i = 0; i < 3 * 150; i++) wider[i] = (rand() % 2001 - 1000) / 7.0f;
    for (int i = 0; i < 150; i++) columnSums[i] = i / 3.0f;
    nmt_round_to_bfloat16_summing_columns(narrower, columnSums, wider, 3, 150, 150);
    for (int i = 0; i < 3 * 150; i++) h = h * 31 + narrower[i];
    h = hash(columnSums, 150, h);
    nmt_column_sums(columnSums, wider, 3, 150, 150);
    h = hash(columnSums, 150, h);
    nmt_scale_shift_to_bfloat16(narrower, wider, 150, 0.37f, 0.01f, 149, 0.5f);  // the target in the tail
    nmt_scale_shift_to_bfloat16(narrower + 150, wider, 150, 1.5f, -0.2f, 3, 0.25f);
    for (int i = 0; i < 300; i++) h = h * 31 + narrower[i];
    // dropout of 1,003 values starting at element 77 of a mask (the vector body and its tail).
    float kept_in[1003], kept_out[1003];
    uint8_t kept[1003];
    for (int i = 0; i < 1003; i++) kept_in[i] = (rand() % 2001 - 1000) / 7.0f;
    nmt_dropout_forward(kept_out, kept_in, kept, 77, 1003, 0x123456789abcdefull, 0.1f, 1 / 0.9f);
    h = hash(kept_out, 1003, h);
    for (int i = 0; i < 1003; i++) h = h * 31 + kept[i];
    nmt_dropout_forward(kept_in, kept_in, kept, 5, 1003, 0xfedcba987654321ull, 0.3f, 1 / 0.7f);  // in place
    h = hash(kept_in, 1003, h);
    for (int i = 0; i < 1003; i++) h = h * 31 + kept[i];
    {   // dropout on a residual branch with the sum, out of place and in place (y = f)
        static float branch[1003], sum[1003];
        for (int i = 0; i < 1003; i++) branch[i] = (rand() % 2001 - 1000) / 3.0f;
        nmt_dropout_residual(sum, kept_in, branch, kept, 11, 1003, 0x2468ace013579bdfull, 0.1f, 1 / 0.9f);
        h = hash(sum, 1003, h);
        for (int i = 0; i < 1003; i++) h = h * 31 + kept[i];
        nmt_dropout_residual(branch, kept_in, branch, kept, 3, 1003, 0x13579bdf2468aceull, 0.3f, 1 / 0.7f);
        h = hash(branch, 1003, h);
        nmt_dropout_residual_backward(sum, branch, kept_in, kept, 1003, 1 / 0.7f);
        nmt_dropout_residual_backward(sum, kept_out, kept_in, 0, 1001, 1);
        h = hash(kept_out, 1003, hash(branch, 1003, hash(sum, 1003, h)));
    }
    nmt_dropout_apply(kept_out, kept_in, kept, 1003, 1 / 0.7f);
    nmt_dropout_apply(kept_in, kept_in, kept, 1001, 3.0f);
    h = hash(kept_in, 1003, hash(kept_out, 1003, h));
    // float rows: every primitive on rows of 1…40 (the vector body and its tails), values across exp's range.
    float a[40], b2[40], e[40], g[40], stats[2], lw[40], lb[40], ln[40];
    for (int i = 0; i < 40; i++) { a[i] = (rand() % 20001 - 10000) / 97.0f; b2[i] = (rand() % 2001 - 1000) / 313.0f;
                                   lw[i] = (rand() % 2001 - 1000) / 500.0f; lb[i] = (rand() % 2001 - 1000) / 900.0f; }
    a[3] = -200; a[17] = 95;  // below and above the clamps
    for (int n = 1; n <= 40; n++) {
        float r[7] = {nmt_row_sum(a, n), nmt_row_dot(a, b2, n), nmt_row_max(a, n), nmt_exp_shifted(e, a, n, 1.5f), nmt_exp_sum(a, n, -2.0f),
                      nmt_exp(a[n - 1]), 0};
        h = hash(e, n, hash(r, 7, h));
        memcpy(g, b2, sizeof g);
        nmt_scale_shift(g, n, 0.37f, 0.01f);
        nmt_softmax_backward_row(g, e, n);
        nmt_scale(g, n, 1.7f);
        h = hash(g, n, h);
        nmt_layer_norm_row(ln, &stats[0], &stats[1], a, lw, lb, n, 1e-5f);
        h = hash(stats, 2, hash(ln, n, h));
        uint16_t ln16[40];
        nmt_layer_norm_row_bf16(ln16, &stats[0], &stats[1], a, lw, lb, n, 1e-5f);
        for (int i = 0; i < n; i++) h = h * 31 + ln16[i];
    }
    float colsums[13] = {0}, dw[13] = {0}, db[13] = {0}, means[3] = {0.5f, -1, 2}, rstds[3] = {1, 0.5f, 3};
    nmt_column_sums(colsums, a, 3, 13, 13);
    nmt_layer_norm_parameter_gradients(dw, db, b2, a, means, rstds, 3, 13, 13);
    {   // 3 rows of 150: the 64-column step, a 16-column step and a tail.
        static float gradients[3 * 150], dw150[150], db150[150];
        for (int i = 0; i < 3 * 150; i++) gradients[i] = (rand() % 2001 - 1000) / 11.0f;
        nmt_layer_norm_parameter_gradients(dw150, db150, gradients, wider, means, rstds, 3, 150, 150);
        h = hash(db150, 150, hash(dw150, 150, h));
    }
    h = hash(db, 13, hash(dw, 13, hash(colsums, 13, h)));
    {   // Layer norm's backward pass: 37 rows of 150 (two blocks of sixteen rows and five, a
        // 16-column tail of 6), with a residual base and the parameter gradients, then added to dx.
        static float lx[37 * 150], ldy[37 * 150], lres[37 * 150], ldx[37 * 150], lw150[150], lmean[37], lrstd[37], ldw[150], ldb[150];
        for (int i = 0; i < 37 * 150; i++) {
            lx[i] = (rand() % 2001 - 1000) / 97.0f; ldy[i] = (rand() % 2001 - 1000) / 313.0f; lres[i] = (rand() % 2001 - 1000) / 71.0f;
        }
        for (int i = 0; i < 150; i++) lw150[i] = (rand() % 2001 - 1000) / 500.0f;
        for (int r = 0; r < 37; r++) { lmean[r] = (rand() % 2001 - 1000) / 300.0f; lrstd[r] = (rand() % 1000 + 1) / 250.0f; }
        nmt_layer_norm_backward_rows(ldx, lres, ldw, ldb, ldy, lx, lw150, lmean, lrstd, 37, 150);
        h = hash(ldb, 150, hash(ldw, 150, hash(ldx, 37 * 150, h)));
        nmt_layer_norm_backward_rows(ldx, ldx, NULL, NULL, ldy, lx, lw150, lmean, lrstd, 37, 150);
        h = hash(ldx, 37 * 150, h);
    }
    {   // The feed-forward ReLU in bf16: 1,003 values (signs mixed, a NaN, a -0) from element 77 of a
        // mask, with and without dropout; then its gradient over 3 rows of 150 gated by the result.
        static float u[3 * 150], da[3 * 150], sums[150];
        static uint16_t activated[3 * 150], du[3 * 150];
        static uint8_t mask[3 * 150];
        for (int i = 0; i < 3 * 150; i++) { u[i] = (rand() % 2001 - 1000) / 13.0f; da[i] = (rand() % 2001 - 1000) / 17.0f; }
        u[5] = __builtin_nanf(""); u[6] = -0.0f; u[7] = 0.0f;
        for (int i = 0; i < 150; i++) sums[i] = i / 5.0f;
        nmt_relu_dropout_to_bfloat16(activated, NULL, u, 0, 3 * 150, 0, 0, 1);
        for (int i = 0; i < 3 * 150; i++) h = h * 31 + activated[i];
        nmt_relu_dropout_to_bfloat16(activated, mask, u, 77, 3 * 150 - 3, 0x123456789abcdefull, 0.1f, 1 / 0.9f);
        for (int i = 0; i < 3 * 150; i++) h = h * 31 + activated[i] + 7u * mask[i];
        nmt_relu_gradient_to_bfloat16_summing_columns(du, sums, da, activated, 1 / 0.9f, 3, 150, 150);
        for (int i = 0; i < 3 * 150; i++) h = h * 31 + du[i];
        h = hash(sums, 150, h);
    }
    char verdict[64];
    h = packed_products(h, verdict);
    printf("%s %08x %s\n", nmt_gathered_attention_isa(), h, verdict);
    return 0;
}
