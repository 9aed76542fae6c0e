/* blasnet-engines: the sgemm products of one training step, timed on each GEMM library blasnet could offer
 * beside OpenBLAS, in two threading modes: the library's own threads (one call), and tiles (one serial call
 * per thread inside our own OpenMP region: how blasnet's scheduler uses an engine). Every result is first
 * checked against a double-accumulating naive product. One source, built so that no process holds two CBLAS
 * libraries: OpenBLAS alone; OpenBLAS + oneDNN (-DENGINE_DNNL: libdnnl exports dnnl_sgemm, no cblas_*);
 * BLIS alone (-DENGINE_BLIS, through BLIS's typed API). */
#include "alloc_count.h"
#include "parallel.h"
#include "timer.h"
#include "util.h"

#include <float.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifdef ENGINE_BLIS
#include <blis.h>
#else
#include <cblas.h>
#ifdef ENGINE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#endif

#define MAX_LAYERS 16
#define MAX_BATCHES 16
#define MAX_PRODUCTS (3 * MAX_LAYERS)
#define MAX_ENGINES 2
#define MAX_SAMPLES 8192
#define U_FLOAT (FLT_EPSILON / 2) /* unit roundoff of float, 2^-24 */

/* Row-major C (M,N) = op(A) (M,K) . op(B) (K,N), alpha 1, beta 0. `threads` is what the call may use: T for
 * the engine's own threading, 1 for a tile inside our region. OpenBLAS (OpenMP build) and oneDNN (OpenMP
 * runtime) take it from OpenMP instead: T outside a region, and serial inside one. */
typedef void (*engine_gemm)(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc, int threads);

typedef struct engine {
    const char *name;
    engine_gemm gemm;
} engine;

static int engine_errors; /* calls an engine refused (dnnl_sgemm's status); the exit status counts them */

#ifdef ENGINE_BLIS
static void blis_engine_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, int threads)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(threads, &rntm);
    float one = 1.0f, zero = 0.0f;
    /* BLIS takes strides: row-major is (ld, 1); a transposed operand is passed as stored, (K,M) or (N,K). */
    bli_sgemm_ex(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &one,
                 (float *)A, lda, 1, (float *)B, ldb, 1, &zero, C, ldc, 1, NULL, &rntm);
}

static const engine engines[] = {{"blis", blis_engine_gemm}};
#else
static void openblas_engine_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                          float *C, int ldc, int threads)
{
    (void)threads;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                lda, B, ldb, 0.0f, C, ldc);
}

#ifdef ENGINE_DNNL
static void dnnl_engine_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, int threads)
{
    (void)threads;
    if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc) != dnnl_success) {
#pragma omp atomic
        engine_errors++;
    }
}

static const engine engines[] = {{"openblas", openblas_engine_gemm}, {"dnnl", dnnl_engine_gemm}};
#else
static const engine engines[] = {{"openblas", openblas_engine_gemm}};
#endif
#endif

#define N_ENGINES ((int)(sizeof engines / sizeof engines[0]))

typedef struct options {
    int sizes[MAX_LAYERS + 1], depth; /* layer widths, input first; depth = number of weight matrices */
    int batches[MAX_BATCHES], n_batches;
    int threads;
    double budget_s;
    bool allocs; /* count allocations per call instead of timing */
} options;

/* One product of the step; operands are views into the batch's buffers. */
typedef struct product {
    char name[16]; /* fwd0, dW0, dA1, ... */
    bool ta, tb, split_cols;
    int M, N, K, lda, ldb;
    const float *A, *B;
    float *C, *ref;
    double norm_ab; /* ||op(A)||_F ||op(B)||_F: the scale of the residual */
} product;

/* The timings of one product: median seconds per engine, [0] own threads, [1] tiles. */
typedef struct row_times {
    double t[MAX_ENGINES][2];
} row_times;

/* ---- helpers -------------------------------------------------------------------------------------------- */

static void *xmalloc(size_t bytes)
{
    return bench_xmalloc("blasnet-engines", bytes);
}



