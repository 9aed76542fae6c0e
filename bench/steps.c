/* blasnet-bench's step section: whole training steps, checked, then swept over batches and threads under
 * each backend and plan, with where the time goes from profiled steps, and the default recipe's step. */
#include "common.h"

#include "default_step.h"
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
    bench_reset_weights(net);
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
        bench_reset_weights(net);
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
int section_steps(bench *b)
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

