/* The bench's `team` section: one training step (SGD with momentum and Adam) of the same network on the same
 * batch, run as one OpenMP region with the update inside the dW tiles (the default), with the update after
 * the whole product, op by op (each op opening its own regions, as blasnet ran before 0.4.0: the same
 * bits), in the owned layout, and under OpenBLAS's own threading. Interleaved rounds; each variant's figure
 * is the median over the rounds of its median step, and the ratios are the default's time over each. */
#include "team.h"

#include "net.h"
#include "stage.h"
#include "timer.h"

#include <omp.h>
#include <stdio.h>

#define ROUNDS 7

typedef struct {
    const char *name;
    bn_plan_mode mode;
    bool fuse, one_region;
} variant;

static const variant variants[] = {
    {"one region, update in dW tiles", BN_PLAN_ESTIMATE, true, true},
    {"one region, update after dW", BN_PLAN_ESTIMATE, false, true},
    {"a region per op (0.3.0)", BN_PLAN_ESTIMATE, false, false},
    {"owned layout", BN_PLAN_OWNED, true, true},
    {"library (OpenBLAS threads)", BN_PLAN_LIBRARY, false, false},
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])


static bn_net *make(const bn_arch *arch, int batch, const variant *v)
{
    bn_net *net = NULL;
    if (bn_net_create(&net, arch, batch, bn_backend_find("blas")) != BN_OK || bn_net_plan(net, v->mode, 0) != BN_OK) {
        fprintf(stderr, "blasnet-bench: team: %s\n", bn_errmsg());
        bn_net_destroy(&net);
        return NULL;
    }
    bn_net_set_update_fusion(net, v->fuse);
    bn_net_set_one_region(net, v->one_region);
    bench_stage_random_batch(net);
    return net;
}

/* Each variant's median step of each round, for one optimizer; returns a step's failure. */
static int time_variants(bn_net *const *nets, int batch, bn_optim opt, double budget_s, double *samples,
                         double medians[][ROUNDS])
{
    int status = BN_OK;
    for (int round = 0; round < ROUNDS; round++)
        for (size_t v = 0; v < N_VARIANTS; v++) {
            bench_step_ctx ctx = {nets[v], batch, opt, 0.0f, BN_OK};
            bench_reset_weights(nets[v]);
            medians[v][round] = bench_measure(bench_step_call, &ctx, budget_s / ROUNDS, 3, 4096, samples).median_s;
            status = status ? status : ctx.status;
        }
    return status;
}

static void report(const char *optimizer, double medians[][ROUNDS])
{
    double mid[N_VARIANTS];
    for (size_t v = 0; v < N_VARIANTS; v++)
        mid[v] = bench_median(medians[v], ROUNDS);
    for (size_t v = 0; v < N_VARIANTS; v++)
        printf("%-8s %-32s %10.3f %11.3fx\n", optimizer, variants[v].name, 1e3 * mid[v], mid[v] / mid[0]);
}

int bench_team_section(const bn_arch *arch, int batch, double budget_s, double *samples)
{
    bn_net *nets[N_VARIANTS] = {0};
    int status = BN_OK;
    for (size_t v = 0; v < N_VARIANTS && !status; v++)
        status = (nets[v] = make(arch, batch, &variants[v])) ? BN_OK : BN_E_INVALID;
    char desc[128];
    printf("\n== team: one step as one region, %s, batch %d, %d threads, median of %d interleaved rounds ==\n",
           bn_arch_format(arch, desc, sizeof desc), batch, omp_get_max_threads(), ROUNDS);
    printf("%-8s %-32s %10s %12s\n", "optim", "variant", "step (ms)", "time / it");
    const bn_optim sgd = {.kind = BN_OPT_SGD, .lr = 1e-3f, .momentum = 0.9f};
    const bn_optim adam = {.kind = BN_OPT_ADAM, .lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    double medians[N_VARIANTS][ROUNDS];
    if (!status && !(status = time_variants(nets, batch, sgd, budget_s, samples, medians)))
        report("sgd", medians);
    if (!status && !(status = time_variants(nets, batch, adam, budget_s, samples, medians)))
        report("adam", medians);
    if (status)
        printf("a step failed: %s\n", bn_strerror(status));
    for (size_t v = 0; v < N_VARIANTS; v++)
        bn_net_destroy(&nets[v]);
    return status ? 1 : 0;
}