static double flops(const product *p)
{
    return 2.0 * p->M * (double)p->N * p->K;
}

/* ---- the oracle ----------------------------------------------------------------------------------------- */

/* ref (M,N) = op(A) . op(B), accumulated in double and rounded once. NN and TN walk rows of B (contiguous)
 * into a row of double sums; NT takes dot products of a row of A with a row of B. */
static void reference_gemm(const product *p)
{
    if (p->ta && p->tb) {
        fprintf(stderr, "blasnet-engines: no TT product in a training step\n");
        exit(1);
    }
#pragma omp parallel
    {
        double *acc = xmalloc((size_t)p->N * sizeof(double));
#pragma omp for schedule(static)
        for (int i = 0; i < p->M; i++) {
            for (int j = 0; j < p->N; j++)
                acc[j] = 0.0;
            for (int k = 0; k < p->K && !p->tb; k++) {
                double a = p->ta ? p->A[(size_t)k * p->lda + i] : p->A[(size_t)i * p->lda + k];
                const float *b = p->B + (size_t)k * p->ldb;
                for (int j = 0; j < p->N; j++)
                    acc[j] += a * b[j];
            }
            for (int j = 0; j < p->N && p->tb; j++)
                for (int k = 0; k < p->K; k++)
                    acc[j] += (double)p->A[(size_t)i * p->lda + k] * p->B[(size_t)j * p->ldb + k];
            for (int j = 0; j < p->N; j++)
                p->ref[(size_t)i * p->N + j] = (float)acc[j];
        }
        free(acc);
    }
}

/* Normwise residual ||C - ref||_F / (||op(A)||_F ||op(B)||_F); float's bound is K u, NaN counts as infinite. */
static double residual(const product *p)
{
    double d = 0.0;
    for (size_t i = 0; i < (size_t)p->M * p->N; i++) {
        double e = (double)p->C[i] - p->ref[i];
        d += e * e;
    }
    d = sqrt(d) / (p->norm_ab > 0.0 ? p->norm_ab : DBL_MIN);
    return isnan(d) ? INFINITY : d;
}

/* ---- the two threading modes ---------------------------------------------------------------------------- */

/* One slice per thread of our own OpenMP team, each a serial call: by output columns in blocks of 16 (a
 * 64-byte line of C), or by rows of C in blocks of 8 when C is too narrow to give each thread 16 columns. */
static void gemm_tiles(const engine *e, const product *p, int threads)
{
#pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        if (p->split_cols) {
            bn_par_range((size_t)p->N, 16, t, nt, &lo, &hi);
            /* Columns lo..hi of op(B): columns of B, or rows of B when it is transposed. */
            const float *b = p->tb ? p->B + lo * p->ldb : p->B + lo;
            if (hi > lo)
                e->gemm(p->ta, p->tb, p->M, (int)(hi - lo), p->K, p->A, p->lda, b, p->ldb, p->C + lo, p->N, 1);
        } else {
            bn_par_range((size_t)p->M, 8, t, nt, &lo, &hi);
            /* Rows lo..hi of op(A): rows of A, or columns of A when it is transposed. */
            const float *a = p->ta ? p->A + lo : p->A + lo * p->lda;
            if (hi > lo)
                e->gemm(p->ta, p->tb, (int)(hi - lo), p->N, p->K, a, p->lda, p->B, p->ldb, p->C + lo * p->N, p->N,
                        1);
        }
    }
}

typedef struct cell {
    const engine *e;
    const product *p;
    bool tiles;
    int threads;
} cell;

static void cell_call(void *ctx)
{
    const cell *c = ctx;
    const product *p = c->p;
    if (c->tiles)
        gemm_tiles(c->e, p, c->threads);
    else
        c->e->gemm(p->ta, p->tb, p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->C, p->N, c->threads);
}

static long preemptions(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_nivcsw;
}

