/* blasnet-bench: what BLAS and threads buy, op by op and step by step. It measures this machine's own
 * sgemm peak (and each other OpenBLAS kernel's, in a re-executed child), checks every backend against the
 * naive one before timing it, and reports medians, GFLOP/s or GB/s, % of peak and speed-up over naive.
 * No figure is assumed; no buffer is allocated inside a timed loop. */
#include "act.h"
#include "backend.h"
#include "blasnet.h"
#include "net.h"
#include "report.h"
#include "timer.h"

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

extern char **environ;

#define MAX_SAMPLES 8192
#define MAX_LIST 32
#define MAX_THREADS 256
#define N_BACKENDS 3 /* naive, naive-omp, blas: the order of every table */
#define U_FLOAT (FLT_EPSILON / 2) /* unit roundoff of float, 2^-24 */

enum { SEC_PEAK = 1, SEC_CORES = 2, SEC_OPS = 4, SEC_BATCH = 8, SEC_THREADS = 16, SEC_ALL = 31 };
static const char *const section_names[] = {"peak", "cores", "ops", "batch", "threads"};
static const char *const backend_names[N_BACKENDS] = {"naive", "naive-omp", "blas"};

typedef struct options {
    bn_arch arch;
    int batch, threads, peak_n;
    bool quick, sweep, peak_only;
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
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "blasnet-bench: cannot allocate %.1f MiB\n", bytes / 1048576.0);
        exit(1);
    }
    return p;
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

static int parse_list(const char *text, int *out, int cap, int lo, int hi)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || v > hi || n == cap)
            return -1;
        out[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

/* A figure, or "-" where it was not measured (NaN); buf holds 16 bytes. */
static const char *opt(char *buf, const char *fmt, double v)
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

static void cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon += 1 + (colon[1] == ' ');
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, size, "%s", colon);
            }
            break;
        }
    }
    fclose(f); /* read-only: nothing to lose on close */
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

/* Runs this program again with OPENBLAS_CORETYPE=core (the kernel is chosen when OpenBLAS loads, so there
 * is no other way) and --peak-only, and reads back its one line. */
