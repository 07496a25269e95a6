// See top_k.h. One pass keeping a sorted list; once the list is full, sixteen entries at a time
// are skipped when none exceeds its smallest value (nearly all of a vocabulary-sized row), which
// is what made this worth C.

#include "top_k.h"
#include "clones.h"

static inline __attribute__((always_inline)) void offer(int32_t *ids, float *values, long *size, long count, float value, long j) {
    if (*size == count && value <= values[count - 1]) return;
    long position = *size;
    while (position > 0 && values[position - 1] < value) position--;
    long last = *size < count ? *size : count - 1;
    for (long t = last; t > position; t--) { values[t] = values[t - 1]; ids[t] = ids[t - 1]; }
    if (position < count) { values[position] = value; ids[position] = (int32_t)j; }
    if (*size < count) (*size)++;
}

CLONES
long nmt_top_k(int32_t *ids, float *values, const float *x, long first, long n, long count) {
    long size = 0, j = first;
    if (count <= 0) return 0;
    while (j < n) {
        long end = j + 16 <= n ? j + 16 : n;
        if (size == count && end - j == 16) {
            i16x below = AT(x + j) <= (f16x)values[count - 1];
            if (__builtin_reduce_and(below) != 0) { j = end; continue; }  // every lane ≤ the smallest kept
        }
        for (; j < end; j++) offer(ids, values, &size, count, x[j], j);
    }
    return size;
}
