/* blasnet-bench: what BLAS and threads buy, op by op and step by step. It measures this machine's own
 * sgemm peak (and each other OpenBLAS kernel's, in a re-executed child), checks every backend against the
 * naive one before timing it, and reports medians, GFLOP/s or GB/s, % of peak and speed-up over naive.
 * No figure is assumed; no buffer is allocated inside a timed loop. */
#include "act.h"
#include "backend.h"
#include "blasnet.h"
#include "data.h"
#include "default_step.h"
#include "net.h"
#include "nominal_peak.h"
#include "plans.h"
#include "recipe.h"
#include "report.h"
#include "timer.h"
#include "stage.h"
#include "util.h"

#include <cblas.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROGRAM "blasnet-bench" /* what its messages start with */

extern char **environ;

#define MAX_SAMPLES 8192
#define MAX_LIST 32
#define MAX_THREADS 256
#define U_FLOAT (FLT_EPSILON / 2) /* unit roundoff of float, 2^-24 */

/* The backends in the order of every table; naive is the reference every other one is checked against. */
enum { BE_NAIVE, BE_NAIVE_OMP, BE_BLAS, N_BACKENDS };
/* data is not in the default set: it writes a 110 MB CSV and times file loading, not the step. */
enum { SEC_PEAK = 1, SEC_CORES = 2, SEC_OPS = 4, SEC_BATCH = 8, SEC_THREADS = 16, SEC_PLANS = 32, SEC_ALL = 63,
       SEC_DATA = 64, SEC_RECIPE = 128 };
static const char *const section_names[] = {"peak", "cores", "ops", "batch", "threads", "plans", "data", "recipe"};
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

/* ---- small helpers ------------------------------------------------------------------------------------ */

static void fill_uniform(float *x, size_t n, float lo, float hi, bn_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)bn_rng_uniform(rng);
}

static void *xmalloc(size_t bytes)
{
    return bench_xmalloc("blasnet-bench", bytes);
}

/* Normwise residual max|x - ref| / max|ref|: how BLIS and checkasm judge a kernel against its reference. */
static double residual(const float *x, const float *ref, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)ref[i]);
        if (!(d <= diff)) /* also catches NaN */
            diff = isnan(d) ? INFINITY : d;
        if (fabs((double)ref[i]) > scale)
            scale = fabs((double)ref[i]);
    }
    return diff / (scale > 0.0 ? scale : FLT_MIN);
}

/* PASS within tol, MARGINAL within 100 tol (worth a look, not a wrong kernel), else FAIL. */
static const char *verdict(double err, double tol)
{
    return err <= tol ? "PASS" : err <= 100 * tol ? "MARGINAL" : "FAIL";
}

/* A figure, or "-" where it was not measured (NaN); buf holds 16 bytes. */
static const char *format_or_dash(char *buf, const char *fmt, double v)
{
    if (isnan(v))
        return "-";
    snprintf(buf, 16, fmt, v);
    return buf;
}

static double peak_at(const bench *b, int threads)
{
    return threads >= 1 && threads <= MAX_THREADS ? b->peak[threads] : NAN;
}

/* 2*in*out per product per sample: forward one product per layer, backward two per layer except one for the
 * first (the input pixels need no gradient). */
static double step_flops_per_sample(const bn_arch *a)
{
    double f = 0.0;
    for (int l = 0; l < a->depth; l++) {
        double p = 2.0 * a->sizes[l] * a->sizes[l + 1];
        f += p * (l == 0 ? 2.0 : 3.0);
    }
    return f;
}


static const char *parallel_name(int p)
{
    return p == 2 ? "OpenMP" : p == 1 ? "pthreads" : "serial";
}

/* ---- machine peak --------------------------------------------------------------------------------------- */

typedef struct peak_ctx {
    int n;
    const float *A, *B;
    float *C;
} peak_ctx;

static void peak_call(void *p)
{
    peak_ctx *c = p;
    /* C (n,n) = A (n,n) . B (n,n) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->n, c->n, c->n, 1.0f, c->A, c->n, c->B, c->n, 0.0f,
                c->C, c->n);
}

/* Best of 5 (after one warm-up) square sgemm at the current thread count, in GFLOP/s; NaN if 16 sampled
 * entries disagree with a double-precision dot product beyond float's worst-case bound n*u*sum|a||b|. */
static double measure_peak(bench *b, int n, double *best_s)
{
    size_t nn = (size_t)n * (size_t)n;
    float *A = xmalloc(nn * sizeof(float)), *B = xmalloc(nn * sizeof(float)), *C = xmalloc(nn * sizeof(float));
    bn_rng rng;
    bn_rng_seed(&rng, 4096);
    fill_uniform(A, nn, -1.0f, 1.0f, &rng);
    fill_uniform(B, nn, -1.0f, 1.0f, &rng);
    peak_ctx ctx = {n, A, B, C};
    bench_timing t = bench_measure(peak_call, &ctx, 1e9, 5, 5, b->samples);
    bool ok = true;
    for (int s = 0; s < 16; s++) {
        int i = (int)bn_rng_below(&rng, (uint64_t)n), j = (int)bn_rng_below(&rng, (uint64_t)n);
        double dot = 0.0, mag = 0.0;
        for (int k = 0; k < n; k++) {
            dot += (double)A[(size_t)i * n + k] * B[(size_t)k * n + j];
            mag += fabs((double)A[(size_t)i * n + k] * B[(size_t)k * n + j]);
        }
        ok &= fabs(C[(size_t)i * n + j] - dot) <= n * U_FLOAT * mag;
    }
    free(A);
    free(B);
    free(C);
    *best_s = t.min_s;
    if (!ok) {
        fprintf(stderr, "blasnet-bench: sgemm n=%d gave wrong entries: peak not reported\n", n);
        b->failures++;
        return NAN;
    }
    return 2.0 * n * (double)n * n / t.min_s * 1e-9;
}

/* Our environment with OPENBLAS_CORETYPE=core in place of any setting of ours; coreenv is the caller's
 * buffer for that one entry. NULL when out of memory. */
static char **environment_with_core(const char *core, char *coreenv, size_t coreenv_size)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **envp = calloc(count + 2, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0)
            envp[k++] = environ[i];
    snprintf(coreenv, coreenv_size, "OPENBLAS_CORETYPE=%s", core);
    envp[k++] = coreenv;
    return envp;
}

/* Runs argv[0] with argv and envp and reads what it prints into out (NUL-terminated, cut at out_size - 1).
 * 0 when it ran and exited with status 0, else -1. */
