// See bfloat16_rows.h. A plain integer loop the compiler vectorizes per instruction set (the
// Swift loop, built for baseline x86-64, packed 32 → 16 bits one value at a time).

#include "bfloat16_rows.h"
#include "clones.h"
#include <string.h>

CLONES
void nmt_round_to_bfloat16(uint16_t *out, const float *x, long rows, long columns, long ld) {
    for (long r = 0; r < rows; r++) {
        const float *source = x + r * ld;
        uint16_t *target = out + r * columns;
        for (long j = 0; j < columns; j++) {
            uint32_t v;
            memcpy(&v, source + j, 4);
            target[j] = (uint16_t)((v + 0x7FFFu + ((v >> 16) & 1u)) >> 16);
        }
    }
}
