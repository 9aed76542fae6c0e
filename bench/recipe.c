/* The bench's `recipe` section: one training step (forward, loss, backward, update) of the same network on
 * the same batch under each optimizer and regulariser, timed in interleaved rounds (a noisy neighbour
 * slows every variant of a round alike) and reported as the best step of each against plain SGD. It answers
 * what clipping costs (the updates wait for the whole backward pass to know the global norm), what Adam's
 * two moments cost over SGD's velocity, and what dropout's hashed masks cost. */
#include "recipe.h"

#include "stage.h"
#include "timer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define ROUNDS 5

typedef struct {
    const char *name;
    bn_optimizer kind;
    float clip_norm, dropout;
} variant;

static const variant variants[] = {
    {"sgd (momentum 0.9)", BN_OPT_SGD, 0.0f, 0.0f},     {"sgd + clip-norm", BN_OPT_SGD, 1.0f, 0.0f},
    {"sgd + dropout 0.2", BN_OPT_SGD, 0.0f, 0.2f},      {"adam", BN_OPT_ADAM, 0.0f, 0.0f},
    {"adamw (decay 1e-2)", BN_OPT_ADAMW, 0.0f, 0.0f},   {"adam + clip + dropout", BN_OPT_ADAM, 1.0f, 0.2f},
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])


static bn_optim optim_of(const variant *v)
{
    return (bn_optim){.kind = v->kind, .lr = v->kind == BN_OPT_SGD ? 1e-3f : 1e-4f, .momentum = 0.9f,
                      .weight_decay = v->kind == BN_OPT_ADAMW ? 1e-2f : 0.0f, .beta1 = 0.9f, .beta2 = 0.999f,
                      .eps = 1e-8f, .clip_norm = v->clip_norm};
}

int bench_recipe_section(const bn_arch *arch, int batch, double budget_s, double *samples)
{
    bn_net *net = NULL;
    if (bn_net_create(&net, arch, batch, bn_backend_find("blas")) != BN_OK) {
        fprintf(stderr, "blasnet-bench: recipe: %s\n", bn_errmsg());
        return 1;
    }
    bench_stage_random_batch(net);
    char desc[128];
    printf("\n== recipe: one training step per optimizer and regulariser, %s, batch %d, %d threads, best of %d "
           "interleaved rounds ==\n", bn_arch_format(arch, desc, sizeof desc), batch, omp_get_max_threads(),
           ROUNDS);
    double best[N_VARIANTS];
    for (size_t v = 0; v < N_VARIANTS; v++)
        best[v] = INFINITY;
    int status = BN_OK;
    for (int round = 0; round < ROUNDS; round++)
        for (size_t v = 0; v < N_VARIANTS; v++) {
            bench_step_ctx ctx = {net, batch, optim_of(&variants[v]), variants[v].dropout, BN_OK};
            bench_reset_weights(net);
            best[v] = fmin(best[v], bench_measure(bench_step_call, &ctx, budget_s / ROUNDS, 3, 4096, samples).min_s);
            status = status ? status : ctx.status;
        }
    bn_net_set_dropout(net, 0.0f, 1, 0, 0);
    printf("%-24s %12s %10s\n", "variant", "step (ms)", "vs sgd");
    for (size_t v = 0; v < N_VARIANTS; v++)
        printf("%-24s %12.3f %9.3fx\n", variants[v].name, 1e3 * best[v], best[v] / best[0]);
    if (status)
        printf("a step failed: %s\n", bn_strerror(status));
    bn_net_destroy(&net);
    return status ? 1 : 0;
}
