/* Threads, the BLAS library's own description of itself, and which OpenBLAS kernel this CPU deserves. */
#include "platform.h"

#include "blasnet.h"
#include "engine.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One call sets both pools. With the OpenMP build of OpenBLAS they are one libgomp team anyway; with the
 * pthread build they are two, and giving each the same count keeps them from oversubscribing the cores
 * (they never run at the same time: BLAS is never called inside our parallel regions). */
void bn_set_threads(int n)
{
    if (n < 1)
        n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int bn_get_threads(void)
{
    return omp_get_max_threads();
}

int bn_default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if ((*end == '\0' || *end == ',') && v >= 1 && v <= 4096)
            return (int)v;
    }
    return omp_get_num_procs();
}

const char *bn_blas_config(void)
{
    return openblas_get_config();
}

const char *bn_gemm_engine_name(void)
{
    return bn_engine_name();
}

const char *bn_blas_corename(void)
{
    return openblas_get_corename();
}

int bn_blas_parallel(void)
{
    return openblas_get_parallel();
}

/* OpenBLAS 0.3.21's x86-64 sgemm kernels, oldest to newest; AMD Zen uses the Haswell (AVX2) kernels. */
static const char *const core_order[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge",
                                         "Zen", "Haswell", "SkylakeX", "Cooperlake", "SapphireRapids"};

int bn_blas_core_rank(const char *name)
{
    if (name && strcasecmp(name, "Zen") == 0) /* Zen runs the Haswell kernels: not older than them */
        name = "Haswell";
    for (size_t i = 0; i < sizeof core_order / sizeof core_order[0]; i++)
        if (name && strcasecmp(name, core_order[i]) == 0)
            return (int)i;
    return -1;
}

const char *bn_cpu_best_blas_core(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bf16"))
        return "Cooperlake";
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    if (__builtin_cpu_supports("avx"))
        return "Sandybridge";
    return "Nehalem";
}
