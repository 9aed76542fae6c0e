/* One step's update, as the kernels take it: the optimizer's constants with this step's rate, Adam's bias
 * corrections and the clipping scale folded in once per step (net.c), so the elementwise loops do no
 * per-step arithmetic. */
#ifndef BN_OPTIM_H
#define BN_OPTIM_H

#include "blasnet.h"

typedef struct bn_update {
    bn_optimizer kind;
    float lr;
    float momentum; /* sgd */
    bool nesterov;  /* sgd */
    float beta1, beta2, eps;
    float step_size;  /* adam: lr / (1 - beta1^t) */
    float bc2_sqrt;   /* adam: sqrt(1 - beta2^t); the denominator is sqrt(v) / bc2_sqrt + eps */
    float grad_scale; /* clipping: every gradient is multiplied by this first; 1 = none */
    /* adam: gradients smaller than this count as 0, and moments below FLT_MIN are flushed to 0. An x86 core
     * takes ~100 cycles for every float operation on a subnormal, and Adam's squared gradients reach them
     * within a few hundred steps on MNIST's dead border pixels: one update took 40 ms instead of 2. The
     * floor is where (1 - beta) g^2 would turn subnormal; what it drops moves a weight by under 1e-12 lr. */
    float grad_floor;
} bn_update;

bn_update bn_update_for(const bn_optim *opt, float grad_scale);

#endif