/* Checks one engine and mode on p (C starts as NaN, so a tile left unwritten fails), then times it:
 * the check call and bench_measure's first call are the two warm-ups. Returns the median; *worst keeps
 * the largest residual seen, in units of the bound 4 K u; *preempted counts the times the kernel took a
 * core from one of our threads while timing: on a shared machine, a sign that another process ran. */
static double check_and_time(const cell *c, double budget_s, double *samples, double *worst, long *preempted)
{
    const product *p = c->p;
    for (size_t i = 0; i < (size_t)p->M * p->N; i++)
        p->C[i] = NAN;
    cell_call((void *)c);
    double r = residual(p) / (4.0 * p->K * U_FLOAT);
    if (!(r <= *worst))
        *worst = r;
    long before = preemptions();
    bench_timing t = bench_measure(cell_call, (void *)c, budget_s, 5, MAX_SAMPLES, samples);
    *preempted += preemptions() - before;
    return t.median_s;
}

/* ---- one batch: operands and products ------------------------------------------------------------------- */

/* The step's buffers for one batch size: per layer l, input X (B,n_l), weights W (n_l,n_l+1) and output
 * gradient G (B,n_l+1); one C and one ref as large as the largest product. */
typedef struct batch_data {
    float *X[MAX_LAYERS], *W[MAX_LAYERS], *G[MAX_LAYERS], *C, *ref;
    product p[MAX_PRODUCTS];
    int n;
} batch_data;

static void add_product(batch_data *d, const char *what, int layer, bool ta, bool tb, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, int threads)
{
    product *p = &d->p[d->n++];
    snprintf(p->name, sizeof p->name, "%s%d", what, layer);
    p->ta = ta;
    p->tb = tb;
    p->M = M;
    p->N = N;
    p->K = K;
    p->A = A;
    p->lda = lda;
    p->B = B;
    p->ldb = ldb;
    p->split_cols = N >= 16 * threads;
    /* Frobenius norms are the same for a matrix and its transpose: take them over the stored operands. */
    p->norm_ab = bench_frobenius(A, (size_t)M * K) * bench_frobenius(B, (size_t)K * N);
}

/* The step's products in the order the step runs them: forward layer by layer, then backward from the
 * last layer, dW before dA, and no dA for layer 0 (nobody wants the gradient of the input). */
static void batch_create(batch_data *d, const options *o, int batch)
{
    const int *n = o->sizes, L = o->depth, T = o->threads;
    size_t most = 0;
    memset(d, 0, sizeof *d);
    for (int l = 0; l < L; l++) {
        d->X[l] = xmalloc((size_t)batch * n[l] * sizeof(float));
        d->W[l] = xmalloc((size_t)n[l] * n[l + 1] * sizeof(float));
        d->G[l] = xmalloc((size_t)batch * n[l + 1] * sizeof(float));
        bench_fill_splitmix(d->X[l], (size_t)batch * n[l], 3 * l + 1);
        bench_fill_splitmix(d->W[l], (size_t)n[l] * n[l + 1], 3 * l + 2);
        bench_fill_splitmix(d->G[l], (size_t)batch * n[l + 1], 3 * l + 3);
    }
    for (int l = 0; l < L; l++) /* Z (B,n_l+1) = X (B,n_l) . W (n_l,n_l+1) */
        add_product(d, "fwd", l, false, false, batch, n[l + 1], n[l], d->X[l], n[l], d->W[l], n[l + 1], T);
    for (int l = L - 1; l >= 0; l--) {
        /* dW (n_l,n_l+1) = X^T (n_l,B) . G (B,n_l+1) */
        add_product(d, "dW", l, true, false, n[l], n[l + 1], batch, d->X[l], n[l], d->G[l], n[l + 1], T);
        if (l > 0) /* dX (B,n_l) = G (B,n_l+1) . W^T (n_l+1,n_l) */
            add_product(d, "dA", l, false, true, batch, n[l], n[l + 1], d->G[l], n[l + 1], d->W[l], n[l + 1], T);
    }
    for (int i = 0; i < d->n; i++)
        if ((size_t)d->p[i].M * d->p[i].N > most)
            most = (size_t)d->p[i].M * d->p[i].N;
    d->C = xmalloc(most * sizeof(float));
    d->ref = xmalloc(most * sizeof(float));
    for (int i = 0; i < d->n; i++) {
        d->p[i].C = d->C;
        d->p[i].ref = d->ref;
    }
}

