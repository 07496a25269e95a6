// oneDNN (Debian: libdnnl-dev): int8 products on CPUs without AVX512-VNNI, few-row float32 products, bf16 products of training.
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>

// oneDNN's OpenMP runtime (libgomp); its thread count is per calling thread.
void omp_set_num_threads(int);

// C[M, N] = (A[M, K] − ao) · B[N, K]ᵀ in int32, on the calling thread only: nmt's own workers
// split the rows, as `matmul` does for OpenBLAS, so oneDNN must not start a team of its own.
static inline int nmt_gemm_u8s8s32(int64_t m, int64_t n, int64_t k, const uint8_t *a, uint8_t ao,
                                   const int8_t *b, int32_t *c) {
    omp_set_num_threads(1);
    const int32_t co = 0;
    return (int)dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, k, ao, b, k, 0, 0.0f, c, n, &co);
}

// C[m, n] = alpha · op(A) · op(B) + beta · C in float32, row-major, on the calling thread only:
// the products of a few rows (decoding one sentence), where OpenBLAS can only pack all of B or run
// one sgemv per row, while oneDNN's kernels read B once for every row.
static inline int nmt_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    omp_set_num_threads(1);
    return (int)dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Whether the int8 products have VNNI (vpdpbusd: exact int32 sums). Without it oneDNN's kernels
// add pairs of u8·s8 products in saturating int16, so activations use 7 bits (see Int8Matmul).
static inline int nmt_int8_has_vnni(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni
        || (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
}

static inline int nmt_dnnl_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

// Whether oneDNN runs bfloat16 products natively here (AVX512-BF16's vdpbf16ps, or AMX).
static inline int nmt_dnnl_has_bf16(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

// Whether a bf16 weights layout of [k, n] is pairs of k within blocks "…{P}a{Y}b2a" — outer blocks
// of X = 2P rows by Y columns (at kStride and nStride elements apart), each Y columns of P row
// pairs ((k, n), (k + 1, n) in one 32-bit word, word (p, j) of a block at p·Y + j) — dense: the
// layout oneDNN's brgemm matmul reads B in for bf16 (the inner blocks of one dimension multiply:
// 16a…2a is a block of 32 rows). With padK, k may be padded to whole blocks (rows past k must then
// be zero). Gives X, Y and the strides.
static inline int nmt_dnnl_pairs_layout(const dnnl_memory_desc_t *md, int64_t k, int64_t n, int padK, int64_t *x, int64_t *y,
                                        int64_t *kStride, int64_t *nStride) {
    if (md->ndims != 2 || md->format_kind != dnnl_blocked || md->data_type != dnnl_bf16) return 0;
    if (md->dims[0] != k || md->dims[1] != n || md->padded_dims[1] != n || md->offset0 != 0) return 0;
    if (md->extra.flags != 0) return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks != 3 || b->inner_idxs[0] != 0 || b->inner_idxs[1] != 1 || b->inner_idxs[2] != 0 || b->inner_blks[2] != 2) return 0;
    *x = 2 * b->inner_blks[0];
    *y = b->inner_blks[1];
    if (n % *y != 0) return 0;
    int64_t paddedK = (k + *x - 1) / *x * *x;
    if ((!padK && paddedK != k) || md->padded_dims[0] != paddedK) return 0;
    *kStride = b->strides[0];
    *nStride = b->strides[1];
    return 1;
}
