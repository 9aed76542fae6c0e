/* The batch the benchmark's timed training steps run on (bench.c, recipe.c, mpi.c). */
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

#endif
