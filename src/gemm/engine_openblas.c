/* The default GEMM engine: cblas_sgemm. With the OpenMP build of OpenBLAS a call inside a parallel region
 * runs on the calling thread only; the pthread build would start its pool from every thread instead
 * (measured on 16 cores: 4 GFLOP/s against 640 for one threaded call), so it is not serial in a region. */
#include "engine.h"

#include <cblas.h>

void bn_engine_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

bool bn_engine_serial_in_region(void)
{
    return openblas_get_parallel() == 2; /* 0 serial, 1 pthreads, 2 OpenMP */
}

const char *bn_engine_name(void)
{
    return "openblas";
}