static double child_peak(const char *core, int n, int threads, char *got, size_t got_size)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **envp = calloc(count + 2, sizeof *envp);
    char coreenv[96], nbuf[16], tbuf[16];
    if (!envp)
        return NAN;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0)
            envp[k++] = environ[i];
    snprintf(coreenv, sizeof coreenv, "OPENBLAS_CORETYPE=%s", core);
    envp[k++] = coreenv;
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    char *argv[] = {"/proc/self/exe", "--peak-only", "--peak-n", nbuf, "--threads", tbuf, NULL};

    int fd[2];
    if (pipe(fd) != 0) {
        free(envp);
        return NAN;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec: the parent has OpenMP threads */
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(fd[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t r;
    while (pid > 0 && len < sizeof buf - 1 && (r = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd[0]);
    int wstatus = 0;
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    free(envp);
    if (pid < 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        return NAN;
    const char *g = strstr(buf, "gflops="), *c = strstr(buf, "core=");
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

static void section_peak(bench *b)
{
    const options *o = &b->o;
    printf("\n== machine peak: square sgemm n=%d, best of 5 after a warm-up, kernel %s ==\n", o->peak_n,
           bn_blas_corename());
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
        bench_record *r = bench_report_add(&b->rep, "peak");
        if (r) {
            snprintf(r->backend, sizeof r->backend, "blas");
            snprintf(r->op, sizeof r->op, "sgemm-%s", bn_blas_corename());
            snprintf(r->shape, sizeof r->shape, "%dx%dx%d", o->peak_n, o->peak_n, o->peak_n);
            r->threads = t;
            r->runs = 5;
            r->min_s = best;
            r->gflops = b->peak[t];
            r->pct_peak = 100.0;
        }
    }
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
        bench_record *r = bench_report_add(&b->rep, "core");
        if (r) {
            snprintf(r->backend, sizeof r->backend, "blas");
            snprintf(r->op, sizeof r->op, "sgemm-%s", cores[i]);
            snprintf(r->shape, sizeof r->shape, "%dx%dx%d", o->peak_n, o->peak_n, o->peak_n);
            r->threads = o->threads;
            r->runs = 5;
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
    c->be->gemm(c->ta, c->tb, c->M, c->N, c->K, 1.0f, c->A, c->lda, c->B, c->ldb, 0.0f, c->C, c->N);
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
    case EW_BIAS_ACT: c->be->bias_act(c->out0, c->out1, c->in0, c->rows, c->n, c->act, c->slope); break;
    /* dZ (count) = dY * act'(Z, Y): out of place, so repeated calls see the same dY (in place, sigmoid's
     * factor would shrink dY into denormals and time those instead) */
    case EW_ACT_BACKWARD: c->be->act_backward(c->out0, c->in0, c->in1, c->in2, c->count, c->act, c->slope); break;
    /* P (rows,C) <- softmax(P + b), dlogits (rows,C) */
    case EW_SOFTMAX:
        c->result = c->be->bias_softmax_xent(c->out1, c->out0, c->in0, c->labels, c->rows, c->n, 1.0f / c->rows,
                                        &correct);
        break;
    /* db (n) = column sums of G (rows,n) */
    case EW_BIAS_GRAD: c->be->bias_grad(c->out0, c->in0, c->rows, c->n); break;
    /* w, v (count) <- momentum step with g */
    case EW_SGD:
        c->result = c->be->sgd_update(c->out0, c->out1, c->in0, c->count, 1e-3f, 0.9f, 0.0f, false, false);
        break;
    default: break;
    }
}

typedef struct op_config {
    int backend, threads;
} op_config;

/* A result that fails its check is counted, reported on its row, and not timed. */
static bool failed(bench *b, const char *check, const char *name, const char *shape, const op_config *c,
                   double err, double tol)
{
    if (strcmp(check, "FAIL") != 0)
        return false;
    b->failures++;
    printf("%-14s %-16s %-10s %3d  FAIL: residual %.2e > %.1e, not timed\n", name, shape,
           backend_names[c->backend], c->threads, err, 100 * tol);
    return true;
}

typedef struct op_sums {
    double gemm_s, elem_s;
} op_sums;

static void print_op_header(void)
{
    printf("%-14s %-16s %-10s %3s %5s %11s %9s %-6s %7s %9s  %s\n", "op", "shape", "backend", "thr", "runs",
           "median ms", "rate", "unit", "%peak", "x naive", "check (residual)");
}

static void print_op_row(bench *b, const char *op, const char *shape, const op_config *c, bench_timing t,
                         double rate, bool is_gemm, double naive_s, const char *check, double err, int batch)
{
    double pct = is_gemm ? 100.0 * rate / peak_at(b, c->threads) : NAN;
    double speedup = naive_s / t.median_s;
    printf("%-14s %-16s %-10s %3d %4d%s %11.3f %9.2f %-6s", op, shape, backend_names[c->backend], c->threads,
           t.runs, t.cold ? "*" : " ", t.median_s * 1e3, rate, is_gemm ? "GFLOP/s" : "GB/s");
    char c1[16], c2[16];
    printf(" %7s %8s  %s", opt(c1, "%.1f%%", pct), opt(c2, "%.1fx", speedup), check);
    if (!isnan(err))
        printf(" (%.1e)", err);
    printf("\n");
    bench_record *r = bench_report_add(&b->rep, "op");
    if (r) {
        snprintf(r->backend, sizeof r->backend, "%s", backend_names[c->backend]);
        snprintf(r->op, sizeof r->op, "%s", op);
        snprintf(r->shape, sizeof r->shape, "%s", shape);
        r->threads = c->threads;
        r->batch = batch;
        r->runs = t.runs;
        r->median_s = t.median_s;
        r->min_s = t.min_s;
        if (is_gemm)
            r->gflops = rate;
        else
            r->gbs = rate;
        r->pct_peak = pct;
        r->speedup = speedup;
        snprintf(r->check, sizeof r->check, "%s", check);
        r->err = err;
    }
    fflush(stdout);
}

/* One sgemm shape for every configuration: naive first (its result is the reference), then each other
 * configuration is checked against it and only then timed. */
static void op_gemm(bench *b, const char *name, bool ta, bool tb, int M, int N, int K, const op_config *cfg,
                    int n_cfg, op_sums *sums)
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
    double flops = 2.0 * M * (double)N * K, naive_s = NAN;
    /* A float dot product of K terms drifts from another summation order by about sqrt(K)*u of the terms'
     * magnitude, K*u at worst; 4*K*u of the largest entry passes every honest kernel and no wrong one. */
    double tol = 4.0 * K * U_FLOAT;
    for (int i = 0; i < n_cfg; i++) {
        const op_config *c = &cfg[i];
        bn_set_threads(c->threads);
        gemm_ctx ctx = {b->be[c->backend], ta, tb, M, N, K, ta ? M : K, tb ? K : N, A, B, c->backend == 0 ? Cref : C};
        const char *check = "ref";
        double err = NAN;
        if (c->backend != 0) {
            memset(C, 0xff, c_n * sizeof(float)); /* NaN: an entry the kernel forgets to write fails */
            gemm_call(&ctx);
            err = residual(C, Cref, c_n);
            check = verdict(err, tol);
            if (failed(b, check, name, shape, c, err, tol))
                continue;
        }
        bench_timing t = bench_measure(gemm_call, &ctx, b->o.budget_s, 3, MAX_SAMPLES, b->samples);
        if (c->backend == 0)
            naive_s = t.median_s;
        sums[i].gemm_s += t.median_s;
        print_op_row(b, name, shape, c, t, flops / t.median_s * 1e-9, true, naive_s, check, err, b->o.batch);
    }
    free(A);
    free(B);
    free(C);
    free(Cref);
}

/* One elementwise op for every configuration. in0..in2 and the initial out0/out1 are the caller's; the
 * work and reference copies are made here. */
static void op_elementwise(bench *b, const char *name, const char *shape, ew_ctx base, size_t s0, size_t s1,
                           double bytes, double tol, const op_config *cfg, int n_cfg, op_sums *sums)
{
    float *init0 = base.out0, *init1 = base.out1;
    float *w0 = xmalloc(s0 * sizeof(float)), *r0 = xmalloc(s0 * sizeof(float));
    float *w1 = s1 ? xmalloc(s1 * sizeof(float)) : NULL, *r1 = s1 ? xmalloc(s1 * sizeof(float)) : NULL;
    double naive_s = NAN, ref_result = 0.0;
    for (int i = 0; i < n_cfg; i++) {
        const op_config *c = &cfg[i];
        bn_set_threads(c->threads);
        ew_ctx ctx = base;
        ctx.be = b->be[c->backend];
        ctx.out0 = w0;
        ctx.out1 = w1;
        memcpy(w0, init0, s0 * sizeof(float));
        if (s1)
            memcpy(w1, init1, s1 * sizeof(float));
        ew_call(&ctx);
        const char *check = "ref";
        double err = NAN;
        if (c->backend == 0) {
            memcpy(r0, w0, s0 * sizeof(float));
            if (s1)
                memcpy(r1, w1, s1 * sizeof(float));
            ref_result = ctx.result;
        } else {
            err = residual(w0, r0, s0);
            if (s1) {
                double e1 = residual(w1, r1, s1);
                err = e1 > err ? e1 : err;
            }
            if (ctx.result != ref_result) {
                double e2 = fabs(ctx.result - ref_result) / (fabs(ref_result) > 0 ? fabs(ref_result) : 1.0);
                err = e2 > err ? e2 : err;
            }
            check = verdict(err, tol);
            if (failed(b, check, name, shape, c, err, tol))
                continue;
        }
        bench_timing t = bench_measure(ew_call, &ctx, b->o.budget_s, 5, MAX_SAMPLES, b->samples);
        if (c->backend == 0)
            naive_s = t.median_s;
        sums[i].elem_s += t.median_s;
        print_op_row(b, name, shape, c, t, bytes / t.median_s * 1e-9, false, naive_s, check, err, b->o.batch);
    }
    free(w0);
    free(r0);
    free(w1);
    free(r1);
}

static void section_ops(bench *b)
{
    const options *o = &b->o;
    const bn_arch *a = &o->arch;
    const int L = a->depth, B = o->batch, T = o->threads;
    const int *n = a->sizes;
    op_config cfg[4];
    int n_cfg = 0;
    cfg[n_cfg++] = (op_config){0, 1};
    cfg[n_cfg++] = (op_config){1, T};
    cfg[n_cfg++] = (op_config){2, 1};
    if (T > 1)
        cfg[n_cfg++] = (op_config){2, T};
    op_sums sums[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};

    printf("\n== per op: the calls of one training step, batch %d, %s ==\n", B, bn_act_name(a->act));
    printf("(each backend checked against naive before it is timed; median over repeats; * = one cold call, a "
           "kernel too slow to repeat; %%peak against the sgemm peak at the same thread count)\n");
    print_op_header();
    char name[32];
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "fwd L%d", l + 1);
        /* Z (B, n[l+1]) = A (B, n[l]) . W (n[l], n[l+1]) */
        op_gemm(b, name, false, false, B, n[l + 1], n[l], cfg, n_cfg, sums);
    }
    for (int l = L - 1; l >= 0; l--) {
        snprintf(name, sizeof name, "dW L%d", l + 1);
        /* dW (n[l], n[l+1]) = A^T (n[l], B) . G (B, n[l+1]) */
        op_gemm(b, name, true, false, n[l], n[l + 1], B, cfg, n_cfg, sums);
        if (l > 0) {
            snprintf(name, sizeof name, "dA L%d", l + 1);
            /* dA (B, n[l]) = G (B, n[l+1]) . W^T (n[l+1], n[l]) */
            op_gemm(b, name, false, true, B, n[l], n[l + 1], cfg, n_cfg, sums);
        }
    }

    /* Elementwise inputs: values of the sizes and signs a training step sees. */
    int widest = 0;
    for (int l = 1; l <= L; l++)
        widest = n[l] > widest ? n[l] : widest;
    size_t big = (size_t)B * widest;
    size_t params = (size_t)bn_arch_param_count(a);
    size_t pool = big > params ? big : params;
    float *zin = xmalloc(pool * sizeof(float)), *yin = xmalloc(pool * sizeof(float));
    float *g = xmalloc(pool * sizeof(float)), *init0 = xmalloc(pool * sizeof(float));
    float *init1 = xmalloc(pool * sizeof(float)), *bias = xmalloc((size_t)widest * sizeof(float));
    int32_t *labels = xmalloc((size_t)B * sizeof(int32_t));
    bn_rng rng;
    bn_rng_seed(&rng, 7);
    fill_uniform(zin, pool, -2.0f, 2.0f, &rng);
    for (size_t i = 0; i < pool; i++)
        yin[i] = bn_act_fwd1(a->act, a->leaky_slope, zin[i]);
    fill_uniform(g, pool, -0.01f, 0.01f, &rng);
    fill_uniform(bias, (size_t)widest, -0.1f, 0.1f, &rng);
    for (int i = 0; i < B; i++)
        labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)n[L]);
    bool needs_z = bn_act_needs_z(a->act);
    /* Same operations in the same order in every backend up to vectorised expf/tanhf: a few ulps of the
     * largest value; 1e-5 is ~80 ulps. */
    const double tol = 1e-5;
    char shape[40];

    for (int l = 0; l < L - 1; l++) {
        size_t cnt = (size_t)B * n[l + 1];
        fill_uniform(init0, cnt, -2.0f, 2.0f, &rng);
        snprintf(name, sizeof name, "bias_act L%d", l + 1);
        snprintf(shape, sizeof shape, "%dx%d", B, n[l + 1]);
        ew_ctx base = {.kind = EW_BIAS_ACT, .out0 = init0, .out1 = needs_z ? init1 : NULL, .in0 = bias,
                       .rows = B, .n = n[l + 1], .act = a->act, .slope = a->leaky_slope};
        op_elementwise(b, name, shape, base, cnt, needs_z ? cnt : 0, 4.0 * (cnt * (needs_z ? 3 : 2) + n[l + 1]),
                       tol, cfg, n_cfg, sums);
    }
    {
        size_t cnt = (size_t)B * n[L];
        fill_uniform(init0, cnt, -3.0f, 3.0f, &rng);
        snprintf(shape, sizeof shape, "%dx%d", B, n[L]);
        ew_ctx base = {.kind = EW_SOFTMAX, .out0 = init0, .out1 = init1, .in0 = bias, .labels = labels, .rows = B,
                       .n = n[L]};
        op_elementwise(b, "softmax_xent", shape, base, cnt, cnt, 4.0 * (3.0 * cnt + B + n[L]), tol, cfg, n_cfg,
                       sums);
    }
    for (int l = L - 1; l >= 0; l--) {
        size_t cnt = (size_t)B * n[l + 1];
        snprintf(name, sizeof name, "bias_grad L%d", l + 1);
        snprintf(shape, sizeof shape, "%dx%d", B, n[l + 1]);
        ew_ctx base = {.kind = EW_BIAS_GRAD, .out0 = init0, .in0 = g, .rows = B, .n = n[l + 1]};
        /* column sums of B rows: the order is the same in every backend, but allow B*u of drift */
        double t2 = 4.0 * B * U_FLOAT > tol ? 4.0 * B * U_FLOAT : tol;
        op_elementwise(b, name, shape, base, (size_t)n[l + 1], 0, 4.0 * (cnt + n[l + 1]), t2, cfg, n_cfg, sums);
        if (l > 0) {
            size_t c2 = (size_t)B * n[l];
            snprintf(name, sizeof name, "act_bwd L%d", l);
            snprintf(shape, sizeof shape, "%dx%d", B, n[l]);
            memset(init0, 0, c2 * sizeof(float));
            ew_ctx bb = {.kind = EW_ACT_BACKWARD, .out0 = init0, .in0 = g, .in1 = needs_z ? zin : NULL, .in2 = yin,
                         .count = c2, .act = a->act, .slope = a->leaky_slope};
            op_elementwise(b, name, shape, bb, c2, 0, 4.0 * c2 * (needs_z ? 4 : 3), tol, cfg, n_cfg, sums);
        }
    }
    {
        fill_uniform(init0, params, -0.1f, 0.1f, &rng);
        memset(init1, 0, params * sizeof(float));
        snprintf(shape, sizeof shape, "%zu", params);
        ew_ctx base = {.kind = EW_SGD, .out0 = init0, .out1 = init1, .in0 = g, .count = params};
        op_elementwise(b, "sgd_update", shape, base, params, params, 4.0 * 5.0 * params, tol, cfg, n_cfg, sums);
    }
    free(zin);
    free(yin);
    free(g);
    free(init0);
    free(init1);
    free(bias);
    free(labels);

    printf("\nsum of per-op medians = one step's calls, batch %d:\n", B);
    printf("%-10s %3s %12s %14s %10s %12s\n", "backend", "thr", "sgemm ms", "elementwise ms", "elem share",
           "samples/s");
    for (int i = 0; i < n_cfg; i++) {
        double tot = sums[i].gemm_s + sums[i].elem_s;
        printf("%-10s %3d %12.3f %14.3f %9.1f%% %12.0f\n", backend_names[cfg[i].backend], cfg[i].threads,
               sums[i].gemm_s * 1e3, sums[i].elem_s * 1e3, 100.0 * sums[i].elem_s / tot, B / tot);
        bench_record *r = bench_report_add(&b->rep, "opsum");
        if (r) {
            snprintf(r->backend, sizeof r->backend, "%s", backend_names[cfg[i].backend]);
            snprintf(r->op, sizeof r->op, "sum");
            r->threads = cfg[i].threads;
            r->batch = B;
            r->median_s = tot;
            r->samples_s = B / tot;
            r->gemm_share = sums[i].gemm_s / tot;
            r->elem_share = sums[i].elem_s / tot;
        }
    }
    fflush(stdout);
}

