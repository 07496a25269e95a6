// The C kernels, as Swift imports them (module CKernels).
#include "gathered_attention.h"
#include "int8_rows.h"
#include "int8_packed.h"
#include "top_k.h"
#include "bfloat16_rows.h"
#include "dropout_mask.h"
#include "float_rows.h"
#include "relu_bfloat16.h"
