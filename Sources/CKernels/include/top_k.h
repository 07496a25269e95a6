// The largest entries of a row of logits (beam search's candidates).
#ifndef NMT_TOP_K_H
#define NMT_TOP_K_H

#include <stdint.h>

/// The `count` largest of x[first..<n], largest first, ties in index order, into ids/values;
/// returns how many (fewer than `count` only when the row is shorter).
long nmt_top_k(int32_t *ids, float *values, const float *x, long first, long n, long count);

#endif
