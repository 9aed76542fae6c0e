/* The GEMM engine: the one matrix product the blas backend's scheduler calls, once per tile, from inside
 * its own OpenMP region. Chosen when blasnet is configured (-Dgemm_engine=openblas|dnnl): exactly one of
 * engine_openblas.c and engine_dnnl.c is compiled, so the choice costs no indirection per call.
 * Contract: where bn_engine_serial_in_region() holds, a call made inside an OpenMP parallel region runs on
 * the calling thread alone; outside a region it may use omp_get_max_threads() threads. */
#ifndef BN_ENGINE_H
#define BN_ENGINE_H

#include <stdbool.h>

/* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C, row-major; op(X) = X^T when its flag is set, and
 * the leading dimensions are those of the stored matrices. With beta == 0, C is not read (NaN in C stays
 * out of the result). */
void bn_engine_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc);

/* Whether a call made inside an OpenMP parallel region runs on the calling thread alone, so the scheduler
 * may tile: the OpenMP build of OpenBLAS (not the pthread one, which starts its pool from every thread);
 * oneDNN built with its OpenMP or sequential runtime. */
bool bn_engine_serial_in_region(void);

/* "openblas" or "dnnl", for the reports beside the BLAS configuration. */
const char *bn_engine_name(void);

#endif
