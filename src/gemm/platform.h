/* Facts of the platform that only the CLI's diagnostics and the benchmark need (platform.c); the thread
 * counts and the engine's name are public (blasnet.h). */
#ifndef BN_GEMM_PLATFORM_H
#define BN_GEMM_PLATFORM_H

#include <stddef.h>

const char *bn_blas_config(void);
const char *bn_blas_corename(void);
int bn_blas_parallel(void); /* 0 serial, 1 pthreads, 2 OpenMP */
/* The best OpenBLAS 0.3.21 core for this CPU ("Cooperlake", "SkylakeX", "Haswell", ...). */
const char *bn_cpu_best_blas_core(void);
/* A core name's place from the oldest kernels to the newest (compare two ranks; Zen ranks as Haswell, whose
 * kernels it runs); -1 for a name it does not know. */
int bn_blas_core_rank(const char *name);

/* The machine as plans depend on it, in one line: CPU brand, family, model and stepping, its feature words
 * (CPUID leaves 1 and 7), OpenBLAS's build and kernel, the GEMM engine, blasnet's version, and whether it
 * was built with -march=native. Wisdom keys its entries by it (wisdom.h). */
void bn_machine_describe(char *buf, size_t size);

#endif
