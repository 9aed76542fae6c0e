/* The batch the benchmark's timed training steps run on (bench.c, recipe.c, team.c, mpi.c), and the step they time. */
#ifndef BN_BENCH_STAGE_H
#define BN_BENCH_STAGE_H

#include "blasnet.h"
#include "rng.h"

/* Random pixels in [0, 1) and labels in the net's staging, its whole max batch: the same batch on every run
 * (seed 3), so steps timed in different sections or programs see the same data. */
static inline void bench_stage_random_batch(bn_net *net)
{
    const bn_arch *a = bn_net_arch(net);
    const int rows = bn_net_max_batch(net);
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    float *x = bn_net_input(net);
    for (size_t i = 0; i < (size_t)rows * (size_t)a->sizes[0]; i++)
        x[i] = (float)bn_rng_uniform(&rng);
    int32_t *labels = bn_net_labels(net);
    for (int i = 0; i < rows; i++)
        labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)a->sizes[a->depth]);
}

/* He weights from seed 1, zero biases and a zero optimizer state: where a section times several optimizers or
 * variants on one net, each measurement starts here, so that no step times what the steps before it trained.
 * Left to run on, an Adam step read the velocity of the SGD steps before it as its first moment, over a second
 * moment near zero, and the weights became infinite: `blasnet-bench --only recipe --layers 784,1024,1024,10
 * --batch 512` failed with "training diverged" in 3 runs of 16, on 7e7708e as on 0.4.1 (BENCHMARKS.md). */
static inline void bench_reset_weights(bn_net *net)
{
    bn_rng rng;
    bn_rng_seed(&rng, 1);
    bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
}

/* One training step on the staged batch, for bench_measure: the optimizer's count advances and dropout is set
 * as bn_train sets it before every step; a failure is kept in status. */
typedef struct {
    bn_net *net;
    int batch;
    bn_optim opt;
    float dropout;
    int status;
} bench_step_ctx;

static inline void bench_step_call(void *p)
{
    bench_step_ctx *c = p;
    double loss;
    c->opt.t++;
    bn_net_set_dropout(c->net, c->dropout, 1, c->opt.t, 0);
    int s = bn_net_train_step(c->net, bn_net_input(c->net), bn_net_labels(c->net), c->batch, &c->opt, &loss, NULL,
                              NULL);
    if (s)
        c->status = s;
}

#endif
