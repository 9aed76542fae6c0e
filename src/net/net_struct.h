/* The network's fields, for the files of net/ alone (net.c, net_plan.c, products.c): header-only, so that
 * the files that read them do not depend on one another through it. Every other layer goes through the
 * functions of net.h. */
#ifndef BN_NET_STRUCT_H
#define BN_NET_STRUCT_H

#include "backend.h"
#include "blasnet.h"
#include "attachment.h"
#include "blocks.h"
#include "gemm_plan.h"
#include "wisdom.h"

/* The plans of one batch size on one team: a plan per forward product, one per backward pair (dW beside
 * dA; layer 0 has only dW). */
#define BN_PLAN_SETS 8
typedef struct {
    int batch, team;
    bn_gemm_plan forward[BN_MAX_LAYERS];
    bn_pair_plan backward[BN_MAX_LAYERS];
} bn_plan_set;

struct bn_net {
    bn_arch arch;
    int max_batch;
    const bn_backend *backend;
    float *block; /* the one allocation */
    size_t block_bytes;
    size_t param_count;  /* floats in each of params, grads, velocity, moment2, best (padding included) */
    size_t weight_count; /* leading floats of params that are weights: the L2 term's domain */
    BN_NET_BLOCKS(BN_NET_BLOCK_DECLARE) /* params, grads, velocity, moment2 (blocks.h) */
    float *best;               /* early stopping's best weights */
    size_t w_offset[BN_MAX_LAYERS], b_offset[BN_MAX_LAYERS];
    float *x;                      /* (max_batch, inputs) staging */
    int32_t *labels;               /* (max_batch) staging */
    float *layer_out[BN_MAX_LAYERS]; /* (max_batch, sizes[l+1]): layer l's output; the last holds probabilities */
    float *pre_act[BN_MAX_LAYERS];   /* X.W + b of hidden layers, kept only when the derivative needs it */
    /* (max_batch, widest layer): dLoss/dZ of a layer. Layer l reads its own delta from one and writes the
     * layer below's into the other, so two buffers serve any depth (see delta_of in net.c). */
    float *delta[2];
    int batch;                     /* rows of the last forward pass */
    /* dropout of the training passes (bn_net_set_dropout): probability, seed, step, first global row */
    float dropout_p;
    uint64_t dropout_seed, dropout_step, dropout_first_row;
    double grad_norm; /* of the last step, before clipping; NaN when it did not clip */
    bn_net_attachment *attached; /* what a later layer keeps with the network (bn_net_attach); NULL: none */
    /* How each product is spread over the threads (net_plan.c): one set of plans per batch size the
     * network runs, made in plan_mode before the run needs them; a size or team without a set gets the
     * model's plan on the spot, which spot_plans counts. */
    bn_plan_mode plan_mode;
    bn_plan_set plan_sets[BN_PLAN_SETS];
    int plan_sets_used, plan_set_next; /* sets in use; the one the next new size replaces when all are */
    uint64_t spot_plans;
    float *plan_scratch; /* BN_PLAN_SCRATCH_FLOATS of K-split partial sums */
    bn_wisdom *wisdom;   /* TUNED's measured times (bn_net_wisdom_import); NULL until first needed */
    /* net.c's training passes (forward, loss, backward) on the staged batch, which the planner times whole
     * under each candidate list: set by bn_net_create, so that net_plan.c needs no call into net.c */
    void (*run_passes)(bn_net *net, int B);
    unsigned wisdom_flags;
    struct bn_step *step; /* the list of the pass being run (step.h), allocated with the network */
    bool fuse_update;     /* each dW tile updates its W where the step allows it (bn_net_set_update_fusion) */
    bool one_region;      /* the list in one region (false: op by op, each op its own, for the bench) */
};

/* The buffer that holds layer l's delta: the output layer's is delta[0], and each layer below alternates. */
static inline float *bn_net_delta_buffer(const bn_net *net, int l)
{
    return net->delta[(net->arch.depth - 1 - l) & 1];
}

/* Layer l's bias and its gradient: views into the parameter and gradient blocks. */
static inline float *bn_net_layer_bias(const bn_net *net, int l)
{
    return net->params + net->b_offset[l];
}

static inline float *bn_net_layer_dbias(const bn_net *net, int l)
{
    return net->grads + net->b_offset[l];
}

/* Layer l's input: the batch for the first layer, the layer below's output for the others. */
static inline const float *bn_net_layer_input(const bn_net *net, int l, const float *x)
{
    return l == 0 ? x : net->layer_out[l - 1];
}

#endif
