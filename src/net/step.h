/* A pass of the network as a list of operations, described once (step_build.c) and run by one executor
 * (step_run.c). With the blas backend the list runs in one OpenMP parallel region: every thread walks the
 * same list, does its share of each operation, and waits at a barrier only after an operation whose output
 * other threads read next. A product planned as `library` is the exception: OpenBLAS threads it itself, and
 * inside a region it would run on one thread, so the region closes before it and a new one opens after.
 * The naive backends run the list op by op, each op in its own regions, as their reference. */
#ifndef BN_NET_STEP_H
#define BN_NET_STEP_H

#include "net_struct.h"
#include "parallel.h"
#include "team_barrier.h"

typedef enum {
    BN_OP_PRODUCT,      /* g[0] under plan.first; with `fused`, each finished tile of dW updates its W */
    BN_OP_PAIR,         /* g[0] beside g[1] (dW beside dA) under plan */
    BN_OP_BIAS_ACT,     /* layer's bias and activation (and dropout) on its product's output */
    BN_OP_SOFTMAX,      /* the output layer's bias, softmax, loss, count and (training) delta */
    BN_OP_BIAS_GRAD,    /* db of layer */
    BN_OP_ACT_BACKWARD, /* the delta of the layer below layer, in place: dA times act' (and the mask) */
    BN_OP_UPDATE,       /* the optimizer step of layer's W (unless `fused` did it) and b */
    BN_OP_GRAD_SQ,      /* ||dW||^2 and ||db||^2 of layer, for clipping */
    BN_OP_CLIP,         /* the clipping scale from every layer's GRAD_SQ, and the update's constants */
    BN_OP_REDUCE,       /* the K partial sums of a PRODUCT that deferred them (the owned layout's dA) */
} bn_op_kind;

typedef struct {
    uint8_t kind;  /* bn_op_kind */
    bool barrier;  /* the team waits after it */
    bool outside;  /* a product the engine threads itself: it runs between regions */
    bool fused;    /* PRODUCT of dW: the update inside its tiles; UPDATE: W is done, only b is left */
    bool deferred; /* PRODUCT of K bands: its partials are summed by a later REDUCE, after a barrier */
    int8_t layer;
    bn_gemm g[2];
    bn_pair_plan plan;
    bn_dropout drop; /* BIAS_ACT: of its layer; ACT_BACKWARD: of the layer below */
    bool dropping;
} bn_step_op;

/* Partial sums, one per thread, in slots: the loss, then per layer ||W||^2 before the update, ||dW||^2 and
 * ||db||^2. Summed in thread order after the region, so the bits are those of the ops' own regions. */
enum { BN_SLOT_LOSS = 0, BN_SLOT_WEIGHT_SQ = 1, BN_SLOT_DW_SQ = 1 + BN_MAX_LAYERS,
       BN_SLOT_DB_SQ = 1 + 2 * BN_MAX_LAYERS, BN_STEP_SLOTS = 1 + 3 * BN_MAX_LAYERS };
#define BN_STEP_MAX_OPS (10 * BN_MAX_LAYERS + 4)

typedef struct bn_step {
    bn_step_op op[BN_STEP_MAX_OPS];
    int count;
    /* the pass's inputs */
    const float *x;
    const int32_t *labels;
    int B;
    float grad_scale;              /* of the output delta; 0: no delta (evaluation) */
    const bn_optim *opt;           /* NULL: no update */
    bn_update u;                   /* the update's constants (CLIP sets the scale) */
    bool want_sq;                  /* ||W||^2 before the update wanted */
    bool stop_on_bad_loss;         /* a training step leaves the weights alone when the loss is not finite */
    /* what the threads leave */
    double part[BN_STEP_SLOTS][BN_MAX_THREADS];
    int slot_team[BN_STEP_SLOTS];  /* the threads that wrote each slot's parts */
    int right[BN_MAX_THREADS];     /* counts, beside the loss's parts */
    int max_team;                  /* the threads the list was run for (omp_get_max_threads) */
    bn_team_barrier barrier;       /* between the ops of a region (team_barrier.h) */
    bool bad_loss;
    /* what the pass gives, summed */
    double loss, weight_sq;
    int correct;
} bn_step;

/* The list of a pass, built into net->step (step_build.c). Each starts a new list over x and B. */
void bn_step_build_forward(bn_net *net, const float *x, const int32_t *labels, int B, bool training);
/* Appends layer l's backward pass (products, db, the delta below) and, with update (the list's opt set), its
 * update: inside the dW tiles where it can (net->fuse_update); when the optimizer clips, its part of the
 * norm instead, and bn_step_add_clipped_updates, after the last layer, updates them all. */
void bn_step_add_backward_layer(bn_net *net, int l, bool update);
void bn_step_add_clipped_updates(bn_net *net);
/* A training step's list: forward with dropout, loss, output delta times grad_scale, backward, and with opt
 * the update (want_sq: ||W||^2 read before it). */
void bn_step_build_train(bn_net *net, const float *x, const int32_t *labels, int B, float grad_scale,
                         const bn_optim *opt, bool want_sq);
/* Layer l's backward pass alone, for the step of several ranks (dist/net_share.c sums each layer's gradient
 * as soon as it exists). */
void bn_step_build_backward_layer(bn_net *net, const float *x, int B, int l);

/* Runs net->step's list (step_run.c); then loss, correct and weight_sq hold the sums. */
void bn_step_run(bn_net *net);

#endif
