/* The default GEMM engine: cblas_sgemm. With the OpenMP build of OpenBLAS a call inside a parallel region
 * runs on the calling thread only; the pthread build would start its pool from every thread instead
 * (measured on 16 cores: 4 GFLOP/s against 640 for one threaded call), so it is not serial in a region. */
#include "engine.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* Whether a serial beta-0 call may zero C itself and ask OpenBLAS for beta 1. OpenBLAS 0.3.21 zeroes C of a
 * beta-0 call in a scalar loop (its "beta pass": sgemm_beta_ZEN took 7.6% of a default `blasnet train` on a
 * Zen 3, perf, the products' own kernel 60%), then runs the kernel that adds the product to C, as a beta-1
 * call does: memset's +0.0f gives the same bits, faster. Its two paths for small products have beta-0
 * variants of their own and are left to it: the small-matrix kernels (M N K <= 100^3) and the AVX-512 direct
 * kernel (no transposes, M N K < 28 * 512 * 512). A threaded call (outside a region) keeps OpenBLAS's own
 * pass, which its threads share: the `library` plan stays OpenBLAS's threading, untouched. */
static bool zero_c_first(bool ta, bool tb, int M, int N, int K, float beta)
{
    double mnk = (double)M * N * K;
    if (beta != 0.0f || mnk <= 1e6 || (!ta && !tb && mnk < 28.0 * 512 * 512))
        return false;
    return omp_in_parallel() || omp_get_max_threads() == 1;
}

void bn_engine_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc)
{
    if (zero_c_first(ta, tb, M, N, K, beta)) {
        for (int i = 0; i < M; i++)
            memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        beta = 1.0f;
    }
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