static int run_child(char *const argv[], char *const envp[], char *out, size_t out_size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec: the parent has OpenMP threads */
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (pid > 0 && len < out_size - 1 && (r = read(fd[0], out + len, out_size - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    int wstatus = 0;
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    return pid > 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -1;
}

/* The GFLOP/s of a --peak-only line ("peak core=NAME ... gflops=G ..."), NaN if it has none; the kernel
 * OpenBLAS loaded goes to got. */
static double parse_peak_line(const char *line, char *got, size_t got_size)
{
    const char *g = strstr(line, "gflops="), *c = strstr(line, "core=");
    double gflops = NAN;
    if (!g || sscanf(g, "gflops=%lf", &gflops) != 1)
        return NAN;
    if (c) {
        c += 5;
        size_t l = strcspn(c, " \n");
        snprintf(got, got_size, "%.*s", (int)l, c);
    }
    return gflops;
}

/* Runs this program again with OPENBLAS_CORETYPE=core (the kernel is chosen when OpenBLAS loads, so there
 * is no other way) and --peak-only, and reads back its one line. */
static double child_peak(const char *core, int n, int threads, char *got, size_t got_size)
{
    char coreenv[96], nbuf[16], tbuf[16], line[1024];
    char **envp = environment_with_core(core, coreenv, sizeof coreenv);
    if (!envp)
        return NAN;
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    char *argv[] = {"/proc/self/exe", "--peak-only", "--peak-n", nbuf, "--threads", tbuf, NULL};
    int status = run_child(argv, envp, line, sizeof line);
    free(envp);
    return status == 0 ? parse_peak_line(line, got, got_size) : NAN;
}

/* The record of one square sgemm of the peak's size through OpenBLAS kernel `core`; NULL when full. */
static bench_record *add_sgemm_record(bench *b, const char *section, const char *core, int threads)
{
    bench_record *r = bench_report_add(&b->rep, section);
    if (r) {
        int n = b->o.peak_n;
        snprintf(r->backend, sizeof r->backend, "blas");
        snprintf(r->op, sizeof r->op, "sgemm-%s", core);
        snprintf(r->shape, sizeof r->shape, "%dx%dx%d", n, n, n);
        r->threads = threads;
        r->runs = 5;
    }
    return r;
}

/* The CPU's nominal peak beside the measured one, where the core is known (nominal_peak.c). */
static void print_nominal_peak(const bench *b)
{
    nominal_peak np;
    if (!nominal_peak_find(&np)) {
        printf("nominal peak: not known for this CPU (%s%s)\n", np.core,
               np.flops_per_cycle ? ", no clock reported" : ", not in blasnet's table of cores");
        return;
    }
    double per_core = np.flops_per_cycle * np.ghz;
    printf("nominal peak: %s, %d FP32 FLOP/cycle x %.2f GHz (%s) = %.1f GFLOP/s a core", np.core,
           np.flops_per_cycle, np.ghz, np.clock_source, per_core);
    int t = b->o.threads;
    if (t >= 1 && t <= MAX_THREADS && !isnan(b->peak[t]))
        printf("; measured at %d thread%s: %.0f%% of %.1f (above 100%%: turbo)", t, t == 1 ? "" : "s",
               100.0 * b->peak[t] / (per_core * t), per_core * t);
    printf("\n");
}

static void section_peak(bench *b)
{
    const options *o = &b->o;
    printf("\n== measured peak: square sgemm n=%d, best of 5 after a warm-up, kernel %s ==\n", o->peak_n,
           bn_blas_corename());
    printf("(what this machine's OpenBLAS reaches, which every %%mpeak below is against; the CPU's nominal peak "
           "follows the table)\n");
    printf("%8s %12s %10s\n", "threads", "GFLOP/s", "best ms");
    int want[MAX_LIST + 2], n_want = 0;
    want[n_want++] = 1;
    want[n_want++] = o->threads;
    for (int i = 0; i < o->n_threads; i++)
        want[n_want++] = o->thread_list[i];
    for (int i = 0; i < n_want; i++) {
        int t = want[i];
        if (t > MAX_THREADS || !isnan(b->peak[t]))
            continue;
        bn_set_threads(t);
        double best;
        b->peak[t] = measure_peak(b, o->peak_n, &best);
        printf("%8d %12.1f %10.1f\n", t, b->peak[t], best * 1e3);
        bench_record *r = add_sgemm_record(b, "peak", bn_blas_corename(), t);
        if (r) {
            r->min_s = best;
            r->gflops = b->peak[t];
            r->pct_peak = 100.0;
        }
    }
    print_nominal_peak(b);
    fflush(stdout);
}

/* Every OpenBLAS x86 kernel from Haswell up that this CPU can run, each in a child process. */
static void section_cores(bench *b)
{
    static const char *const cores[] = {"Haswell", "SkylakeX", "Cooperlake"};
    const options *o = &b->o;
    const char *best = bn_cpu_best_blas_core();
    printf("\n== OpenBLAS kernels this CPU supports: sgemm n=%d, %d threads, each in a child process ==\n",
           o->peak_n, o->threads);
    printf("(this run: %s, from OPENBLAS_CORETYPE=%s; best for this CPU: %s)\n", bn_blas_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)", best);
    printf("%-12s %-20s %12s %12s\n", "requested", "loaded", "GFLOP/s", "vs this run");
    double here = peak_at(b, o->threads);
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
        if (bn_blas_core_rank(cores[i]) > bn_blas_core_rank(best))
            continue;
        char got[64] = "?";
        double g;
        if (strcasecmp(cores[i], bn_blas_corename()) == 0) {
            g = here;
            snprintf(got, sizeof got, "%s (this run)", bn_blas_corename());
        } else {
            g = child_peak(cores[i], o->peak_n, o->threads, got, sizeof got);
        }
        printf("%-12s %-20s %12.1f %11.2fx\n", cores[i], got, g, g / here);
        bench_record *r = add_sgemm_record(b, "core", cores[i], o->threads);
        if (r) {
            r->gflops = g;
            r->pct_peak = 100.0 * g / here;
            snprintf(r->check, sizeof r->check, "%s", isnan(g) ? "FAIL" : "-");
        }
    }
    fflush(stdout);
}

/* ---- per op ----------------------------------------------------------------------------------------------- */

typedef struct gemm_ctx {
    const bn_backend *be;
    bool ta, tb;
    int M, N, K, lda, ldb;
    const float *A, *B;
    float *C;
} gemm_ctx;

static void gemm_call(void *p)
{
    gemm_ctx *c = p;
    bn_gemm g = {.ta = c->ta, .tb = c->tb, .M = c->M, .N = c->N, .K = c->K, .alpha = 1.0f, .A = c->A,
                 .lda = c->lda, .B = c->B, .ldb = c->ldb, .C = c->C, .ldc = c->N};
    c->be->gemm(&g, NULL); /* the model's plan for the current team, as a step of another batch gets */
}

enum { EW_BIAS_ACT, EW_ACT_BACKWARD, EW_SOFTMAX, EW_BIAS_GRAD, EW_SGD };

/* One elementwise op: out0/out1 are read and written (or written), in0..in2 only read. */
typedef struct ew_ctx {
    int kind;
    const bn_backend *be;
    float *out0, *out1;
    const float *in0, *in1, *in2;
    const int32_t *labels;
    int rows, n;
    size_t count;
    bn_act act;
    float slope;
    double result;
} ew_ctx;

static void ew_call(void *p)
{
    ew_ctx *c = p;
    int correct = 0;
    switch (c->kind) {
    /* Y (rows,n) <- act(Y + b) [, Z] */
    case EW_BIAS_ACT: c->be->bias_act(c->out0, c->out1, c->in0, c->rows, c->n, c->act, c->slope, NULL); break;
    /* dZ (rows,n) = dY * act'(Z, Y): out of place, so repeated calls see the same dY (in place, sigmoid's
     * factor would shrink dY into denormals and time those instead) */
    case EW_ACT_BACKWARD:
        c->be->act_backward(c->out0, c->in0, c->in1, c->in2, c->rows, c->n, c->act, c->slope, NULL);
        break;
    /* P (rows,C) <- softmax(P + b), dlogits (rows,C) */
    case EW_SOFTMAX:
        c->result = c->be->bias_softmax_xent(c->out1, c->out0, c->in0, c->labels, c->rows, c->n, 1.0f / c->rows,
                                        &correct);
        break;
    /* db (n) = column sums of G (rows,n) */
    case EW_BIAS_GRAD: c->be->bias_grad(c->out0, c->in0, c->rows, c->n); break;
    /* w, v (count) <- momentum step with g */
    case EW_SGD: {
        const bn_update u = {.kind = BN_OPT_SGD, .lr = 1e-3f, .momentum = 0.9f, .grad_scale = 1.0f};
        c->result = c->be->update(c->out0, c->out1, NULL, c->in0, c->count, &u, 0.0f, false);
        break;
    }
    default: break;
    }
}

typedef struct op_config {
    int backend, threads;
} op_config;

typedef struct op_sums {
    double gemm_s, elem_s;
} op_sums;

/* The configurations of the per-op table, each with the sum of its medians over the step's ops. */
typedef struct op_plan {
    op_config cfg[4];
    op_sums sums[4];
    int n;
} op_plan;

/* Naive on one thread (the reference), naive-omp on the run's threads, blas on one and on the run's. */
static void plan_op_configs(op_plan *p, int threads)
{
    memset(p, 0, sizeof *p);
    p->cfg[p->n++] = (op_config){BE_NAIVE, 1};
    p->cfg[p->n++] = (op_config){BE_NAIVE_OMP, threads};
    p->cfg[p->n++] = (op_config){BE_BLAS, 1};
    if (threads > 1)
        p->cfg[p->n++] = (op_config){BE_BLAS, threads};
}

/* One row of the per-op table: one op on one configuration, and how its check against naive went. */
typedef struct op_row {
    const char *name, *shape;
    const op_config *cfg;
    bool is_gemm;      /* rate in GFLOP/s and % of peak; else GB/s */
    double work;       /* FLOPs (sgemm) or bytes moved (elementwise) per call */
    double naive_s;    /* naive's median of the same op: the x naive base */
    const char *check; /* "ref" for naive itself */
    double err, tol;   /* residual against naive (NaN for naive) and what passes */
} op_row;

/* A result that fails its check is counted, reported on its row, and not timed. */
static bool failed(bench *b, const op_row *row)
{
    if (strcmp(row->check, "FAIL") != 0)
        return false;
    b->failures++;
    printf("%-14s %-16s %-10s %3d  FAIL: residual %.2e > %.1e, not timed\n", row->name, row->shape,
           backend_names[row->cfg->backend], row->cfg->threads, row->err, 100 * row->tol);
    return true;
}

static void print_op_header(void)
{
    printf("%-14s %-16s %-10s %3s %5s %11s %9s %-6s %7s %9s  %s\n", "op", "shape", "backend", "thr", "runs",
           "median ms", "rate", "unit", "%mpeak", "x naive", "check (residual)");
}

static void record_op_row(bench *b, const op_row *row, bench_timing t, double rate, double pct, double speedup)
{
    bench_record *r = bench_report_add(&b->rep, "op");
    if (!r)
        return;
    snprintf(r->backend, sizeof r->backend, "%s", backend_names[row->cfg->backend]);
    snprintf(r->op, sizeof r->op, "%s", row->name);
    snprintf(r->shape, sizeof r->shape, "%s", row->shape);
    r->threads = row->cfg->threads;
    r->batch = b->o.batch;
    r->runs = t.runs;
    r->median_s = t.median_s;
    r->min_s = t.min_s;
    if (row->is_gemm)
        r->gflops = rate;
    else
        r->gbs = rate;
    r->pct_peak = pct;
    r->speedup = speedup;
    snprintf(r->check, sizeof r->check, "%s", row->check);
    r->err = row->err;
}

static void print_op_row(bench *b, const op_row *row, bench_timing t)
{
    const op_config *c = row->cfg;
    double rate = row->work / t.median_s * 1e-9;
    double pct = row->is_gemm ? 100.0 * rate / peak_at(b, c->threads) : NAN;
    double naive_s = c->backend == BE_NAIVE ? t.median_s : row->naive_s; /* naive is its own base: 1.0x */
    double speedup = naive_s / t.median_s;
    printf("%-14s %-16s %-10s %3d %4d%s %11.3f %9.2f %-6s", row->name, row->shape, backend_names[c->backend],
           c->threads, t.runs, t.cold ? "*" : " ", t.median_s * 1e3, rate, row->is_gemm ? "GFLOP/s" : "GB/s");
    char c1[16], c2[16];
    printf(" %7s %8s  %s", format_or_dash(c1, "%.1f%%", pct), format_or_dash(c2, "%.1fx", speedup), row->check);
    if (!isnan(row->err))
        printf(" (%.1e)", row->err);
    printf("\n");
    record_op_row(b, row, t, rate, pct, speedup);
    fflush(stdout);
}

/* The tail every op shares once its check is done: a FAIL is counted and not timed, anything else is timed
 * and printed. The median, or NaN when it was not timed. */
static double time_op_row(bench *b, const op_row *row, void (*fn)(void *), void *ctx, int min_runs)
{
    if (failed(b, row))
        return NAN;
    bench_timing t = bench_measure(fn, ctx, b->o.budget_s, min_runs, MAX_SAMPLES, b->samples);
    print_op_row(b, row, t);
    return t.median_s;
}

/* One sgemm shape for every configuration: naive first (its result is the reference), then each other
 * configuration is checked against it and only then timed. */
static void op_gemm(bench *b, op_plan *p, const char *name, bool ta, bool tb, int M, int N, int K)
{
    size_t a_n = (size_t)M * K, b_n = (size_t)K * N, c_n = (size_t)M * N;
    float *A = xmalloc(a_n * sizeof(float)), *B = xmalloc(b_n * sizeof(float));
    float *C = xmalloc(c_n * sizeof(float)), *Cref = xmalloc(c_n * sizeof(float));
    bn_rng rng;
    bn_rng_seed(&rng, (uint64_t)M * 31 + (uint64_t)N * 17 + (uint64_t)K);
    fill_uniform(A, a_n, -1.0f, 1.0f, &rng);
    fill_uniform(B, b_n, -1.0f, 1.0f, &rng);
    char shape[40];
    snprintf(shape, sizeof shape, "%dx%dx%d", M, N, K);
    double naive_s = NAN;
    /* A float dot product of K terms drifts from another summation order by about sqrt(K)*u of the terms'
     * magnitude, K*u at worst; 4*K*u of the largest entry passes every honest kernel and no wrong one. */
    double tol = 4.0 * K * U_FLOAT;
    for (int i = 0; i < p->n; i++) {
        const op_config *c = &p->cfg[i];
        bool is_ref = c->backend == BE_NAIVE;
        bn_set_threads(c->threads);
        gemm_ctx ctx = {b->be[c->backend], ta, tb, M, N, K, ta ? M : K, tb ? K : N, A, B, is_ref ? Cref : C};
        op_row row = {name, shape, c, true, 2.0 * M * (double)N * K, naive_s, "ref", NAN, tol};
        if (!is_ref) {
            memset(C, 0xff, c_n * sizeof(float)); /* NaN: an entry the kernel forgets to write fails */
            gemm_call(&ctx);
            row.err = residual(C, Cref, c_n);
            row.check = verdict(row.err, tol);
        }
        double median = time_op_row(b, &row, gemm_call, &ctx, 3);
        if (is_ref)
            naive_s = median;
        if (!isnan(median))
            p->sums[i].gemm_s += median;
    }
    free(A);
    free(B);
    free(C);
    free(Cref);
}

/* How far an elementwise op's outputs (out0, and out1 when n1 > 0) and returned figure are from naive's in
 * ref: the largest of the three normwise residuals. */
static double ew_residual(const ew_ctx *got, const ew_ctx *ref, size_t n0, size_t n1)
{
    double err = residual(got->out0, ref->out0, n0);
    if (n1) {
        double e1 = residual(got->out1, ref->out1, n1);
        err = e1 > err ? e1 : err;
    }
    if (got->result != ref->result) {
        double e2 = fabs(got->result - ref->result) / (fabs(ref->result) > 0 ? fabs(ref->result) : 1.0);
        err = e2 > err ? e2 : err;
    }
    return err;
}

/* One elementwise op for every configuration. base.in0..in2 and the initial base.out0/out1 (n0 and n1
 * floats; n1 == 0: no out1) are the caller's; the work and reference copies are made here. */
static void op_elementwise(bench *b, op_plan *p, const char *name, const char *shape, ew_ctx base, size_t n0,
                           size_t n1, double bytes, double tol)
{
    float *w0 = xmalloc(n0 * sizeof(float)), *w1 = n1 ? xmalloc(n1 * sizeof(float)) : NULL;
    ew_ctx ref = base;
    ref.out0 = xmalloc(n0 * sizeof(float));
    ref.out1 = n1 ? xmalloc(n1 * sizeof(float)) : NULL;
    ref.result = 0.0;
    double naive_s = NAN;
    for (int i = 0; i < p->n; i++) {
        const op_config *c = &p->cfg[i];
        bool is_ref = c->backend == BE_NAIVE;
        bn_set_threads(c->threads);
        ew_ctx ctx = base;
        ctx.be = b->be[c->backend];
        ctx.out0 = w0;
        ctx.out1 = w1;
        memcpy(w0, base.out0, n0 * sizeof(float));
        if (n1)
            memcpy(w1, base.out1, n1 * sizeof(float));
        ew_call(&ctx);
        op_row row = {name, shape, c, false, bytes, naive_s, "ref", NAN, tol};
        if (is_ref) {
            memcpy(ref.out0, w0, n0 * sizeof(float));
            if (n1)
                memcpy(ref.out1, w1, n1 * sizeof(float));
            ref.result = ctx.result;
        } else {
            row.err = ew_residual(&ctx, &ref, n0, n1);
            row.check = verdict(row.err, tol);
        }
        double median = time_op_row(b, &row, ew_call, &ctx, 5);
        if (is_ref)
            naive_s = median;
        if (!isnan(median))
            p->sums[i].elem_s += median;
    }
    free(w0);
    free(w1);
    free(ref.out0);
    free(ref.out1);
}

/* The sgemm calls of one step in the order it makes them: forward layer by layer, then backward from the
 * last layer (the first layer's input needs no gradient, so it has no dA). */
static void ops_all_gemms(bench *b, op_plan *p)
{
    const int L = b->o.arch.depth, B = b->o.batch;
    const int *n = b->o.arch.sizes;
    char name[32];
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "fwd L%d", l + 1);
        /* Z (B, n[l+1]) = A (B, n[l]) . W (n[l], n[l+1]) */
        op_gemm(b, p, name, false, false, B, n[l + 1], n[l]);
    }
    for (int l = L - 1; l >= 0; l--) {
        snprintf(name, sizeof name, "dW L%d", l + 1);
        /* dW (n[l], n[l+1]) = A^T (n[l], B) . G (B, n[l+1]) */
        op_gemm(b, p, name, true, false, n[l], n[l + 1], B);
        if (l > 0) {
            snprintf(name, sizeof name, "dA L%d", l + 1);
            /* dA (B, n[l]) = G (B, n[l+1]) . W^T (n[l+1], n[l]) */
            op_gemm(b, p, name, false, true, B, n[l], n[l + 1]);
        }
    }
}

