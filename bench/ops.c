/* blasnet-bench's per-op section: every call of one training step (the products and the elementwise
 * kernels), each backend checked against naive before it is timed. */
#include "common.h"

#include "act.h"
#include "net.h"
#include "stage.h"
#include "timer.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void section_ops(bench *b)
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

