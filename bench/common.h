/* What the sections of blasnet-bench share (bench.c runs them): the options, the run's state, the small
 * helpers (common.c). Each section is a file: peak.c (the measured and nominal peak, the kernels), ops.c
 * (every op of a step), steps.c (whole steps, swept), options.c (the command line). */
#ifndef BN_BENCH_COMMON_H
#define BN_BENCH_COMMON_H

#include "backend.h"
#include "blasnet.h"
#include "report.h"

#include <float.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_SAMPLES 8192
#define MAX_LIST 32
#define MAX_THREADS 256
#define U_FLOAT (FLT_EPSILON / 2) /* unit roundoff of float, 2^-24 */

#define PROGRAM "blasnet-bench" /* what its messages start with */

/* The backends in the order of every table; naive is the reference every other one is checked against. */
enum { BE_NAIVE, BE_NAIVE_OMP, BE_BLAS, N_BACKENDS };
/* data is not in the default set: it writes a 110 MB CSV and times file loading, not the step. */
enum { SEC_PEAK = 1, SEC_CORES = 2, SEC_OPS = 4, SEC_BATCH = 8, SEC_THREADS = 16, SEC_PLANS = 32, SEC_ALL = 63,
       SEC_DATA = 64, SEC_RECIPE = 128, SEC_TEAM = 256 };
static const char *const section_names[] = {"peak", "cores", "ops", "batch", "threads", "plans", "data", "recipe",
                                            "team"};
static const char *const backend_names[N_BACKENDS] = {"naive", "naive-omp", "blas"};

typedef struct options {
    bn_arch arch;
    int batch, threads, peak_n;
    bool quick, sweep, peak_only, show_plan;
    bn_plan_mode plans[BN_PLAN_MODES]; /* the blas backend's step runs once per plan mode, interleaved */
    int n_plans;
    unsigned sections;
    int batches[MAX_LIST], n_batches;
    int thread_list[MAX_LIST], n_threads;
    bool use[N_BACKENDS];
    double budget_s;    /* time spent repeating one measurement */
    double naive_cap_s; /* longest step the naive backends are asked for in the sweeps */
    const char *json, *csv;
} options;

/* Everything the run learns, shared by the sections. */
typedef struct bench {
    options o;
    const bn_backend *be[N_BACKENDS];
    double peak[MAX_THREADS + 1]; /* GFLOP/s of square sgemm at each thread count; NaN if not measured */
    double *samples;              /* MAX_SAMPLES, for bench_measure */
    bench_report rep;
    int failures; /* verification FAILs: the exit status */
    char arch_text[160]; /* "784-1024-1024-10 relu" */
} bench;

/* common.c */
void fill_uniform(float *x, size_t n, float lo, float hi, bn_rng *rng);
void * xmalloc(size_t bytes);
double residual(const float *x, const float *ref, size_t n);
const char * verdict(double err, double tol);
const char *format_or_dash(char *buf, const char *fmt, double v);
double peak_at(const bench *b, int threads);
double step_flops_per_sample(const bn_arch *a);
const char * parallel_name(int p);

/* peak.c */
double measure_peak(bench *b, int n, double *best_s);
void section_peak(bench *b);
void section_cores(bench *b);
/* ops.c */
void section_ops(bench *b);
/* steps.c: 0, or -1 when the net cannot be made */
int section_steps(bench *b);
/* options.c: 0, or non-zero after a message on a bad command line */
int parse_options(options *o, int argc, char **argv);

#endif