/* Inputs of the elementwise ops: values of the sizes and signs a training step sees, each buffer big enough
 * for the widest layer at the batch and for all parameters. init0 and init1 are refilled op by op from rng,
 * which draws on from one seed, so every run times the same values. */
typedef struct ew_inputs {
    float *zin, *yin, *g, *init0, *init1, *bias;
    int32_t *labels;
    size_t params;
    bn_rng rng;
} ew_inputs;

static void ew_inputs_create(ew_inputs *in, const bn_arch *a, int batch)
{
    int widest = 0;
    for (int l = 1; l <= a->depth; l++)
        widest = a->sizes[l] > widest ? a->sizes[l] : widest;
    size_t big = (size_t)batch * widest;
    in->params = (size_t)bn_arch_param_count(a);
    size_t pool = big > in->params ? big : in->params;
    in->zin = xmalloc(pool * sizeof(float));
    in->yin = xmalloc(pool * sizeof(float));
    in->g = xmalloc(pool * sizeof(float));
    in->init0 = xmalloc(pool * sizeof(float));
    in->init1 = xmalloc(pool * sizeof(float));
    in->bias = xmalloc((size_t)widest * sizeof(float));
    in->labels = xmalloc((size_t)batch * sizeof(int32_t));
    bn_rng_seed(&in->rng, 7);
    fill_uniform(in->zin, pool, -2.0f, 2.0f, &in->rng);
    for (size_t i = 0; i < pool; i++)
        in->yin[i] = bn_act_fwd1(a->act, a->leaky_slope, in->zin[i]);
    fill_uniform(in->g, pool, -0.01f, 0.01f, &in->rng);
    fill_uniform(in->bias, (size_t)widest, -0.1f, 0.1f, &in->rng);
    for (int i = 0; i < batch; i++)
        in->labels[i] = (int32_t)bn_rng_below(&in->rng, (uint64_t)a->sizes[a->depth]);
}