static void batch_destroy(batch_data *d, int depth)
{
    for (int l = 0; l < depth; l++) {
        free(d->X[l]);
        free(d->W[l]);
        free(d->G[l]);
    }
    free(d->C);
    free(d->ref);
}


/* ---- the table ------------------------------------------------------------------------------------------ */

static const char *verdict(double worst)
{
    return worst <= 1.0 ? "PASS" : worst <= 100.0 ? "MARGINAL" : "FAIL";
}

static double best_of(const double t[2])
{
    return t[0] < t[1] ? t[0] : t[1];
}

static void print_table_header(const options *o, int batch, const char *arch)
{
    printf("\nbatch %d, %s, %d threads, load average %.2f: GFLOP/s, median of >= 5 calls over %.2f s; own = one "
           "call on the engine's threads, tiles = one serial call per thread in our region\n",
           batch, arch, o->threads, bench_load_average(), o->budget_s);
    printf("%-6s %-16s %-2s %-4s", "prod", "MxNxK", "op", "tile");
    for (int e = 0; e < N_ENGINES; e++)
        printf(" | %8s own  tiles", engines[e].name);
    if (N_ENGINES > 1)
        printf(" | %s/%s", engines[1].name, engines[0].name);
    printf(" | check (resid / 4Ku) | preempted\n");
}

static void print_row(const product *p, const row_times *r, double worst, long preempted)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", p->M, p->N, p->K);
    printf("%-6s %-16s %c%c %-4s", p->name, shape, p->ta ? 'T' : 'N', p->tb ? 'T' : 'N',
           p->split_cols ? "cols" : "rows");
    for (int e = 0; e < N_ENGINES; e++)
        printf(" | %12.1f %6.1f", flops(p) / r->t[e][0] * 1e-9, flops(p) / r->t[e][1] * 1e-9);
    if (N_ENGINES > 1) /* > 1: the second engine's best mode is faster than the first's */
        printf(" | %*.2f", (int)(strlen(engines[0].name) + strlen(engines[1].name) + 1),
               best_of(r->t[0]) / best_of(r->t[1]));
    printf(" | %s %.3f | %ld\n", verdict(worst), worst, preempted);
}

/* Per engine: the step's products summed, all own threads, all tiles, and each product's better mode. */
static void print_step_sums(const batch_data *d, const row_times *r)
{
    double total = 0.0;
    for (int i = 0; i < d->n; i++)
        total += flops(&d->p[i]);
    for (int e = 0; e < N_ENGINES; e++) {
        double own = 0.0, tiles = 0.0, best = 0.0;
        for (int i = 0; i < d->n; i++) {
            own += r[i].t[e][0];
            tiles += r[i].t[e][1];
            best += best_of(r[i].t[e]);
        }
        printf("step %-8s own %7.3f ms %6.1f GFLOP/s | tiles %7.3f ms %6.1f | better per product %7.3f ms "
               "%6.1f\n",
               engines[e].name, own * 1e3, total / own * 1e-9, tiles * 1e3, total / tiles * 1e-9, best * 1e3,
               total / best * 1e-9);
    }
}

/* Checks and times every product of one batch on every engine and mode; returns how many FAILed. */
static int run_batch(const options *o, int batch, const char *arch, double *samples)
{
    batch_data d;
    row_times r[MAX_PRODUCTS];
    int failures = 0;
    batch_create(&d, o, batch);
    print_table_header(o, batch, arch);
    for (int i = 0; i < d.n; i++) {
        double worst = 0.0;
        long preempted = 0;
        reference_gemm(&d.p[i]);
        for (int e = 0; e < N_ENGINES; e++)
            for (int m = 0; m < 2; m++) {
                cell c = {&engines[e], &d.p[i], m == 1, o->threads};
                r[i].t[e][m] = check_and_time(&c, o->budget_s, samples, &worst, &preempted);
            }
        print_row(&d.p[i], &r[i], worst, preempted);
        failures += worst > 100.0;
        fflush(stdout);
    }
    print_step_sums(&d, r);
    printf("load average after batch %d: %.2f\n", batch, bench_load_average());
    batch_destroy(&d, o->depth);
    return failures;
}

