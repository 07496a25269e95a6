// Inverted dropout's forward pass over a range of elements (Tensor/Dropout.swift holds the math):
// element i is kept when its draw, splitmix64's finaliser of (stream + i·golden ratio) as a 24-bit
// fraction, is at least p; then y[i] = x[i]·scale and kept[i] = 1, else y[i] = 0 and kept[i] = 0.
// `first` is the index of x[0] within the mask (draws depend on the index, not on the split).
// Integer hashing and one product per element: the same bits on every instruction set; the Swift
// loop could not vectorize the 64-bit multiplies (3 % of a training step).
#ifndef NMT_DROPOUT_MASK_H
#define NMT_DROPOUT_MASK_H
#include <stdint.h>

void nmt_dropout_forward(float *y, const float *x, uint8_t *kept, long first, long count, uint64_t stream,
                         float p, float scale);

#endif