static void ew_inputs_destroy(ew_inputs *in)
{
    free(in->zin);
    free(in->yin);
    free(in->g);
    free(in->init0);
    free(in->init1);
    free(in->bias);
    free(in->labels);
}

/* Same operations in the same order in every backend up to vectorised expf/tanhf: a few ulps of the largest
 * value; 1e-5 is ~80 ulps. */
static const double ew_tol = 1e-5;

/* Bias and activation of each hidden layer; Z is kept only when the activation's derivative needs it. */
static void ops_bias_act(bench *b, op_plan *p, ew_inputs *in)
{
    const bn_arch *a = &b->o.arch;
    const int B = b->o.batch;
    bool needs_z = bn_act_needs_z(a->act);
    char name[32], shape[40];
    for (int l = 0; l < a->depth - 1; l++) {
        int width = a->sizes[l + 1];
        size_t cnt = (size_t)B * width;
        fill_uniform(in->init0, cnt, -2.0f, 2.0f, &in->rng);
        snprintf(name, sizeof name, "bias_act L%d", l + 1);
        snprintf(shape, sizeof shape, "%dx%d", B, width);
        ew_ctx base = {.kind = EW_BIAS_ACT, .out0 = in->init0, .out1 = needs_z ? in->init1 : NULL, .in0 = in->bias,
                       .rows = B, .n = width, .act = a->act, .slope = a->leaky_slope};
        op_elementwise(b, p, name, shape, base, cnt, needs_z ? cnt : 0, 4.0 * (cnt * (needs_z ? 3 : 2) + width),
                       ew_tol);
    }
}

static void ops_softmax_xent(bench *b, op_plan *p, ew_inputs *in)
{
    const int B = b->o.batch, classes = b->o.arch.sizes[b->o.arch.depth];
    size_t cnt = (size_t)B * classes;
    char shape[40];
    fill_uniform(in->init0, cnt, -3.0f, 3.0f, &in->rng);
    snprintf(shape, sizeof shape, "%dx%d", B, classes);
    ew_ctx base = {.kind = EW_SOFTMAX, .out0 = in->init0, .out1 = in->init1, .in0 = in->bias, .labels = in->labels,
                   .rows = B, .n = classes};
    op_elementwise(b, p, "softmax_xent", shape, base, cnt, cnt, 4.0 * (3.0 * cnt + B + classes), ew_tol);
}

/* Backward from the last layer: each layer's bias gradient, then the activation derivative below it. */
static void ops_backward_elementwise(bench *b, op_plan *p, ew_inputs *in)
{
    const bn_arch *a = &b->o.arch;
    const int B = b->o.batch;
    const int *n = a->sizes;
    bool needs_z = bn_act_needs_z(a->act);
    /* column sums of B rows: the order is the same in every backend, but allow B*u of drift */
    double grad_tol = 4.0 * B * U_FLOAT > ew_tol ? 4.0 * B * U_FLOAT : ew_tol;
    char name[32], shape[40];
    for (int l = a->depth - 1; l >= 0; l--) {
        size_t cnt = (size_t)B * n[l + 1];
        snprintf(name, sizeof name, "bias_grad L%d", l + 1);
        snprintf(shape, sizeof shape, "%dx%d", B, n[l + 1]);
        ew_ctx grad = {.kind = EW_BIAS_GRAD, .out0 = in->init0, .in0 = in->g, .rows = B, .n = n[l + 1]};
        op_elementwise(b, p, name, shape, grad, (size_t)n[l + 1], 0, 4.0 * (cnt + n[l + 1]), grad_tol);
        if (l == 0)
            break; /* the input pixels need no gradient */
        size_t below = (size_t)B * n[l];
        snprintf(name, sizeof name, "act_bwd L%d", l);
        snprintf(shape, sizeof shape, "%dx%d", B, n[l]);
        memset(in->init0, 0, below * sizeof(float));
        ew_ctx act = {.kind = EW_ACT_BACKWARD, .out0 = in->init0, .in0 = in->g, .in1 = needs_z ? in->zin : NULL,
                      .in2 = in->yin, .rows = B, .n = n[l], .act = a->act, .slope = a->leaky_slope};
        op_elementwise(b, p, name, shape, act, below, 0, 4.0 * below * (needs_z ? 4 : 3), ew_tol);
    }
}

static void ops_sgd_update(bench *b, op_plan *p, ew_inputs *in)
{
    size_t params = in->params;
    char shape[40];
    fill_uniform(in->init0, params, -0.1f, 0.1f, &in->rng);
    memset(in->init1, 0, params * sizeof(float));
    snprintf(shape, sizeof shape, "%zu", params);
    ew_ctx base = {.kind = EW_SGD, .out0 = in->init0, .out1 = in->init1, .in0 = in->g, .count = params};
    op_elementwise(b, p, "sgd_update", shape, base, params, params, 4.0 * 5.0 * params, ew_tol);
}

static void print_op_sums(bench *b, const op_plan *p)
{
    const int B = b->o.batch;
    printf("\nsum of per-op medians = one step's calls, batch %d:\n", B);
    printf("%-10s %3s %12s %14s %10s %12s\n", "backend", "thr", "sgemm ms", "elementwise ms", "elem share",
           "samples/s");
    for (int i = 0; i < p->n; i++) {
        const op_config *c = &p->cfg[i];
        const op_sums *s = &p->sums[i];
        double tot = s->gemm_s + s->elem_s;
        printf("%-10s %3d %12.3f %14.3f %9.1f%% %12.0f\n", backend_names[c->backend], c->threads,
               s->gemm_s * 1e3, s->elem_s * 1e3, 100.0 * s->elem_s / tot, B / tot);
        bench_record *r = bench_report_add(&b->rep, "opsum");
        if (r) {
            snprintf(r->backend, sizeof r->backend, "%s", backend_names[c->backend]);
            snprintf(r->op, sizeof r->op, "sum");
            r->threads = c->threads;
            r->batch = B;
            r->median_s = tot;
            r->samples_s = B / tot;
            r->gemm_share = s->gemm_s / tot;
            r->elem_share = s->elem_s / tot;
        }
    }
}

/* Every kernel call of one training step, op by op, in the order the step makes them. */
static void section_ops(bench *b)
{
    op_plan plan;
    plan_op_configs(&plan, b->o.threads);
    printf("\n== per op: the calls of one training step, batch %d, %s ==\n", b->o.batch,
           bn_act_name(b->o.arch.act));
    printf("(each backend checked against naive before it is timed; median over repeats; * = one cold call, a "
           "kernel too slow to repeat; %%mpeak: of the measured peak, square sgemm at the same thread count)\n");
    print_op_header();
    ops_all_gemms(b, &plan);
    ew_inputs in;
    ew_inputs_create(&in, &b->o.arch, b->o.batch);
    ops_bias_act(b, &plan, &in);
    ops_softmax_xent(b, &plan, &in);
    ops_backward_elementwise(b, &plan, &in);
    ops_sgd_update(b, &plan, &in);
    ew_inputs_destroy(&in);
    print_op_sums(b, &plan);
    fflush(stdout);
}

/* ---- whole step ------------------------------------------------------------------------------------------ */

/* A backend that times each call of another: the step's split between sgemm and elementwise kernels. The
 * clock costs ~50 ns a call, about 20 calls a step, so profiled steps run separately from the timed ones. */
static const bn_backend *prof_inner;
static double prof_gemm_s, prof_elem_s;

static void prof_gemm(const bn_gemm *g, const bn_gemm_plan *plan)
{
    double t = bench_now();
    prof_inner->gemm(g, plan);
    prof_gemm_s += bench_now() - t;
}

static void prof_gemm_pair(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan)
{
    double t = bench_now();
    prof_inner->gemm_pair(first, second, plan);
    prof_gemm_s += bench_now() - t;
}

static void prof_bias_act(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope,
                          const bn_dropout *drop)
{
    double t = bench_now();
    prof_inner->bias_act(Y, Z, b, rows, n, act, slope, drop);
    prof_elem_s += bench_now() - t;
}

static void prof_act_backward(float *dZ, const float *dY, const float *Z, const float *Y, int rows, int n,
                              bn_act act, float slope, const bn_dropout *drop)
{
    double t = bench_now();
    prof_inner->act_backward(dZ, dY, Z, Y, rows, n, act, slope, drop);
    prof_elem_s += bench_now() - t;
}