/* ---- allocations ---------------------------------------------------------------------------------------- */

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* What one engine and mode allocates: on the product's first call (JIT code, caches, pools: what stays
 * held afterwards), then per call over `calls` more. Page faults show what a large block returned to the
 * kernel costs each time it is allocated again. */
static void probe_cell(const cell *c, int calls)
{
    size_t h0 = heap_in_use();
    alloc_stats a0 = alloc_count_now();
    long f0 = minor_faults();
    cell_call((void *)c);
    alloc_stats a1 = alloc_count_now();
    long f1 = minor_faults();
    size_t h1 = heap_in_use();
    alloc_count_reset_largest();
    for (int i = 0; i < calls; i++)
        cell_call((void *)c);
    alloc_stats a2 = alloc_count_now();
    long f2 = minor_faults();
    printf("%-6s %-8s %-5s | first call %4llu allocs %10llu B %6ld faults, %+10lld B held after | "
           "then per call %6.2f allocs %10.0f B (largest %llu) %7.2f faults\n",
           c->p->name, c->e->name, c->tiles ? "tiles" : "own", a1.calls - a0.calls, a1.bytes - a0.bytes, f1 - f0,
           (long long)h1 - (long long)h0, (double)(a2.calls - a1.calls) / calls,
           (double)(a2.bytes - a1.bytes) / calls, a2.largest, (double)(f2 - f1) / calls);
}

static void probe_batch(const options *o, int batch)
{
    batch_data d;
    batch_create(&d, o, batch);
    printf("\nbatch %d: allocations inside the engines' calls (every allocator entry point in the process)\n",
           batch);
    for (int i = 0; i < d.n; i++)
        for (int e = 0; e < N_ENGINES; e++)
            for (int m = 0; m < 2; m++) {
                cell c = {&engines[e], &d.p[i], m == 1, o->threads};
                probe_cell(&c, 20);
            }
    fflush(stdout);
    batch_destroy(&d, o->depth);
}

/* ---- configuration -------------------------------------------------------------------------------------- */




/* What every result depends on: the CPU, each engine's build and kernel, the thread settings. */
static void print_config(const options *o, const char *arch)
{
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    printf("blasnet-engines: %s, %d threads; cpu: %s, %d cores online\n", arch, o->threads, cpu,
           omp_get_num_procs());
#ifdef ENGINE_BLIS
    printf("blis %s: kernels for %s; BLIS_ARCH_TYPE=%s\n", bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()), bench_env_or_unset("BLIS_ARCH_TYPE"));
#else
    int par = openblas_get_parallel();
    printf("openblas: %s; kernel %s (OPENBLAS_CORETYPE=%s); threading %s, openblas_get_num_threads %d\n",
           openblas_get_config(), openblas_get_corename(), bench_env_or_unset("OPENBLAS_CORETYPE"),
           par == 2 ? "OpenMP" : par == 1 ? "pthreads" : "serial", openblas_get_num_threads());
#endif
#ifdef ENGINE_DNNL
    const dnnl_version_t *v = dnnl_version();
    printf("dnnl %d.%d.%d (%s): cpu runtime %u, effective isa 0x%x (0x27 avx512_core, 0x67 +vnni, 0xe7 +bf16, "
           "0x3e7 +amx)\n",
           v->major, v->minor, v->patch, v->hash ? v->hash : "?", v->cpu_runtime,
           (unsigned)dnnl_get_effective_cpu_isa());
