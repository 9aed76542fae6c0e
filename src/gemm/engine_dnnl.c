/* The oneDNN GEMM engine (-Dgemm_engine=dnnl): dnnl_sgemm, row-major with 'N'/'T' flags like ours. Built
 * with oneDNN's OpenMP runtime (Debian's is), a call inside a parallel region gets one thread, and one
 * outside a region takes omp_get_max_threads(). libdnnl exports no cblas_* symbols, so OpenBLAS stays
 * linked beside it without one library's symbols silently replacing the other's. Why offer it: on a 2-core
 * AVX-512 Xeon the step's products ran 1.1-2.4x faster than OpenBLAS's Cooperlake kernels, 5-6x faster
 * than the Prescott ones OpenBLAS 0.3.21 falls back to there (bench/blasnet-engines-dnnl --batch B). */
#include "engine.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <oneapi/dnnl/dnnl.h>

void bn_engine_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc)
{
    /* Signals wait until the call returns: with SIGTERM arriving during calls (the resume suite's stop
     * test), oneDNN 2.6.3 corrupted its heap in 3 of 60 runs ("corrupted size vs. prev_size" in its own
     * free, single-threaded); with them blocked, 0 of 140. Two system calls per tile, under a microsecond. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    dnnl_status_t status = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* It fails on arguments out of range, which the network's own shapes never are, and on out of memory:
     * unlike a serial cblas_sgemm it mallocs its packing buffers in every call (bench/blasnet-engines
     * --allocs: one 74 KB to 1.2 MB block per serial call on 784-1024-1024-10). The void contract cannot
     * report that; if this engine becomes a default, bn_engine_sgemm should return a status. */
    assert(status == dnnl_success);
    (void)status;
}

bool bn_engine_serial_in_region(void)
{
    /* oneDNN allows no nested parallelism: inside a parallel region its OpenMP runtime uses one thread. */
    return DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP || DNNL_CPU_RUNTIME == DNNL_RUNTIME_SEQ;
}

const char *bn_engine_name(void)
{
    return "dnnl";
}