static double prof_softmax_xent(float *dlogits, float *P, const float *b, const int32_t *labels, int rows, int C,
                                float grad_scale, int *correct)
{
    double t = bench_now();
    double r = prof_inner->bias_softmax_xent(dlogits, P, b, labels, rows, C, grad_scale, correct);
    prof_elem_s += bench_now() - t;
    return r;
}

static void prof_bias_grad(float *db, const float *G, int rows, int n)
{
    double t = bench_now();
    prof_inner->bias_grad(db, G, rows, n);
    prof_elem_s += bench_now() - t;
}

static double prof_update(float *w, float *m, float *v, const float *g, size_t n, const bn_update *u, float wd,
                          bool want_sqnorm)
{
    double t = bench_now();
    double r = prof_inner->update(w, m, v, g, n, u, wd, want_sqnorm);
    prof_elem_s += bench_now() - t;
    return r;
}

static double prof_sqnorm(const float *x, size_t n)
{
    double t = bench_now();
    double r = prof_inner->sqnorm(x, n);
    prof_elem_s += bench_now() - t;
    return r;
}

static const bn_backend prof_backend = {
    .name = "profiled",
    .gemm = prof_gemm,
    .gemm_pair = prof_gemm_pair,
    .bias_act = prof_bias_act,
    .act_backward = prof_act_backward,
    .bias_softmax_xent = prof_softmax_xent,
    .bias_grad = prof_bias_grad,
    .update = prof_update,
    .sqnorm = prof_sqnorm,
};

typedef struct step_ctx {
    bn_net *net;
    int batch;
    bn_optim sgd;
    double loss;
    int status;
} step_ctx;

/* One training step on the data staged in the net, as blasnet train runs it: forward, softmax cross-entropy,
 * backward, and the SGD momentum update fused into the backward pass (bn_net_train_step). */
static void step_call(void *p)
{
    step_ctx *c = p;
    int s = bn_net_train_step(c->net, bn_net_input(c->net), bn_net_labels(c->net), c->batch, &c->sgd, &c->loss,
                              NULL, NULL);
    if (s)
        c->status = s;
}

typedef struct step_result {
    double median_s, sps;
    bool ran;
} step_result;

static void reset_params(bn_net *net)
{
    bn_rng rng;
    bn_rng_seed(&rng, 1);
    bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
}

static void print_step_header(const char *first)
{
    printf("%6s %-14s %3s %5s %9s %9s %11s %9s %7s %8s %7s %7s %7s %9s\n", first, "backend", "thr", "runs",
           "step ms", "best ms", "samples/s", "GFLOP/s", "%mpeak", "x naive", "sgemm%", "elem%", "other%", "sgemm%mpk");
}

/* Where a step's time goes, from profiled steps; NaN where the step was not profiled. */
typedef struct step_split {
    double gemm_share, elem_share, other_share;
    double gemm_pct; /* the step's sgemm calls alone, as % of peak */
} step_split;

/* Runs a few more steps through prof_backend, enough for a quarter of the budget (2 to 200), and takes the
 * split from them. flops: one step's; peak: GFLOP/s at the step's thread count. */
static step_split profile_step(bench *b, step_ctx *ctx, int be, double median_s, double flops, double peak)
{
    step_split split = {NAN, NAN, NAN, NAN};
    if (median_s >= 0.5) /* the naive steps that take seconds are all sgemm anyway; see the per-op table */
        return split;
    int k = (int)ceil(0.25 * b->o.budget_s / median_s);
    k = k < 2 ? 2 : k > 200 ? 200 : k;
    prof_inner = b->be[be];
    bn_net_set_backend(ctx->net, &prof_backend);
    /* Medians of per-step figures, like the timed run: one disturbed step must not move the split. */
    double step_total[200], step_gemm[200], step_elem[200];
    for (int i = 0; i < k; i++) {
        prof_gemm_s = prof_elem_s = 0.0;
        double t0 = bench_now();
        step_call(ctx);
        step_total[i] = bench_now() - t0;
        step_gemm[i] = prof_gemm_s;
        step_elem[i] = prof_elem_s;
    }
    bn_net_set_backend(ctx->net, b->be[be]);
    double total = bench_median(step_total, k), gemm = bench_median(step_gemm, k);
    double elem = bench_median(step_elem, k);
    split.gemm_share = gemm / total;
    split.elem_share = elem / total;
    split.other_share = 1.0 - split.gemm_share - split.elem_share;
    split.gemm_pct = 100.0 * flops / gemm * 1e-9 / peak;
    return split;
}

/* One row of a step sweep: a timed step, its rates and its split. */
typedef struct step_row {
    const char *section; /* "batch" or "threads": the sweep, and what the first column shows */
    const char *label;   /* the backend, and for blas the plan mode when the run compares several */
    int be, threads, batch;
    bench_timing t;
    double gflops, peak, sps, naive_sps;
    step_split split;
} step_row;

static void print_step_row(const step_row *row)
{
    int first = strcmp(row->section, "threads") == 0 ? row->threads : row->batch;
    const step_split *s = &row->split;
    char c1[16], c2[16], c3[16], c4[16], c5[16], c6[16];
    printf("%6d %-14s %3d %4d%s %9.3f %9.3f %11.0f %9.2f %7s %8s %7s %7s %7s %9s\n", first,
           row->label, row->threads, row->t.runs, row->t.cold ? "*" : " ", row->t.median_s * 1e3,
           row->t.min_s * 1e3, row->sps, row->gflops, format_or_dash(c1, "%.1f%%", 100.0 * row->gflops / row->peak),
           format_or_dash(c2, "%.1fx", row->sps / row->naive_sps), format_or_dash(c3, "%.1f%%", 100 * s->gemm_share),
           format_or_dash(c4, "%.1f%%", 100 * s->elem_share), format_or_dash(c5, "%.1f%%", 100 * s->other_share),
           format_or_dash(c6, "%.1f%%", s->gemm_pct));
    fflush(stdout);
}

static void record_step_row(bench *b, const step_row *row)
{
    bench_record *r = bench_report_add(&b->rep, "step");
    if (!r)
        return;
    snprintf(r->backend, sizeof r->backend, "%.15s", row->label);
    snprintf(r->op, sizeof r->op, "step-%s", row->section);
    snprintf(r->shape, sizeof r->shape, "%.39s", b->arch_text);
    r->threads = row->threads;
    r->batch = row->batch;
    r->runs = row->t.runs;
    r->median_s = row->t.median_s;
    r->min_s = row->t.min_s;
    r->gflops = row->gflops;
    r->pct_peak = 100.0 * row->gflops / row->peak;
    r->speedup = row->sps / row->naive_sps;
    r->samples_s = row->sps;
    r->gemm_share = row->split.gemm_share;
    r->elem_share = row->split.elem_share;
    r->other_share = row->split.other_share;
    r->gemm_pct_peak = row->split.gemm_pct;
}

/* The name a step row carries: the backend, with the plan mode when blas runs under more than one. */
static const char *step_label(const bench *b, int be, bn_plan_mode mode, char *buf, size_t size)
{
    if (be != BE_BLAS || (b->o.n_plans == 1 && mode == BN_PLAN_ESTIMATE))
        return backend_names[be];
    snprintf(buf, size, "blas:%s", bn_plan_mode_name(mode));
    return buf;
}

/* Plans the net's products for this batch and team (blas only), and prints the plan when asked. */
static void plan_step(bench *b, bn_net *net, int be, int batch, bn_plan_mode mode)
{
    if (be != BE_BLAS)
        return;
    bn_net_plan(net, mode, batch);
    if (!b->o.show_plan)
        return;
    char text[4096];
    bn_net_plan_format(net, text, sizeof text);
    printf("%s", text);
}

/* Times the step, then profiles a few more steps through prof_backend for the split. */
static step_result run_step(bench *b, bn_net *net, int be, int threads, int batch, double naive_sps,
                            const char *section, bn_plan_mode mode)
{
    step_result res = {NAN, NAN, false};
    bn_set_threads(threads);
    bn_net_set_backend(net, b->be[be]);
    plan_step(b, net, be, batch, mode);
    reset_params(net);
    step_ctx ctx = {net, batch, {.lr = 1e-3f, .momentum = 0.9f, .weight_decay = 0.0f, .nesterov = false}, 0.0, 0};
    bench_timing t = bench_measure(step_call, &ctx, b->o.budget_s, 3, MAX_SAMPLES, b->samples);
    char buf[32];
    const char *label = step_label(b, be, mode, buf, sizeof buf);
    if (ctx.status || !isfinite(ctx.loss)) {
        printf("%6d %-14s step failed: %s (loss %g)\n", batch, label, ctx.status ? bn_errmsg() : "non-finite loss",
               ctx.loss);
        b->failures++;
        return res;
    }
    double flops = step_flops_per_sample(&net->arch) * batch;
    step_row row = {section, label, be, threads, batch, t, flops / t.median_s * 1e-9, peak_at(b, threads),
                    batch / t.median_s, naive_sps, {NAN, NAN, NAN, NAN}};
    if (be == BE_NAIVE)
        row.naive_sps = row.sps; /* naive is its own base: 1.0x */
    row.split = profile_step(b, &ctx, be, t.median_s, flops, row.peak);
    print_step_row(&row);
    record_step_row(b, &row);
    res.median_s = t.median_s;
    res.sps = row.sps;
    res.ran = true;
    return res;
}

