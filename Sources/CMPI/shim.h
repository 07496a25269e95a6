// Open MPI for Swift: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and friends are macros (pointers to
// library globals in Open MPI) that Swift cannot import, so each collective nmt uses is wrapped
// in a small inline function over them. Every function returns an MPI error code (MPI_SUCCESS = 0):
// the world communicator is switched to MPI_ERRORS_RETURN so a failure reaches Swift instead of
// aborting inside the library.
#include <mpi.h>
#include <stdint.h>

/// MPI_Init_thread with MPI_THREAD_FUNNELED: nmt's worker threads compute, only the main thread communicates.
static inline int nmt_mpi_init(void) {
    int provided = 0;
    int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (status != MPI_SUCCESS) return status;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

static inline int nmt_mpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
static inline int nmt_mpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

/// How many ranks share this rank's machine (MPI-3 shared-memory split), to divide its cores.
static inline int nmt_mpi_local_size(int *size) {
    MPI_Comm local;
    int status = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    if (status != MPI_SUCCESS) return status;
    status = MPI_Comm_size(local, size);
    MPI_Comm_free(&local);
    return status;
}

/// data[i] = Σ over ranks of data[i], in place; counts beyond INT_MAX are sent in pieces.
static inline int nmt_mpi_sum_floats(float *data, int64_t count) {
    const int64_t piece = 1 << 30;
    for (int64_t start = 0; start < count; start += piece) {
        int n = (int)(count - start < piece ? count - start : piece);
        int status = MPI_Allreduce(MPI_IN_PLACE, data + start, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (status != MPI_SUCCESS) return status;
    }
    return MPI_SUCCESS;
}

static inline int nmt_mpi_sum_doubles(double *data, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static inline int nmt_mpi_max_int64(int64_t *data, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
}

static inline int nmt_mpi_broadcast(void *data, int64_t bytes, int root) {
    const int64_t piece = 1 << 30;
    for (int64_t start = 0; start < bytes; start += piece) {
        int n = (int)(bytes - start < piece ? bytes - start : piece);
        int status = MPI_Bcast((char *)data + start, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (status != MPI_SUCCESS) return status;
    }
    return MPI_SUCCESS;
}

static inline int nmt_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline void nmt_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static inline int nmt_mpi_finalize(void) { return MPI_Finalize(); }

/// The text of an MPI error code.
static inline void nmt_mpi_error_string(int code, char *text, int capacity) {
    int length = 0;
    if (capacity < MPI_MAX_ERROR_STRING) { text[0] = 0; return; }
    MPI_Error_string(code, text, &length);
    text[length] = 0;
}
static inline int nmt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
