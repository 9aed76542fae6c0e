/* The bench's `plans` section: every product of one training step under every partition the scheduler
 * has, timed, beside the cost model's figure for it. It shows which plan wins each shape on this machine,
 * whether the model ranks the candidates as the clock does (the model only has to pick a near-fastest one;
 * its absolute microseconds are not the point), and what the tuned planner (the CLI's default, measuring
 * each product alone into a wisdom of its own here) chooses. */
#include "plans.h"

#include "gemm_plan.h"
#include "wisdom.h"
#include "timer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const bn_gemm *g;
    const bn_gemm_plan *plan;
} plan_call_ctx;

static void plan_call(void *p)
{
    const plan_call_ctx *c = p;
    bn_plan_run(c->g, c->plan);
}

static void fill(float *x, size_t n)
{
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
}

static const bn_plan_mode kinds[] = {BN_PLAN_ONE,  BN_PLAN_LIBRARY, BN_PLAN_ROWS,
                                     BN_PLAN_COLS, BN_PLAN_TILES,   BN_PLAN_K};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static bool same_partition(const bn_gemm_plan *a, const bn_gemm_plan *b)
{
    return a->split == b->split && a->parts_m == b->parts_m && a->parts_n == b->parts_n &&
           a->parts_k == b->parts_k && a->threads == b->threads;
}

/* The time of plan p of g: the timed kind it equals, or timed now (and printed, with its label). */
static double time_of(const bn_gemm *g, const bn_gemm_plan *p, const bn_gemm_plan *kinds_plans, const double *t,
                      const char *label, double budget, double *samples)
{
    for (size_t k = 0; k < N_KINDS; k++)
        if (same_partition(&kinds_plans[k], p))
            return t[k];
    plan_call_ctx ctx = {g, p};
    double us = 1e6 * bench_measure(plan_call, &ctx, budget, 5, 4096, samples).min_s;
    char desc[32];
    printf("  %s: %s %.1f", label, bn_plan_describe(p, desc, sizeof desc), us);
    return us;
}

/* One product: each kind's plan timed (fastest run) and modelled; the model's choice marked `*`, the tuned
 * planner's `+`, the fastest `<`. ratio[0] and ratio[1]: the model's and the tuned choice's time over the
 * fastest (1.0: the winner). */
static void time_product(const char *name, bn_gemm *g, float *scratch, bn_wisdom *w, double budget,
                         double *samples, double ratio[2])
{
    int team = omp_get_max_threads();
    bn_gemm_plan chosen = bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, BN_PLAN_SCRATCH_FLOATS);
    bn_pair_plan tuned;
    const bn_plan_item item = {.first = *g};
    bn_plan_list_tuned(&item, 1, team, w, true, scratch, BN_PLAN_SCRATCH_FLOATS, NULL, &tuned);
    bn_gemm_plan p[N_KINDS];
    double t[N_KINDS], best = INFINITY;
    for (size_t k = 0; k < N_KINDS; k++) {
        p[k] = bn_plan_estimate(g, team, kinds[k], scratch, BN_PLAN_SCRATCH_FLOATS);
        plan_call_ctx ctx = {g, &p[k]};
        t[k] = 1e6 * bench_measure(plan_call, &ctx, budget, 5, 4096, samples).min_s;
        best = fmin(best, t[k]);
    }
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", g->M, g->N, g->K);
    printf("%-7s %-15s", name, shape);
    for (size_t k = 0; k < N_KINDS; k++) {
        char desc[32];
        printf(" %11s %7.1f/%-7.1f%s%s%s", bn_plan_describe(&p[k], desc, sizeof desc), t[k],
               bn_plan_model_us(g, &p[k], team), same_partition(&p[k], &chosen) ? "*" : " ",
               same_partition(&p[k], &tuned.first) ? "+" : " ", t[k] == best ? "<" : " ");
    }
    double chosen_t = time_of(g, &chosen, p, t, "model", budget, samples);
    double tuned_t = time_of(g, &tuned.first, p, t, "tuned", budget, samples);
    best = fmin(best, fmin(chosen_t, tuned_t));
    printf("\n");
    ratio[0] = chosen_t / best;
    ratio[1] = tuned_t / best;
}

void bench_plans_section(const bn_arch *a, int batch, double budget, double *samples)
{
    size_t widest = 0, most = 0;
    for (int l = 0; l <= a->depth; l++)
        widest = (size_t)a->sizes[l] > widest ? (size_t)a->sizes[l] : widest;
    most = widest * (widest > (size_t)batch ? widest : (size_t)batch);
    float *A = malloc(most * sizeof(float)), *B = malloc(most * sizeof(float)), *C = malloc(most * sizeof(float));
    float *scratch = malloc(BN_PLAN_SCRATCH_FLOATS * sizeof(float));
    if (!A || !B || !C || !scratch) {
        fprintf(stderr, "blasnet-bench: out of memory in the plans section\n");
        free(A), free(B), free(C), free(scratch);
        return;
    }
    fill(A, most);
    fill(B, most);
    printf("\n== plans: every product of a step, batch %d, %d threads, under each partition ==\n", batch,
           omp_get_max_threads());
    printf("(each cell: plan, fastest of the repeats in us / cost model us; * the model's choice, + the tuned\n"
           " planner's, < the fastest: on a shared machine a product is only ever slowed down by others, so the\n"
           " minimum belongs to the plan)\n");
    double worst[2] = {1.0, 1.0}, sum[2] = {0.0, 0.0};
    int n = 0;
    bn_wisdom wisdom;
    bn_wisdom_init(&wisdom);
    for (int l = 0; l < a->depth; l++) {
        int in = a->sizes[l], out = a->sizes[l + 1];
        bn_gemm g[3] = {
            {.M = batch, .N = out, .K = in, .alpha = 1.0f, .A = A, .lda = in, .B = B, .ldb = out, .C = C, .ldc = out},
            {.ta = true, .M = in, .N = out, .K = batch, .alpha = 1.0f, .A = A, .lda = in, .B = B, .ldb = out, .C = C,
             .ldc = out},
            {.tb = true, .M = batch, .N = in, .K = out, .alpha = 1.0f, .A = A, .lda = out, .B = B, .ldb = out, .C = C,
             .ldc = in}};
        static const char *const names[3] = {"fwd", "dW", "dA"};
        for (int k = 0; k < (l == 0 ? 2 : 3); k++) {
            char name[16];
            snprintf(name, sizeof name, "%s L%d", names[k], l + 1);
            double r[2];
            time_product(name, &g[k], scratch, &wisdom, budget, samples, r);
            for (int i = 0; i < 2; i++)
                worst[i] = fmax(worst[i], r[i]), sum[i] += r[i];
            n++;
        }
    }
    printf("model's choice against the fastest kind: mean %.2fx, worst %.2fx of the fastest time\n", sum[0] / n,
           worst[0]);
    printf("tuned choice against the fastest kind: mean %.2fx, worst %.2fx of the fastest time (measured in %.1f s)\n",
           sum[1] / n, worst[1], wisdom.measure_seconds);
    bn_wisdom_free(&wisdom);
    free(A), free(B), free(C), free(scratch);
}