#endif
    /* One active level: a library's own region inside our tiles gets a team of one. */
    printf("omp_get_max_threads %d, omp_get_max_active_levels %d; OMP_NUM_THREADS=%s OMP_WAIT_POLICY=%s "
           "GOMP_SPINCOUNT=%s\n",
           omp_get_max_threads(), omp_get_max_active_levels(), bench_env_or_unset("OMP_NUM_THREADS"),
           bench_env_or_unset("OMP_WAIT_POLICY"), bench_env_or_unset("GOMP_SPINCOUNT"));
}

/* ---- options and main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: blasnet-engines[-dnnl|-blis] [--layers 784,1024,1024,10] [--batch 32,64,...] [--threads T]\n"
               "                       [--budget SECONDS] [--allocs]\n"
               "  Checks, then times the sgemm products of one training step (forward, dW, dA per layer) on\n"
               "  each engine of this binary, on the engine's own threads and as serial tiles in our region.\n"
               "  --allocs counts allocations and page faults per call instead of timing.\n");
}

static int parse_options(options *o, int argc, char **argv)
{
    static const struct option longs[] = {{"layers", required_argument, NULL, 'l'},
                                          {"batch", required_argument, NULL, 'b'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"budget", required_argument, NULL, 'B'},
                                          {"allocs", no_argument, NULL, 'a'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int n_sizes = bench_parse_list("784,1024,1024,10", o->sizes, MAX_LAYERS + 1, 1, 1 << 16), c;
    o->depth = n_sizes - 1;
    o->batches[0] = 64;
    o->n_batches = 1;
    o->threads = omp_get_num_procs();
    o->budget_s = 0.3;
    o->allocs = false;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'l' && (n_sizes = bench_parse_list(optarg, o->sizes, MAX_LAYERS + 1, 1, 1 << 16)) >= 2)
            o->depth = n_sizes - 1;
        else if (c == 'b' && (o->n_batches = bench_parse_list(optarg, o->batches, MAX_BATCHES, 1, 1 << 16)) >= 1)
            continue;
        else if (c == 't' && bench_parse_list(optarg, &o->threads, 1, 1, BN_MAX_THREADS) == 1)
            continue;
        else if (c == 'B' && bench_read_double("blasnet-engines", "--budget", optarg, 1e-3, 3600, &o->budget_s) == 0)
            continue;
        else if (c == 'a')
            o->allocs = true;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 1 : -1;
        }
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(&o, argc, argv), failures = 0;
    if (rc != 0)
        return rc < 0 ? 2 : 0;
#ifndef ENGINE_BLIS
    /* The OpenMP build sets the OpenMP count too; dnnl_sgemm takes its count from there. */
    openblas_set_num_threads(o.threads);
    if (openblas_get_parallel() != 2 && o.threads > 1) {
        fprintf(stderr, "blasnet-engines: tiles need the OpenMP build of OpenBLAS (this one starts a pool from "
                        "every thread)\nhint: meson setup --pkg-config-path="
                        "/usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig\n");
        return 2;
    }
#endif
    omp_set_num_threads(o.threads);
#ifdef ENGINE_BLIS
    bli_init(); /* before bli_arch_query_id: with BLIS_ARCH_TYPE set, it looks the id up in tables bli_init fills */
#endif
    char arch[MAX_LAYERS * 8] = "";
    for (int l = 0; l <= o.depth; l++)
        snprintf(arch + strlen(arch), sizeof arch - strlen(arch), "%s%d", l ? "-" : "", o.sizes[l]);
    print_config(&o, arch);
    double *samples = xmalloc(MAX_SAMPLES * sizeof(double));
    for (int b = 0; b < o.n_batches; b++) {
        if (o.allocs)
            probe_batch(&o, o.batches[b]);
        else
            failures += run_batch(&o, o.batches[b], arch, samples);
    }
    free(samples);
    if (failures || engine_errors)
        fprintf(stderr, "blasnet-engines: %d products FAILed the check, %d engine calls returned an error\n",
                failures, engine_errors);
    return failures || engine_errors ? 1 : 0;
}
