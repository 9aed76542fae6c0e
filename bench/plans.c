/* The bench's `plans` section: every product of one training step under every partition the scheduler
 * has, timed, beside the cost model's figure for it. It shows which plan wins each shape on this machine and
 * whether the model ranks the candidates as the clock does (the model only has to pick a near-fastest one;
 * its absolute microseconds are not the point). */
#include "plans.h"

#include "gemm_plan.h"
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

/* One product: each kind's plan timed (fastest run) and modelled; the model's own choice marked `*`, the
 * fastest `<`. Returns the time of the model's choice over the fastest (1.0: it picked the winner). */
static double time_product(const char *name, bn_gemm *g, float *scratch, double budget, double *samples)
{
    int team = omp_get_max_threads();
    bn_gemm_plan chosen = bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, BN_PLAN_SCRATCH_FLOATS);
    bn_gemm_plan p[N_KINDS];
    double t[N_KINDS], best = INFINITY, chosen_t = NAN;
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
        bool is_chosen = p[k].split == chosen.split && p[k].parts_m == chosen.parts_m &&
                         p[k].parts_n == chosen.parts_n && p[k].parts_k == chosen.parts_k &&
                         p[k].threads == chosen.threads;
        if (is_chosen)
            chosen_t = t[k];
        printf(" %11s %7.1f/%-7.1f%s%s", bn_plan_describe(&p[k], desc, sizeof desc), t[k],
               bn_plan_model_us(g, &p[k], team), is_chosen ? "*" : " ", t[k] == best ? "<" : " ");
    }
    if (isnan(chosen_t)) { /* a grid or thread count no forced kind reproduces: time it too */
        plan_call_ctx ctx = {g, &chosen};
        chosen_t = 1e6 * bench_measure(plan_call, &ctx, budget, 5, 4096, samples).min_s;
        char desc[32];
        printf("  model: %s %.1f", bn_plan_describe(&chosen, desc, sizeof desc), chosen_t);
    }
    printf("\n");
    return chosen_t / best;
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
    printf("(each cell: plan, fastest of the repeats in us / cost model us; * the model's choice, < the fastest: on\n"
           " a shared machine a product is only ever slowed down by others, so the minimum belongs to the plan)\n");
    double worst = 1.0, sum = 0.0;
    int n = 0;
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
            double r = time_product(name, &g[k], scratch, budget, samples);
            worst = fmax(worst, r);
            sum += r;
            n++;
        }
    }
    printf("model's choice against the fastest kind: mean %.2fx, worst %.2fx of the fastest time\n", sum / n, worst);
    free(A), free(B), free(C), free(scratch);
}