/* One backprop of every backend at a small batch against naive's: loss and every gradient, before timing. */
static void verify_step(bench *b, bn_net *net, int batch)
{
    size_t count;
    float *grads = bn_net_grads(net, &count);
    float *ref = xmalloc(count * sizeof(float)), *got = xmalloc(count * sizeof(float));
    double ref_loss = 0.0;
    printf("step check, batch %d, loss and every gradient against naive:", batch);
    for (int be = 0; be < N_BACKENDS; be++) {
        if (!b->o.use[be] && be != BE_NAIVE)
            continue;
        bn_set_threads(be == BE_NAIVE ? 1 : b->o.threads);
        bn_net_set_backend(net, b->be[be]);
        reset_params(net);
        double loss = NAN;
        int s = bn_net_backprop(net, bn_net_input(net), bn_net_labels(net), batch, &loss, NULL);
        if (s) {
            printf(" %s: %s", backend_names[be], bn_errmsg());
            b->failures++;
            continue;
        }
        if (be == BE_NAIVE) {
            memcpy(ref, grads, count * sizeof(float));
            ref_loss = loss;
            continue;
        }
        memcpy(got, grads, count * sizeof(float));
        double err = residual(got, ref, count), el = fabs(loss - ref_loss) / fabs(ref_loss);
        err = el > err ? el : err;
        /* three layers of K<=1024 sums in a different order: ~1e-6 seen; 1e-4 leaves room for a ReLU whose
         * input sits within rounding of zero */
        const char *v = verdict(err, 1e-4);
        b->failures += strcmp(v, "FAIL") == 0;
        printf(" %s %s (%.1e)", backend_names[be], v, err);
    }
    printf("\n");
    free(ref);
    free(got);
}

/* Random pixels in [0,1) and labels in the net's input: the shapes of MNIST, no file needed. */
/* The naive backends' last step: time, batch and threads. A step is skipped when it is predicted to take
 * over the cap: their cost grows linearly with the batch (and falls at best linearly with threads). */
typedef struct naive_history {
    double last_s[N_BACKENDS];
    int last_b[N_BACKENDS], last_t[N_BACKENDS];
} naive_history;

static bool over_naive_cap(const bench *b, const naive_history *h, int be, int batch, int threads)
{
    if (be == BE_BLAS || !h->last_b[be])
        return false;
    return h->last_s[be] * batch / h->last_b[be] * h->last_t[be] / threads > b->o.naive_cap_s;
}

static void remember_step(naive_history *h, int be, step_result r, int batch, int threads)
{
    h->last_s[be] = r.median_s;
    h->last_b[be] = batch;
    h->last_t[be] = threads;
}

/* Every batch size at the run's threads (naive on one thread), each backend asked for. */
static void sweep_batches(bench *b, bn_net *net, naive_history *h)
{
    const options *o = &b->o;
    printf("\n-- batch sweep, %d threads (naive: 1 thread; naive backends skipped where a step would take "
           "over %.1f s) --\n",
           o->threads, o->naive_cap_s);
    print_step_header("batch");
    for (int i = 0; i < o->n_batches; i++) {
        int batch = o->batches[i];
        double naive_sps = NAN;
        for (int be = 0; be < N_BACKENDS; be++) {
            int threads = be == BE_NAIVE ? 1 : o->threads;
            if (!o->use[be] || over_naive_cap(b, h, be, batch, threads))
                continue;
            for (int p = 0; p < (be == BE_BLAS ? o->n_plans : 1); p++) {
                step_result r = run_step(b, net, be, threads, batch, naive_sps, "batch", o->plans[p]);
                if (!r.ran)
                    continue;
                if (be == BE_NAIVE)
                    naive_sps = r.sps;
                remember_step(h, be, r, batch, threads);
            }
        }
    }
}

/* Every thread count at the run's batch. Naive is single-threaded, so it runs once, at the first count. */
static void sweep_threads(bench *b, bn_net *net, naive_history *h)
{
    const options *o = &b->o;
    printf("\n-- thread sweep, batch %d (naive is single-threaded: it is measured once, as the x naive "
           "base; naive backends skipped where a step would take over %.1f s) --\n",
           o->batch, o->naive_cap_s);
    double naive_sps = NAN;
    print_step_header("thr");
    for (int i = 0; i < o->n_threads; i++) {
        for (int be = 0; be < N_BACKENDS; be++) {
            if (!o->use[be] || (be == BE_NAIVE && i > 0))
                continue;
            int threads = be == BE_NAIVE ? 1 : o->thread_list[i];
            if (over_naive_cap(b, h, be, o->batch, threads))
                continue;
            for (int p = 0; p < (be == BE_BLAS ? o->n_plans : 1); p++) {
                step_result r = run_step(b, net, be, threads, o->batch, naive_sps, "threads", o->plans[p]);
                if (!r.ran)
                    continue;
                if (be == BE_NAIVE)
                    naive_sps = r.sps;
                remember_step(h, be, r, o->batch, threads);
            }
        }
    }
}

static int largest_batch(const options *o)
{
    int max_batch = o->batch;
    for (int i = 0; i < o->n_batches; i++)
        max_batch = o->batches[i] > max_batch ? o->batches[i] : max_batch;
    return max_batch;
}

/* Whole training steps on one net sized for the largest batch: checked first, then the sweeps asked for.
 * 0, or -1 when the net cannot be made. */
static int section_steps(bench *b)
{
    const options *o = &b->o;
    bn_net *net = NULL;
    if (bn_net_create(&net, &o->arch, largest_batch(o), b->be[BE_BLAS])) {
        fprintf(stderr, "blasnet-bench: %s\n", bn_errmsg());
        return -1;
    }
    bench_stage_random_batch(net);
    printf("\n== whole training step: backprop + SGD momentum on random data, %s ==\n",
           bn_act_name(o->arch.act));
    printf("(FLOPs per sample %.3g: 2*in*out per product; %%mpeak: of the measured peak, square sgemm at the "
           "same thread count; step ms the median, best ms the fastest step (what a quiet machine gives); "
           "sgemm%%/elem%%/other%% from separate profiled steps that time each call; sgemm%%mpk: the "
           "step's sgemm calls alone as %% of the measured peak; * = one cold call)\n",
           step_flops_per_sample(&o->arch));
    verify_step(b, net, 8 < bn_net_max_batch(net) ? 8 : bn_net_max_batch(net));
    naive_history h = {{0, 0, 0}, {0, 0, 0}, {1, 1, 1}};
    if (o->sections & SEC_BATCH)
        sweep_batches(b, net, &h);
    if (o->sections & SEC_THREADS)
        sweep_threads(b, net, &h);
    bn_net_destroy(&net);
    bn_set_threads(o->threads);
    b->failures += bench_default_step(peak_at(b, o->threads), o->budget_s, b->samples);
    return 0;
}

/* ---- summary --------------------------------------------------------------------------------------------- */

static const bench_record *find_step(const bench *b, const char *backend, int batch, int threads)
{
    const bench_record *found = NULL;
    for (int i = 0; i < b->rep.n; i++) {
        const bench_record *r = &b->rep.rec[i];
        if (strcmp(r->section, "step") == 0 && strcmp(r->backend, backend) == 0 && r->batch == batch &&
            r->threads == threads)
            found = r; /* the last one: the thread sweep's, when both sweeps measured it */
    }
    return found;
}

/* Other programs on a shared machine can slow the peak measurement itself, which would flatter every % of
 * peak. Measure it again at the end: if it is now higher, the first one was disturbed; the summary uses the
 * higher one and the reader is told. */
static void recheck_peak(bench *b, double *peak_now)
{
    int t = b->o.threads;
    double first = peak_at(b, t), best;
    bn_set_threads(t);
    double again = measure_peak(b, b->o.peak_n, &best);
    *peak_now = isnan(again) || again < first ? first : again;
    printf("\nmeasured peak at %d threads, again at the end: %.1f GFLOP/s (start: %.1f)%s\n", t, again, first,
           again > 1.1 * first ? " -- the start was disturbed by other load: the %mpeak columns above are "
                                 "too high; rerun on a quiet machine" : "");
}

/* Three figures that sum up a run of the step sweeps: how near the machine's own sgemm the batch-256 step
 * comes, what BLAS buys over the naive loops at batch 128, and the elementwise kernels' share of a step. */
