/* The step section's last row: the step that `blasnet train` runs when given no flags. The sweeps above it
 * time SGD on the bench's --layers (784-1024-1024-10 by default), which shows the machine; this row shows
 * what a user of the default gets: 784-512-10 ReLU, Adam on the onecycle schedule (its rate set before
 * every step, as bn_train does), batch 64, from bn_hparams_default. It runs under the default plan
 * (estimate) and under OpenBLAS's own threading (library), in interleaved rounds so that a noisy neighbour
 * slows both alike, and reports each one's median and best round. */
#include "default_step.h"

#include "common.h"
#include "stage.h"
#include "timer.h"

#include "blasnet.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>

#define ROUNDS 5

typedef struct {
    bn_net *net;
    const bn_hparams *hp;
    bn_optim opt;
    uint64_t steps_per_epoch;
    int status;
} step_ctx;

static void step_call(void *p)
{
    step_ctx *c = p;
    double loss;
    c->opt.lr = bn_schedule_lr(c->hp, c->opt.t % ((uint64_t)c->hp->epochs * c->steps_per_epoch),
                               c->steps_per_epoch);
    c->opt.t++;
    int s = bn_net_train_step(c->net, bn_net_input(c->net), bn_net_labels(c->net), c->hp->batch, &c->opt, &loss,
                              NULL, NULL);
    c->status = c->status ? c->status : s;
}

static void print_row(const char *plan, const double *round_s, int batch, double flops, double peak)
{
    double sorted[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        sorted[i] = round_s[i];
    double best = sorted[0];
    for (int i = 1; i < ROUNDS; i++)
        best = fmin(best, sorted[i]);
    double median = bench_median(sorted, ROUNDS);
    char pct[32];
    printf("%-9s %10.3f %10.3f %12.0f %9.1f %8s\n", plan, median * 1e3, best * 1e3, batch / median,
           flops / median * 1e-9, format_or_dash(pct, "%.1f%%", 100.0 * flops / median * 1e-9 / peak));
}

int bench_default_step(double peak, double budget_s, double *samples)
{
    bn_hparams hp;
    bn_hparams_default(&hp);
    bn_arch arch = {.act = BN_ACT_RELU}; /* the default --act */
    bn_net *net = NULL;
    if (bn_arch_parse_sizes(&arch, "784,512,10") || bn_net_create(&net, &arch, hp.batch, bn_backend_find("blas"))) {
        fprintf(stderr, "blasnet-bench: default step: %s\n", bn_errmsg());
        return 1;
    }
    bn_rng rng;
    bn_rng_seed(&rng, hp.seed);
    bn_net_init(net, hp.init, hp.init_std, &rng);
    bench_stage_random_batch(net);
    const bn_plan_mode plans[2] = {BN_PLAN_ESTIMATE, BN_PLAN_LIBRARY};
    double round_s[2][ROUNDS];
    /* MNIST's 60,000 less the default 10,000 for validation: the schedule's epoch, as the default run has it */
    step_ctx ctx = {net, &hp, hp.opt, (50000 + (uint64_t)hp.batch - 1) / (uint64_t)hp.batch, BN_OK};
    for (int round = 0; round < ROUNDS; round++)
        for (int p = 0; p < 2; p++) {
            bn_net_plan(net, plans[p], hp.batch);
            round_s[p][round] = bench_measure(step_call, &ctx, budget_s / ROUNDS, 3, 4096, samples).median_s;
        }
    const double flops = step_flops_per_sample(&arch) * hp.batch;
    printf("\ndefault recipe (blasnet train with no flags): 784-512-10 relu, adam on onecycle, batch %d, %d "
           "threads; median and best of %d interleaved rounds (each round's median step)\n",
           hp.batch, omp_get_max_threads(), ROUNDS);
    printf("%-9s %10s %10s %12s %9s %8s\n", "plan", "step ms", "best ms", "samples/s", "GFLOP/s", "%mpeak");
    for (int p = 0; p < 2; p++)
        print_row(bn_plan_mode_name(plans[p]), round_s[p], hp.batch, flops, peak);
    if (ctx.status)
        fprintf(stderr, "blasnet-bench: default step failed: %s\n", bn_strerror(ctx.status));
    bn_net_destroy(&net);
    return ctx.status ? 1 : 0;
}
