/* Threads, the BLAS library's own description of itself, and which OpenBLAS kernel this CPU deserves. */
#include "platform.h"

#include "blasnet.h"
#include "engine.h"

#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
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

#ifndef BN_NATIVE
#define BN_NATIVE 0
#endif

/* The CPU's brand, signature and feature words; "unknown CPU" where CPUID is not there. */
static void cpu_describe(char *buf, size_t size)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[12] = {0}, sig[4] = {0}, f7[4] = {0};
    unsigned top = __get_cpuid_max(0x80000000u, NULL);
    for (unsigned leaf = 0; leaf < 3 && top >= 0x80000004u; leaf++)
        __get_cpuid(0x80000002u + leaf, &r[4 * leaf], &r[4 * leaf + 1], &r[4 * leaf + 2], &r[4 * leaf + 3]);
    char brand[49];
    memcpy(brand, r, 48);
    brand[48] = '\0';
    for (char *p = brand; *p; p++) /* printable, on one line: the wisdom file is line by line */
        *p = *p < ' ' || *p > '~' ? ' ' : *p;
    const char *name = brand;
    while (*name == ' ')
        name++;
    for (size_t end = strlen(brand); end > 0 && brand[end - 1] == ' '; end--)
        brand[end - 1] = '\0';
    __get_cpuid(1, &sig[0], &sig[1], &sig[2], &sig[3]);
    __get_cpuid_count(7, 0, &f7[0], &f7[1], &f7[2], &f7[3]);
    unsigned family = (sig[0] >> 8 & 0xf) + (sig[0] >> 20 & 0xff), model = (sig[0] >> 4 & 0xf) | (sig[0] >> 12 & 0xf0);
    snprintf(buf, size, "%s; family %u model %u stepping %u; flags %08x.%08x.%08x.%08x.%08x", *name ? name : "CPU",
             family, model, sig[0] & 0xf, sig[2], sig[3], f7[1], f7[2], f7[3]);
#else
    snprintf(buf, size, "unknown CPU");
#endif
}

void bn_machine_describe(char *buf, size_t size)
{
    char cpu[160];
    cpu_describe(cpu, sizeof cpu);
    /* What tells two builds on one machine apart first, so no truncation can lose it. blasnet's version is
     * among them: its own kernels are half of what a step list's time measures (0.4.1's serial products
     * gained 4-8% on OpenBLAS's threading, which can move the choice), so a new version measures again. */
    snprintf(buf, size, "blasnet %s; engine %s; native %d; kernel %s; %s; %s", BLASNET_VERSION, bn_engine_name(),
             BN_NATIVE, bn_blas_corename(), cpu, bn_blas_config());
}