/* ---- whole step ------------------------------------------------------------------------------------------ */

/* A backend that times each call of another: the step's split between sgemm and elementwise kernels. The
 * clock costs ~50 ns a call, about 20 calls a step, so profiled steps run separately from the timed ones. */
static const bn_backend *prof_inner;
static double prof_gemm_s, prof_elem_s;

static void prof_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc)
{
    double t = bench_now();
    prof_inner->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    prof_gemm_s += bench_now() - t;
}

static void prof_bias_act(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope)
{
    double t = bench_now();
    prof_inner->bias_act(Y, Z, b, rows, n, act, slope);
    prof_elem_s += bench_now() - t;
}

static void prof_act_backward(float *dZ, const float *dY, const float *Z, const float *Y, size_t n, bn_act act,
                              float slope)
{
    double t = bench_now();
    prof_inner->act_backward(dZ, dY, Z, Y, n, act, slope);
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

static double prof_sgd_update(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                              bool nesterov, bool want_sqnorm)
{
    double t = bench_now();
    double r = prof_inner->sgd_update(w, v, g, n, lr, mu, wd, nesterov, want_sqnorm);
    prof_elem_s += bench_now() - t;
    return r;
}

static const bn_backend prof_backend = {
    .name = "profiled",
    .gemm = prof_gemm,
    .bias_act = prof_bias_act,
    .act_backward = prof_act_backward,
    .bias_softmax_xent = prof_softmax_xent,
    .bias_grad = prof_bias_grad,
    .sgd_update = prof_sgd_update,
};

typedef struct step_ctx {
    bn_net *net;
    int batch;
    bn_sgd sgd;
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
    printf("%6s %-10s %3s %5s %9s %9s %11s %9s %7s %8s %7s %7s %7s %8s\n", first, "backend", "thr", "runs",
           "step ms", "best ms", "samples/s", "GFLOP/s", "%peak", "x naive", "sgemm%", "elem%", "other%", "sgemm%pk");
}

/* Times the step, then profiles a few more steps through prof_backend for the split. */
static step_result run_step(bench *b, bn_net *net, int be, int threads, int batch, double naive_sps,
                            const char *section)
{
    step_result res = {NAN, NAN, false};
    bn_set_threads(threads);
    bn_net_set_backend(net, b->be[be]);
    reset_params(net);
    step_ctx ctx = {net, batch, {.lr = 1e-3f, .momentum = 0.9f, .weight_decay = 0.0f, .nesterov = false}, 0.0, 0};
    bench_timing t = bench_measure(step_call, &ctx, b->o.budget_s, 3, MAX_SAMPLES, b->samples);
    if (ctx.status || !isfinite(ctx.loss)) {
        printf("%6d %-10s step failed: %s (loss %g)\n", batch, backend_names[be],
               ctx.status ? bn_errmsg() : "non-finite loss", ctx.loss);
        b->failures++;
        return res;
    }
    double flops = step_flops_per_sample(&net->arch) * batch;
    double gflops = flops / t.median_s * 1e-9, peak = peak_at(b, threads);
    double gemm_share = NAN, elem_share = NAN, other_share = NAN, gemm_pct = NAN;
    if (t.median_s < 0.5) { /* the naive steps that take seconds are all sgemm anyway; see the per-op table */
        int k = (int)ceil(0.25 * b->o.budget_s / t.median_s);
        k = k < 2 ? 2 : k > 200 ? 200 : k;
        prof_inner = b->be[be];
        bn_net_set_backend(net, &prof_backend);
        /* Medians of per-step figures, like the timed run: one disturbed step must not move the split. */
        double step_total[200], step_gemm[200], step_elem[200];
        for (int i = 0; i < k; i++) {
            prof_gemm_s = prof_elem_s = 0.0;
            double t0 = bench_now();
            step_call(&ctx);
            step_total[i] = bench_now() - t0;
            step_gemm[i] = prof_gemm_s;
            step_elem[i] = prof_elem_s;
        }
        bn_net_set_backend(net, b->be[be]);
        double total = bench_median(step_total, k), gemm = bench_median(step_gemm, k);
        double elem = bench_median(step_elem, k);
        gemm_share = gemm / total;
        elem_share = elem / total;
        other_share = 1.0 - gemm_share - elem_share;
        gemm_pct = 100.0 * flops / gemm * 1e-9 / peak;
    }
    res.median_s = t.median_s;
    res.sps = batch / t.median_s;
    if (be == 0)
        naive_sps = res.sps; /* naive is its own base: 1.0x */
    res.ran = true;
    int first = strcmp(section, "threads") == 0 ? threads : batch;
    char c1[16], c2[16], c3[16], c4[16], c5[16], c6[16];
    printf("%6d %-10s %3d %4d%s %9.3f %9.3f %11.0f %9.2f %7s %8s %7s %7s %7s %8s\n", first, backend_names[be],
           threads, t.runs, t.cold ? "*" : " ", t.median_s * 1e3, t.min_s * 1e3, res.sps, gflops,
           opt(c1, "%.1f%%", 100.0 * gflops / peak), opt(c2, "%.1fx", res.sps / naive_sps),
           opt(c3, "%.1f%%", 100 * gemm_share),
           opt(c4, "%.1f%%", 100 * elem_share), opt(c5, "%.1f%%", 100 * other_share),
           opt(c6, "%.1f%%", gemm_pct));
    fflush(stdout);
    bench_record *r = bench_report_add(&b->rep, "step");
    if (r) {
        snprintf(r->backend, sizeof r->backend, "%s", backend_names[be]);
        snprintf(r->op, sizeof r->op, "step-%s", section);
        snprintf(r->shape, sizeof r->shape, "%.39s", b->arch_text);
        r->threads = threads;
        r->batch = batch;
        r->runs = t.runs;
        r->median_s = t.median_s;
        r->min_s = t.min_s;
        r->gflops = gflops;
        r->pct_peak = 100.0 * gflops / peak;
        r->speedup = res.sps / naive_sps;
        r->samples_s = res.sps;
        r->gemm_share = gemm_share;
        r->elem_share = elem_share;
        r->other_share = other_share;
        r->gemm_pct_peak = gemm_pct;
    }
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
        if (!b->o.use[be] && be != 0)
            continue;
        bn_set_threads(be == 0 ? 1 : b->o.threads);
        bn_net_set_backend(net, b->be[be]);
        reset_params(net);
        double loss = NAN;
        int s = bn_net_backprop(net, bn_net_input(net), bn_net_labels(net), batch, &loss, NULL);
        if (s) {
            printf(" %s: %s", backend_names[be], bn_errmsg());
            b->failures++;
            continue;
        }
        if (be == 0) {
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

static void section_steps(bench *b, bn_net *net)
{
    const options *o = &b->o;
    /* random pixels in [0,1) and labels: the shapes of MNIST, no file needed */
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    fill_uniform(bn_net_input(net), (size_t)bn_net_max_batch(net) * o->arch.sizes[0], 0.0f, 1.0f, &rng);
    int32_t *labels = bn_net_labels(net);
    for (int i = 0; i < bn_net_max_batch(net); i++)
        labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)o->arch.sizes[o->arch.depth]);
    printf("\n== whole training step: backprop + SGD momentum on random data, %s ==\n",
           bn_act_name(o->arch.act));
    printf("(FLOPs per sample %.3g: 2*in*out per product; %%peak against the sgemm peak at the same thread "
           "count; step ms the median, best ms the fastest step (what a quiet machine gives); "
           "sgemm%%/elem%%/other%% from separate profiled steps that time each call; sgemm%%pk: the "
           "step's sgemm calls alone as %% of peak; * = one cold call)\n",
           step_flops_per_sample(&o->arch));
    verify_step(b, net, 8 < bn_net_max_batch(net) ? 8 : bn_net_max_batch(net));

    /* The naive backends' last step time and batch, to skip a step predicted to take over the cap: their
     * cost grows linearly with the batch (and falls at best linearly with threads). */
    double last_s[N_BACKENDS] = {0, 0, 0};
    int last_b[N_BACKENDS] = {0, 0, 0}, last_t[N_BACKENDS] = {1, 1, 1};
    if (o->sections & SEC_BATCH) {
        printf("\n-- batch sweep, %d threads (naive: 1 thread; naive backends skipped where a step would take "
               "over %.1f s) --\n",
               o->threads, o->naive_cap_s);
        print_step_header("batch");
        for (int i = 0; i < o->n_batches; i++) {
            int B = o->batches[i];
            double naive_sps = NAN;
            for (int be = 0; be < N_BACKENDS; be++) {
                int t = be == 0 ? 1 : o->threads;
                if (!o->use[be] || (be < 2 && last_b[be] && last_s[be] * B / last_b[be] > o->naive_cap_s))
                    continue;
                step_result r = run_step(b, net, be, t, B, naive_sps, "batch");
                if (!r.ran)
                    continue;
                if (be == 0)
                    naive_sps = r.sps;
                last_s[be] = r.median_s;
                last_b[be] = B;
                last_t[be] = t;
            }
        }
    }
    if (o->sections & SEC_THREADS) {
        printf("\n-- thread sweep, batch %d (naive is single-threaded: it is measured once, as the x naive "
               "base; naive backends skipped where a step would take over %.1f s) --\n",
               o->batch, o->naive_cap_s);
        double naive_sps = NAN;
        print_step_header("thr");
        for (int i = 0; i < o->n_threads; i++) {
            int t = o->thread_list[i];
            for (int be = 0; be < N_BACKENDS; be++) {
                if (!o->use[be] || (be == 0 && i > 0))
                    continue;
                int tt = be == 0 ? 1 : t;
                if (be < 2 && last_b[be] &&
                    last_s[be] * o->batch / last_b[be] * last_t[be] / tt > o->naive_cap_s)
                    continue;
                step_result r = run_step(b, net, be, tt, o->batch, naive_sps, "threads");
                if (!r.ran)
                    continue;
                if (be == 0)
                    naive_sps = r.sps;
                if (be < 2) {
                    last_s[be] = r.median_s;
                    last_b[be] = o->batch;
                    last_t[be] = tt;
                }
            }
        }
    }
}

/* ---- targets --------------------------------------------------------------------------------------------- */

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
 * peak. Measure it again at the end: if it is now higher, the first one was disturbed; the targets use the
 * higher one and the reader is told. */
static void recheck_peak(bench *b, double *peak_now)
{
    int t = b->o.threads;
    double first = peak_at(b, t), best;
    bn_set_threads(t);
    double again = measure_peak(b, b->o.peak_n, &best);
    *peak_now = isnan(again) || again < first ? first : again;
    printf("\npeak at %d threads measured again at the end: %.1f GFLOP/s (start: %.1f)%s\n", t, again, first,
           again > 1.1 * first ? " -- the start was disturbed by other load: the %peak columns above are "
                                 "too high; rerun on a quiet machine" : "");
}

static void report_targets(const bench *b, double peak_now)
{
    const options *o = &b->o;
    printf("\n== targets (issue 4; set for 784-1024-1024-10 relu on a 2-core machine; %% of the higher peak) ==\n");
    const bench_record *s256 = find_step(b, "blas", 256, o->threads);
    if (s256) {
        double pct = 100.0 * s256->gflops / peak_now, gpct = s256->gemm_pct_peak * peak_at(b, o->threads) / peak_now;
        printf("step at batch 256, %d threads >= 75%% of sgemm peak: %.1f%% -> %s (its sgemm calls alone: "
               "%.1f%%)\n",
               o->threads, pct, pct >= 75.0 ? "MET" : "MISSED", gpct);
    }
    else
        printf("step at batch 256: not measured in this run\n");
    const bench_record *n128 = find_step(b, "naive", 128, 1), *b128 = find_step(b, "blas", 128, o->threads);
    if (n128 && b128) {
        double x = b128->samples_s / n128->samples_s;
        printf("blas step >= 20x naive step at batch 128: %.1fx -> %s\n", x, x >= 20.0 ? "MET" : "MISSED");
    } else {
        printf("blas vs naive at batch 128: not measured in this run\n");
    }
    if (s256 && !isnan(s256->elem_share))
        printf("elementwise <= 10%% of the step at batch 256: %.1f%% -> %s\n", 100 * s256->elem_share,
               s256->elem_share <= 0.10 ? "MET" : "MISSED");
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
            "  --only LIST        sections among peak,cores,ops,batch,threads (default all)\n"
            "  --peak-n N         size of the square sgemm that measures the peak (default 4096)\n"
            "  --budget S         seconds of repeats per measurement (default 0.5, quick 0.15)\n"
            "  --naive-cap S      longest naive step the sweeps attempt (default 10, quick 4)\n"
            "  --json FILE, --csv FILE   every measurement, for machines\n"
            "  --peak-only        print one line with the sgemm peak and exit (used in child processes)\n");
}

