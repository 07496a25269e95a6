// See dropout_mask.h.

#include "dropout_mask.h"
#include "clones.h"

CLONES
void nmt_dropout_forward(float *y, const float *x, uint8_t *kept, long first, long count, uint64_t stream,
                         float p, float scale) {
    for (long j = 0; j < count; j++) {
        uint64_t z = stream + (uint64_t)(first + j) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float draw = (float)(uint32_t)(z >> 40) * (1.0f / 16777216.0f);
        int keep = draw >= p;
        kept[j] = (uint8_t)keep;
        y[j] = keep ? x[j] * scale : 0.0f;
    }
}