static void report_summary(const bench *b, double peak_now)
{
    const options *o = &b->o;
    const bench_record *s256 = find_step(b, "blas", 256, o->threads);
    const bench_record *n128 = find_step(b, "naive", 128, 1), *b128 = find_step(b, "blas", 128, o->threads);
    if (!s256 && !(n128 && b128))
        return;
    char desc[128];
    printf("\n== summary: %s, against the higher measured peak ==\n", bn_arch_format(&o->arch, desc, sizeof desc));
    if (s256) {
        double pct = 100.0 * s256->gflops / peak_now, gpct = s256->gemm_pct_peak * peak_at(b, o->threads) / peak_now;
        printf("step at batch 256, %d thread%s: %.1f%% of the measured peak (its sgemm calls alone: %.1f%%)\n",
               o->threads, o->threads == 1 ? "" : "s", pct, gpct);
        if (!isnan(s256->elem_share))
            printf("elementwise kernels at batch 256: %.1f%% of the step\n", 100 * s256->elem_share);
    }
    if (n128 && b128)
        printf("blas step at batch 128 against the naive step (1 thread): %.1fx\n",
               b128->samples_s / n128->samples_s);
}

/* ---- options and main -------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blasnet-bench [options]\n"
            "  --layers LIST      architecture (default 784,1024,1024,10)\n"
            "  --act NAME         hidden activation (default relu)\n"
            "  --batch N          batch of the per-op table and the thread sweep (default 256)\n"
            "  --threads N        threads of the run (default $OMP_NUM_THREADS, else all cores)\n"
            "  --quick            short version (meson test --benchmark): peak n=2048, short repeats\n"
            "  --sweep            full sweeps: batch 1..4096, threads 1..all cores\n"
            "  --batches LIST     batch sizes of the batch sweep\n"
            "  --thread-list LIST thread counts of the thread sweep\n"
            "  --backends LIST    of naive,naive-omp,blas for the sweeps (the per-op table always has all)\n"
            "  --only LIST        sections among peak,cores,ops,batch,threads,plans (default all), and data (loading\n"
            "                     $BLASNET_DATA or data/mnist as gzip IDX and as CSV: only when named) and recipe\n"
            "                     (a step under each optimizer, clipping and dropout against sgd: only when named)\n"
            "  --peak-n N         size of the square sgemm that measures the peak (default 4096)\n"
            "  --budget S         seconds of repeats per measurement (default 0.5, quick 0.15)\n"
            "  --naive-cap S      longest naive step the sweeps attempt (default 10, quick 4)\n"
            "  --json FILE, --csv FILE   every measurement, for machines\n"
            "  --plans LIST       product plans of the blas steps, interleaved: of estimate,measure,one,library,\n"
            "                     rows,cols,tiles,k (default estimate; library is OpenBLAS's own threading)\n"
            "  --show-plan        print each blas step's plan: every product's partition and its cost\n"
            "  --peak-only        print one line with the sgemm peak and exit (used in child processes)\n");
}

enum { O_LAYERS = 256, O_ACT, O_BATCH, O_THREADS, O_QUICK, O_SWEEP, O_BATCHES, O_TLIST, O_BACKENDS, O_ONLY,
       O_PEAKN, O_BUDGET, O_CAP, O_JSON, O_CSV, O_PEAKONLY, O_PLANS, O_SHOWPLAN, O_HELP };

static const struct option long_options[] = {
    {"layers", required_argument, 0, O_LAYERS},   {"act", required_argument, 0, O_ACT},
    {"batch", required_argument, 0, O_BATCH},     {"threads", required_argument, 0, O_THREADS},
    {"quick", no_argument, 0, O_QUICK},           {"sweep", no_argument, 0, O_SWEEP},
    {"batches", required_argument, 0, O_BATCHES}, {"thread-list", required_argument, 0, O_TLIST},
    {"backends", required_argument, 0, O_BACKENDS}, {"only", required_argument, 0, O_ONLY},
    {"peak-n", required_argument, 0, O_PEAKN},    {"budget", required_argument, 0, O_BUDGET},
    {"naive-cap", required_argument, 0, O_CAP},   {"json", required_argument, 0, O_JSON},
    {"csv", required_argument, 0, O_CSV},         {"peak-only", no_argument, 0, O_PEAKONLY},
    {"plans", required_argument, 0, O_PLANS},     {"show-plan", no_argument, 0, O_SHOWPLAN},
    {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0}};

/* The text of --batches and --thread-list, read once every other option is known: their defaults depend
 * on --quick, --sweep and --threads. */
typedef struct list_args {
    const char *batches, *threads;
} list_args;

/* The defaults that do not depend on other options; peak_n, budget_s and naive_cap_s stay unset (0 or -1)
 * until --quick is known. */
static int set_defaults(options *o)
{
    memset(o, 0, sizeof *o);
    if (bn_arch_parse_sizes(&o->arch, "784,1024,1024,10"))
        return -1;
    o->arch.act = BN_ACT_RELU;
    o->arch.leaky_slope = 0.01f;
    o->batch = 256;
    o->threads = bn_default_threads();
    o->peak_n = 0;
    o->sections = SEC_ALL;
    o->plans[0] = BN_PLAN_ESTIMATE;
    o->n_plans = 1;
    for (int i = 0; i < N_BACKENDS; i++)
        o->use[i] = true;
    o->budget_s = -1;
    o->naive_cap_s = -1;
    return 0;
}

/* The set (bit i for names[i]) of a comma-separated list of names; -1, the unknown name reported, when one
 * is not among them. expected lists the names for that message. */
static int read_name_set(const char *flag, const char *text, const char *const *names, int n_names,
                         const char *expected, unsigned *set)
{
    *set = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, ",");
        int k = -1;
        for (int i = 0; i < n_names; i++)
            if (strlen(names[i]) == l && strncmp(p, names[i], l) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "blasnet-bench: %s: '%.*s' is not %s\n", flag, (int)l, p, expected);
            return -1;
        }
        *set |= 1u << k;
        p += l + (p[l] == ',');
    }
    return 0;
}

static int read_backends(options *o, const char *text)
{
    unsigned set;
    if (read_name_set("--backends", text, backend_names, N_BACKENDS, "naive, naive-omp or blas", &set))
        return -1;
    for (int i = 0; i < N_BACKENDS; i++)
        o->use[i] = set & (1u << i);
    return 0;
}

static int read_sections(options *o, const char *text)
{
    int n = (int)(sizeof section_names / sizeof section_names[0]);
    return read_name_set("--only", text, section_names, n,
                         "peak, cores, ops, batch, threads, plans, data or recipe", &o->sections);
}

static int read_layers(options *o, const char *text)
{
    if (bn_arch_parse_sizes(&o->arch, text) == 0)
        return 0;
    fprintf(stderr, "blasnet-bench: --layers %s: %s\n", text, bn_errmsg());
    return -1;
}

static int read_act(options *o, const char *text)
{
    if (bn_act_parse(&o->arch.act, text) == 0)
        return 0;
    fprintf(stderr, "blasnet-bench: --act %s: %s\n", text, bn_errmsg());
    return -1;
}

static int read_plans(options *o, const char *text)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    o->n_plans = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_plans == BN_PLAN_MODES || bn_plan_mode_parse(tok, &o->plans[o->n_plans])) {
            fprintf(stderr, "blasnet-bench: --plans %s: %s\n", text,
                    o->n_plans == BN_PLAN_MODES ? "too many plans" : bn_errmsg());
            return -1;
        }
        o->n_plans++;
    }
    return o->n_plans ? 0 : -1;
}

