// Prints a hash of the scores and weighted values of random cases (vector and tail paths);
// scripts/check-gathered-attention builds this once per instruction set and compares.
#include "gathered_attention.h"
#include <stdio.h>
#include <stdlib.h>
static unsigned hash(const float *x, int n, unsigned h) { for (int i = 0; i < n; i++) { unsigned u; __builtin_memcpy(&u, &x[i], 4); h = h * 31 + u; } return h; }
int main(void) {
    unsigned h = 0;
    for (int d = 13; d <= 80; d += 17) {  // 13, 30, 47, 64 (the vector path), 81
        int heads = 3, c = heads * d, n = 37;
        float *q = malloc(4 * c), *kv = malloc(4 * (long)n * c), *s = malloc(4 * heads * n), *ctx = malloc(4 * c);
        int32_t idx[37];
        for (int i = 0; i < c; i++) q[i] = (rand() % 2001 - 1000) / 997.0f;
        for (int i = 0; i < n * c; i++) kv[i] = (rand() % 2001 - 1000) / 991.0f;
        for (int t = 0; t < n; t++) idx[t] = (t * 7) % n;
        nmt_gathered_scores(s, q, kv, idx, n, c, heads, d, 0.125f);
        nmt_gathered_weighted_values(ctx, s, kv, idx, n, c, heads, d);
        h = hash(ctx, c, hash(s, heads * n, h));
    }
    printf("%s %08x\n", nmt_gathered_attention_isa(), h);
    return 0;
}
