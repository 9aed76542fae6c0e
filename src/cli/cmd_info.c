/* blasnet info: what the speed of a run depends on, in one screen. */
#include "cli.h"
#include "platform.h"

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

enum { OPT_LAYERS = OPT_COMMAND_FIRST, OPT_BATCH };

typedef struct info_options {
    cli_args common;
    const char *layers;
    int batch;
} info_options;

static const char usage_text[] =
    "usage: blasnet info [--layers LIST] [--batch N] [--threads N] [--plan MODE] [--blas-core CORE]\n"
    "  Prints the BLAS library and its configuration, the OpenBLAS kernel in use and the best one for this\n"
    "  CPU, both thread counts, the CPU's vector extensions, and how each matrix product of a training step\n"
    "  of --layers (default 784,512,10, the default model) at --batch (default 64) is spread over the\n"
    "  threads, and where the plans come from: the wisdom file and the plans' digest, or the cost model\n"
    "  (--plan: tuned, the default, or estimate, measure, owned, one, library, rows, cols, tiles, k).\n"
    "  info measures nothing: shapes the wisdom lacks show the model's plan (blasnet tune measures them).\n";

static void print_blas(void)
{
    static const char *const parallel[] = {"serial", "pthreads", "OpenMP"};
    int par = bn_blas_parallel();
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("blasnet:          %s\n", BLASNET_VERSION);
    printf("blas config:      %s\n", bn_blas_config());
    printf("blas threading:   %s (openblas_get_parallel() = %d)\n", par >= 0 && par <= 2 ? parallel[par] : "?",
           par);
    printf("blas kernel:      %s (OPENBLAS_CORETYPE=%s; best for this CPU: %s)\n", bn_blas_corename(),
           env ? env : "unset", bn_cpu_best_blas_core());
    printf("gemm engine:      %s (each tile of a product; -Dgemm_engine chooses it when building)\n",
           bn_gemm_engine_name());
    printf("threads:          OpenMP %d, OpenBLAS %d (default for runs: %d)\n", omp_get_max_threads(),
           openblas_get_num_threads(), bn_default_threads());
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    printf("OMP_WAIT_POLICY:  %s\n", policy ? policy : "unset");
    printf("GOMP_SPINCOUNT:   %s (a waiting thread's spins before it sleeps; blasnet sets 1000 unless either is "
           "set)\n", spin ? spin : "unset (libgomp: 300000)");
}

/* The plan of one training step of the model the flags describe, as bn_net_create and --plan make it. */
static cli_exit print_plan(const info_options *o)
{
    bn_arch arch = {0};
    if (bn_arch_parse_sizes(&arch, o->layers))
        return cli_error(EXIT_USAGE, "info", "--layers %s: %s", o->layers, bn_errmsg());
    arch.act = BN_ACT_RELU;
    bn_net *net = NULL;
    int status = bn_net_create(&net, &arch, o->batch, bn_backend_find("blas"));
    if (status)
        return runtime_error("info", status,
                             status == BN_E_NOMEM ? "choose a smaller --batch or narrower --layers" : NULL);
    cli_plans plans;
    cli_exit rc = plans_open("info", &o->common, net, NULL, 0, false, &plans);
    if (!rc) {
        char text[8192], sizes[160];
        plans_keep("info", net, &plans, NULL);
        bn_net_plan_format(net, text, sizeof text);
        printf("plans:            %s; digest %016llx\n", plans.source, (unsigned long long)plans.digest);
        printf("model:            %s, batch %d\n%s", bn_arch_format(&arch, sizes, sizeof sizes), o->batch, text);
    }
    bn_net_destroy(&net);
    return rc;
}

static cli_exit run_info(void *ctx)
{
    const info_options *o = ctx;
    print_blas();
    print_cpu();
    cli_exit rc = print_plan(o);
    blas_core_notice();
    return rc;
}

cli_exit cmd_info(int argc, char **argv)
{
    info_options o = {.layers = "784,512,10", .batch = 64};
    const cli_option own[] = {opt_text("layers", OPT_LAYERS, &o.layers),
                              opt_int("batch", OPT_BATCH, &o.batch, 1, 65536)};
    const cli_command command = {"info", usage_text, COMMON_THREADS | COMMON_BLAS_CORE | COMMON_PLAN, own,
                                 ARRAY_LEN(own), 0, NULL, run_info, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