/* Applies one option from getopt_long: 0, or -1 with the reason printed. */
static int apply_option(options *o, list_args *lists, int c, const char *arg)
{
    switch (c) {
    case O_LAYERS: return read_layers(o, arg);
    case O_ACT: return read_act(o, arg);
    case O_BATCH: return bench_read_int(PROGRAM, "--batch", arg, 1, 65536, &o->batch);
    case O_THREADS: return bench_read_int(PROGRAM, "--threads", arg, 1, MAX_THREADS, &o->threads);
    case O_PEAKN: return bench_read_int(PROGRAM, "--peak-n", arg, 16, 16384, &o->peak_n);
    case O_BUDGET: return bench_read_double(PROGRAM, "--budget", arg, 1e-3, 3600, &o->budget_s);
    case O_CAP: return bench_read_double(PROGRAM, "--naive-cap", arg, 0, 3600, &o->naive_cap_s);
    case O_BACKENDS: return read_backends(o, arg);
    case O_ONLY: return read_sections(o, arg);
    case O_BATCHES: lists->batches = arg; return 0;
    case O_TLIST: lists->threads = arg; return 0;
    case O_JSON: o->json = arg; return 0;
    case O_CSV: o->csv = arg; return 0;
    case O_QUICK: o->quick = true; return 0;
    case O_SWEEP: o->sweep = true; return 0;
    case O_PEAKONLY: o->peak_only = true; return 0;
    case O_PLANS: return read_plans(o, arg);
    case O_SHOWPLAN: o->show_plan = true; return 0;
    case O_HELP: usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
}

/* Range checks, and the defaults that depend on --quick. */
static int settle_sizes(options *o)
{
    if (o->batch < 1 || o->batch > 65536 || o->threads < 1 || o->threads > MAX_THREADS) {
        fprintf(stderr, "blasnet-bench: --batch must be 1..65536 and --threads 1..%d\n", MAX_THREADS);
        return -1;
    }
    if (o->peak_n == 0)
        o->peak_n = o->quick ? 2048 : 4096;
    if (o->peak_n < 16 || o->peak_n > 16384) {
        fprintf(stderr, "blasnet-bench: --peak-n must be 16..16384\n");
        return -1;
    }
    if (o->budget_s < 0)
        o->budget_s = o->quick ? 0.15 : 0.5;
    if (o->naive_cap_s < 0)
        o->naive_cap_s = o->quick ? 4.0 : 10.0;
    return 0;
}

/* The batch sweep's sizes: --batches, else powers of two to 4096 (--sweep), else a short list. */
static void choose_batches(options *o, const char *text)
{
    static const int quick[] = {1, 16, 64, 128, 256, 1024};
    if (text) {
        o->n_batches = bench_parse_list(text, o->batches, MAX_LIST, 1, 65536);
    } else if (o->sweep) {
        for (int v = 1; v <= 4096; v *= 2)
            o->batches[o->n_batches++] = v;
    } else {
        for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
            o->batches[o->n_batches++] = quick[i];
        if (!o->quick)
            o->batches[o->n_batches++] = 4096;
    }
}

/* The thread sweep's counts: --thread-list, else 1..all cores (--sweep), else 1 and the run's threads. */
static void choose_thread_list(options *o, const char *text)
{
    if (text) {
        o->n_threads = bench_parse_list(text, o->thread_list, MAX_LIST, 1, MAX_THREADS);
    } else if (o->sweep) {
        int all = omp_get_num_procs();
        all = all > o->threads ? all : o->threads;
        for (int t = 1; t <= all && o->n_threads < MAX_LIST; t++)
            o->thread_list[o->n_threads++] = t;
    } else {
        o->thread_list[o->n_threads++] = 1;
        if (o->threads > 1)
            o->thread_list[o->n_threads++] = o->threads;
    }
}

static int parse_options(options *o, int argc, char **argv)
{
    list_args lists = {NULL, NULL};
    if (set_defaults(o))
        return -1;
    int c;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1)
        if (apply_option(o, &lists, c, optarg))
            return -1;
    if (optind < argc) {
        fprintf(stderr, "blasnet-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (settle_sizes(o))
        return -1;
    choose_batches(o, lists.batches);
    choose_thread_list(o, lists.threads);
    if (o->n_batches < 1 || o->n_threads < 1) {
        fprintf(stderr, "blasnet-bench: --batches / --thread-list: comma-separated positive numbers\n");
        return -1;
    }
    return 0;
}

static void header(bench *b)
{
    const options *o = &b->o;
    char cpu[256], *arch_text = b->arch_text;
    bench_cpu_model(cpu, sizeof cpu);
    arch_text[0] = '\0';
    for (int l = 0; l <= o->arch.depth; l++) {
        size_t len = strlen(arch_text);
        snprintf(arch_text + len, sizeof b->arch_text - len, "%s%d", l ? "-" : "", o->arch.sizes[l]);
    }
    const char *env_core = getenv("OPENBLAS_CORETYPE"), *env_omp = getenv("OMP_NUM_THREADS");
    const char *env_ob = getenv("OPENBLAS_NUM_THREADS"), *env_wait = getenv("OMP_WAIT_POLICY");
    bn_set_threads(o->threads);
    size_t len = strlen(arch_text);
    snprintf(arch_text + len, sizeof b->arch_text - len, " %s", bn_act_name(o->arch.act));
    printf("blasnet-bench %s: %s, batch %d, %d threads%s%s\n", BLASNET_VERSION, arch_text, o->batch, o->threads,
           o->quick ? ", quick" : "", o->sweep ? ", sweep" : "");
    printf("cpu: %s, %d cores online\n", cpu, omp_get_num_procs());
    printf("blas: %s\n", bn_blas_config());
    printf("blas kernel: %s (OPENBLAS_CORETYPE=%s; best for this CPU: %s), threading %s\n", bn_blas_corename(),
           env_core ? env_core : "(unset)", bn_cpu_best_blas_core(), parallel_name(bn_blas_parallel()));
    printf("threads: omp_get_max_threads %d, openblas_get_num_threads %d; env OMP_NUM_THREADS=%s "
           "OPENBLAS_NUM_THREADS=%s OMP_WAIT_POLICY=%s\n",
           omp_get_max_threads(), openblas_get_num_threads(), env_omp ? env_omp : "(unset)",
           env_ob ? env_ob : "(unset)", env_wait ? env_wait : "(unset)");
    bench_report *r = &b->rep;
    bench_report_meta(r, "version", "%s", BLASNET_VERSION);
    bench_report_meta(r, "arch", "%s", arch_text);
    bench_report_meta(r, "act", "%s", bn_act_name(o->arch.act));
    bench_report_meta(r, "batch", "%d", o->batch);
    bench_report_meta(r, "threads", "%d", o->threads);
    bench_report_meta(r, "cpu", "%s", cpu);
    bench_report_meta(r, "cores", "%d", omp_get_num_procs());
    bench_report_meta(r, "blas_config", "%s", bn_blas_config());
    bench_report_meta(r, "blas_core", "%s", bn_blas_corename());
    bench_report_meta(r, "blas_best_core", "%s", bn_cpu_best_blas_core());
    bench_report_meta(r, "blas_parallel", "%s", parallel_name(bn_blas_parallel()));
    bench_report_meta(r, "OPENBLAS_CORETYPE", "%s", env_core ? env_core : "");
    bench_report_meta(r, "OMP_NUM_THREADS", "%s", env_omp ? env_omp : "");
    bench_report_meta(r, "OPENBLAS_NUM_THREADS", "%s", env_ob ? env_ob : "");
    bench_report_meta(r, "OMP_WAIT_POLICY", "%s", env_wait ? env_wait : "");
    bench_report_meta(r, "peak_n", "%d", o->peak_n);
}

static int find_backends(bench *b)
{
    for (int i = 0; i < N_BACKENDS; i++) {
        b->be[i] = bn_backend_find(backend_names[i]);
        if (!b->be[i]) {
            fprintf(stderr, "blasnet-bench: the library has no '%s' backend\n", backend_names[i]);
            return -1;
        }
    }
    return 0;
}

/* --peak-only: the one line child_peak reads back. The exit status: 1 when the peak failed its check. */
static int run_peak_only(bench *b)
{
    bn_set_threads(b->o.threads);
    double best;
    double g = measure_peak(b, b->o.peak_n, &best);
    printf("peak core=%s threads=%d n=%d gflops=%.3f best_s=%.6f\n", bn_blas_corename(), b->o.threads,
           b->o.peak_n, g, best);
    return isnan(g) ? 1 : 0;
}

/* The sections asked for, the summary and the files. The exit status: 1 on a verification failure, a
 * net that cannot be made (nothing after it runs) or a file not written. */
static int run_benchmark(bench *b)
{
    const options *o = &b->o;
    double t0 = bench_now();
    header(b);
    if (o->sections & (SEC_PEAK | SEC_CORES))
        section_peak(b);
    if (o->sections & SEC_CORES)
        section_cores(b);
    if (o->sections & SEC_OPS)
        section_ops(b);
    if (o->sections & SEC_PLANS) {
        bn_set_threads(o->threads);
        bench_plans_section(&o->arch, o->batch, o->budget_s, b->samples);
    }
    if ((o->sections & (SEC_BATCH | SEC_THREADS)) && section_steps(b))
        return 1;
    if (o->sections & SEC_RECIPE) {
        bn_set_threads(o->threads);
        b->failures += bench_recipe_section(&o->arch, o->batch, o->budget_s, b->samples);
    }
    if (o->sections & SEC_DATA) {
        const char *env = getenv("BLASNET_DATA");
        b->failures += bench_data_section(env && *env ? env : "data/mnist", o->budget_s, b->samples);
    }
    double peak_now = peak_at(b, o->threads);
    if ((o->sections & SEC_PEAK) && (o->sections & (SEC_OPS | SEC_BATCH | SEC_THREADS)))
        recheck_peak(b, &peak_now);
    report_summary(b, peak_now);
    printf("\n%d verification failure(s); %.1f s in all\n", b->failures, bench_now() - t0);
    int rc = b->failures ? 1 : 0;
    if (b->rep.dropped)
        fprintf(stderr, "blasnet-bench: %d records did not fit and are missing from the files\n", b->rep.dropped);
    if (o->csv && bench_report_write_csv(&b->rep, o->csv))
        rc = 1;
    if (o->json && bench_report_write_json(&b->rep, o->json))
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    if (parse_options(&b.o, argc, argv))
        return 2;
    if (find_backends(&b))
        return 1;
    for (int t = 0; t <= MAX_THREADS; t++)
        b.peak[t] = NAN;
    b.samples = xmalloc(MAX_SAMPLES * sizeof(double));
    int rc = 1;
    if (b.o.peak_only)
        rc = run_peak_only(&b);
    else if (bench_report_init(&b.rep, 4096) == 0)
        rc = run_benchmark(&b);
    else
        fprintf(stderr, "blasnet-bench: out of memory\n");
    bench_report_free(&b.rep);
    free(b.samples);
    return rc;
}
