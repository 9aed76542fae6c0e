/* blasnet info: what the speed of a run depends on, in one screen. */
#include "cli.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_cpu(void)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[1024];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(model, sizeof model, "%s", colon + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    printf("cpu:              %s, %d logical cores\n", model, omp_get_num_procs());
    static const char *const features[] = {"sse4.2",   "avx",      "avx2",     "fma",        "avx512f",
                                           "avx512dq", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16"};
    printf("vector extensions:");
    __builtin_cpu_init();
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        int has = 0;
        /* __builtin_cpu_supports needs a literal, hence the chain. */
        switch (i) {
        case 0: has = __builtin_cpu_supports("sse4.2"); break;
        case 1: has = __builtin_cpu_supports("avx"); break;
        case 2: has = __builtin_cpu_supports("avx2"); break;
        case 3: has = __builtin_cpu_supports("fma"); break;
        case 4: has = __builtin_cpu_supports("avx512f"); break;
        case 5: has = __builtin_cpu_supports("avx512dq"); break;
        case 6: has = __builtin_cpu_supports("avx512bw"); break;
        case 7: has = __builtin_cpu_supports("avx512vl"); break;
        case 8: has = __builtin_cpu_supports("avx512vnni"); break;
        case 9: has = __builtin_cpu_supports("avx512bf16"); break;
        }
        if (has)
            printf(" %s", features[i]);
    }
    printf("\n");
}

cli_exit cmd_info(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: blasnet info\n  Prints the BLAS library and its configuration, the OpenBLAS kernel in use\n"
               "  and the best one for this CPU, both thread counts, and the CPU's vector extensions.\n");
        return EXIT_OK;
    }
    if (argc > 1)
        return cli_error(EXIT_USAGE, "info", "unexpected argument '%s'", argv[1]);
    static const char *const parallel[] = {"serial", "pthreads", "OpenMP"};
    int par = bn_blas_parallel();
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("blasnet:          %s\n", BLASNET_VERSION);
    printf("blas config:      %s\n", bn_blas_config());
    printf("blas threading:   %s (openblas_get_parallel() = %d)\n", par >= 0 && par <= 2 ? parallel[par] : "?",
           par);
    printf("blas kernel:      %s (OPENBLAS_CORETYPE=%s; best for this CPU: %s)\n", bn_blas_corename(),
           env ? env : "unset", bn_cpu_best_blas_core());
    printf("threads:          OpenMP %d, OpenBLAS %d (default for runs: %d)\n", omp_get_max_threads(),
           openblas_get_num_threads(), bn_default_threads());
    const char *policy = getenv("OMP_WAIT_POLICY");
    printf("OMP_WAIT_POLICY:  %s\n", policy ? policy : "unset");
    print_cpu();
    blas_core_notice();
    return EXIT_OK;
}