enum { O_LAYERS = 256, O_ACT, O_BATCH, O_THREADS, O_QUICK, O_SWEEP, O_BATCHES, O_TLIST, O_BACKENDS, O_ONLY,
       O_PEAKN, O_BUDGET, O_CAP, O_JSON, O_CSV, O_PEAKONLY, O_HELP };

static int parse_options(options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"layers", required_argument, 0, O_LAYERS},   {"act", required_argument, 0, O_ACT},
        {"batch", required_argument, 0, O_BATCH},     {"threads", required_argument, 0, O_THREADS},
        {"quick", no_argument, 0, O_QUICK},           {"sweep", no_argument, 0, O_SWEEP},
        {"batches", required_argument, 0, O_BATCHES}, {"thread-list", required_argument, 0, O_TLIST},
        {"backends", required_argument, 0, O_BACKENDS}, {"only", required_argument, 0, O_ONLY},
        {"peak-n", required_argument, 0, O_PEAKN},    {"budget", required_argument, 0, O_BUDGET},
        {"naive-cap", required_argument, 0, O_CAP},   {"json", required_argument, 0, O_JSON},
        {"csv", required_argument, 0, O_CSV},         {"peak-only", no_argument, 0, O_PEAKONLY},
        {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    if (bn_arch_parse_sizes(&o->arch, "784,1024,1024,10"))
        return -1;
    o->arch.act = BN_ACT_RELU;
    o->arch.leaky_slope = 0.01f;
    o->batch = 256;
    o->threads = bn_default_threads();
    o->peak_n = 0;
    o->sections = SEC_ALL;
    o->use[0] = o->use[1] = o->use[2] = true;
    o->budget_s = -1;
    o->naive_cap_s = -1;
    const char *batches = NULL, *tlist = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_LAYERS:
            if (bn_arch_parse_sizes(&o->arch, optarg)) {
                fprintf(stderr, "blasnet-bench: --layers %s: %s\n", optarg, bn_errmsg());
                return -1;
            }
            break;
        case O_ACT:
            if (bn_act_parse(&o->arch.act, optarg)) {
                fprintf(stderr, "blasnet-bench: --act %s: %s\n", optarg, bn_errmsg());
                return -1;
            }
            break;
        case O_BATCH: o->batch = (int)strtol(optarg, &end, 10); break;
        case O_THREADS: o->threads = (int)strtol(optarg, &end, 10); break;
        case O_PEAKN: o->peak_n = (int)strtol(optarg, &end, 10); break;
        case O_BUDGET: o->budget_s = strtod(optarg, &end); break;
        case O_CAP: o->naive_cap_s = strtod(optarg, &end); break;
        case O_QUICK: o->quick = true; break;
        case O_SWEEP: o->sweep = true; break;
        case O_BATCHES: batches = optarg; break;
        case O_TLIST: tlist = optarg; break;
        case O_JSON: o->json = optarg; break;
        case O_CSV: o->csv = optarg; break;
        case O_PEAKONLY: o->peak_only = true; break;
        case O_BACKENDS:
            o->use[0] = o->use[1] = o->use[2] = false;
            for (char *p = optarg; *p;) {
                size_t l = strcspn(p, ",");
                int k = -1;
                for (int i = 0; i < N_BACKENDS; i++)
                    if (strlen(backend_names[i]) == l && strncmp(p, backend_names[i], l) == 0)
                        k = i;
                if (k < 0) {
                    fprintf(stderr, "blasnet-bench: --backends: '%.*s' is not naive, naive-omp or blas\n", (int)l, p);
                    return -1;
                }
                o->use[k] = true;
                p += l + (p[l] == ',');
            }
            break;
        case O_ONLY:
            o->sections = 0;
            for (char *p = optarg; *p;) {
                size_t l = strcspn(p, ",");
                int k = -1;
                for (int i = 0; i < 5; i++)
                    if (strlen(section_names[i]) == l && strncmp(p, section_names[i], l) == 0)
                        k = i;
                if (k < 0) {
                    fprintf(stderr, "blasnet-bench: --only: '%.*s' is not peak, cores, ops, batch or threads\n",
                            (int)l, p);
                    return -1;
                }
                o->sections |= 1u << k;
                p += l + (p[l] == ',');
            }
            break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (end && *end) {
            fprintf(stderr, "blasnet-bench: '%s' is not a number\n", optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "blasnet-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
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

    if (batches) {
        o->n_batches = parse_list(batches, o->batches, MAX_LIST, 1, 65536);
    } else if (o->sweep) {
        for (int v = 1; v <= 4096; v *= 2)
            o->batches[o->n_batches++] = v;
    } else {
        static const int quick[] = {1, 16, 64, 128, 256, 1024};
        for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
            o->batches[o->n_batches++] = quick[i];
        if (!o->quick)
            o->batches[o->n_batches++] = 4096;
    }
    if (tlist) {
        o->n_threads = parse_list(tlist, o->thread_list, MAX_LIST, 1, MAX_THREADS);
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
    cpu_model(cpu, sizeof cpu);
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

int main(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    if (parse_options(&b.o, argc, argv))
        return 2;
    for (int i = 0; i < N_BACKENDS; i++) {
        b.be[i] = bn_backend_find(backend_names[i]);
        if (!b.be[i]) {
            fprintf(stderr, "blasnet-bench: the library has no '%s' backend\n", backend_names[i]);
            return 1;
        }
    }
    for (int t = 0; t <= MAX_THREADS; t++)
        b.peak[t] = NAN;
    b.samples = xmalloc(MAX_SAMPLES * sizeof(double));

    if (b.o.peak_only) {
        bn_set_threads(b.o.threads);
        double best;
        double g = measure_peak(&b, b.o.peak_n, &best);
        printf("peak core=%s threads=%d n=%d gflops=%.3f best_s=%.6f\n", bn_blas_corename(), b.o.threads,
               b.o.peak_n, g, best);
        free(b.samples);
        return isnan(g) ? 1 : 0;
    }
    if (bench_report_init(&b.rep, 4096)) {
        fprintf(stderr, "blasnet-bench: out of memory\n");
        return 1;
    }
    double t0 = bench_now();
    header(&b);
    if (b.o.sections & (SEC_PEAK | SEC_CORES))
        section_peak(&b);
    if (b.o.sections & SEC_CORES)
        section_cores(&b);
    if (b.o.sections & SEC_OPS)
        section_ops(&b);
    if (b.o.sections & (SEC_BATCH | SEC_THREADS)) {
        int max_batch = b.o.batch;
        for (int i = 0; i < b.o.n_batches; i++)
            max_batch = b.o.batches[i] > max_batch ? b.o.batches[i] : max_batch;
        bn_net *net = NULL;
        int s = bn_net_create(&net, &b.o.arch, max_batch, b.be[2]);
        if (s) {
            fprintf(stderr, "blasnet-bench: %s\n", bn_errmsg());
            return 1;
        }
        section_steps(&b, net);
        bn_net_destroy(&net);
    }
    double peak_now = peak_at(&b, b.o.threads);
    if ((b.o.sections & SEC_PEAK) && (b.o.sections & (SEC_OPS | SEC_BATCH | SEC_THREADS)))
        recheck_peak(&b, &peak_now);
    report_targets(&b, peak_now);
    printf("\n%d verification failure(s); %.1f s in all\n", b.failures, bench_now() - t0);
    int rc = b.failures ? 1 : 0;
    if (b.rep.dropped)
        fprintf(stderr, "blasnet-bench: %d records did not fit and are missing from the files\n", b.rep.dropped);
    if (b.o.csv && bench_report_write_csv(&b.rep, b.o.csv))
        rc = 1;
    if (b.o.json && bench_report_write_json(&b.rep, b.o.json))
        rc = 1;
    bench_report_free(&b.rep);
    free(b.samples);
    return rc;
}
