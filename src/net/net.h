/* The network object: architecture, backend, and the one block of memory everything lives in. */
#ifndef BN_NET_H
#define BN_NET_H

#include "backend.h"
#include "blasnet.h"

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
    float *params, *grads;
    float *velocity, *moment2; /* sgd's velocity or adam's first moment; adam's second moment */
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
    const bn_comm *comm; /* bn_net_set_comm: bn_train and bn_evaluate share work with other ranks; NULL: none */
    /* With a comm whose node shares memory (net_share.c): params, velocity and moment2 point into the node's
     * one copy, grads into this rank's block there; the own_ pointers keep the block's, for detaching. */
    struct {
        int rank, size;   /* this rank among the node's; size 0: not sharing */
        float **grads;    /* size pointers: each node rank's gradient block */
        double *partials; /* size doubles: one partial sum per node rank, combined by max */
        float *own_params, *own_grads, *own_velocity, *own_moment2;
    } node;
    /* How each product is spread over the threads (net_plan.c): one set of plans per batch size the
     * network runs, made in plan_mode before the run needs them; a size or team without a set gets the
     * model's plan on the spot, which spot_plans counts. */
    bn_plan_mode plan_mode;
    bn_plan_set plan_sets[BN_PLAN_SETS];
    int plan_sets_used, plan_set_next; /* sets in use; the one the next new size replaces when all are */
    uint64_t spot_plans;
    float *plan_scratch; /* BN_PLAN_SCRATCH_FLOATS of K-split partial sums */
};

/* The plan mode a new network starts with: $BLASNET_PLAN when set (BN_E_INVALID if it names no mode), else
 * ESTIMATE. */
int bn_plan_mode_default(bn_plan_mode *mode);

/* Layer l's three products for a batch of B rows, as the passes run them; x is the input batch. */
bn_gemm bn_net_forward_product(bn_net *net, int l, const float *x, int B);
bn_gemm bn_net_dweight_product(bn_net *net, int l, const float *x, int B);
bn_gemm bn_net_dinput_product(bn_net *net, int l, int B);
/* Plans for batches of `batch` rows (1..max_batch) on the current team too, in the network's mode, keeping
 * the sets it has; nothing when they are there. bn_train and bn_evaluate call it for every size they will
 * run before the first step, so that no step plans. */
int bn_net_plan_rows(bn_net *net, int batch);
/* The plans for a batch of B rows: the stored ones when B and the team match them, else the model's,
 * written into *scratch_plan. */
const bn_gemm_plan *bn_net_forward_plan(bn_net *net, int l, const bn_gemm *g, bn_gemm_plan *scratch_plan);
const bn_pair_plan *bn_net_backward_plan(bn_net *net, int l, const bn_gemm *dw, const bn_gemm *da,
                                         bn_pair_plan *scratch_plan);

/* The pieces of a training step, for the step of several ranks (net_share.c). */
int bn_net_check_batch(const bn_net *net, int batch);
int bn_net_check_labels(const bn_net *net, const int32_t *labels, int batch);
/* The training forward pass, the loss and the output delta scaled by grad_scale; returns the summed loss. */
double bn_net_forward_loss_delta(bn_net *net, const float *x, const int32_t *labels, int B, float grad_scale,
                                 int *right);
void bn_net_backward_layer(bn_net *net, int l, const float *x, int B);
double bn_net_update_layer(bn_net *net, int l, const bn_update *u, float weight_decay, bool want_sq);
double bn_net_layer_grad_sqnorm(const bn_net *net, int l);
/* The clipping scale for a gradient of squared norm sq, recording the norm. */
float bn_net_clip_scale(bn_net *net, double sq, float clip_norm);
double bn_net_update_all(bn_net *net, const bn_optim *opt, bool want_sq, double grad_sq);
/* ||dW_0||: the first layer's gradient norm after a step (collective on a node-sharing comm). */
double bn_net_first_grad_norm(bn_net *net);
/* bn_net_init, once per node on a node-sharing comm. BN_OK or a comm status. */
int bn_net_init_once(bn_net *net, bn_init init, float std, bn_rng *rng);
/* Copies the early-stopping weights back (once per node on a node-sharing comm). BN_OK or a comm status. */
int bn_net_restore_best(bn_net *net);
/* Detaches from a node-sharing comm (net_share.c). */
void bn_net_node_detach(bn_net *net);
int bn_net_node_attach(bn_net *net, const bn_comm *comm);

/* Forward pass with labels: probabilities in layer_out[L-1]; adds summed cross-entropy to *loss_sum and correct
 * predictions to *correct. For evaluation (no gradient). */
int bn_net_forward_loss(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss_sum,
                        int *correct);

/* One step's share of a global batch. rows of the batch's batch_rows rows are this process's (0 is allowed
 * with a comm); the loss is the mean over batch_rows. With comm the gradients and sums are added over every
 * rank before any update, so every rank applies the same update. */
#define BN_SHARE_SUMS 3
typedef struct bn_share {
    int rows, batch_rows;
    const bn_comm *comm; /* NULL: one process, rows == batch_rows */
    /* out: [0] the batch's summed cross-entropy, [1] its correct predictions; [2] in: any value of the
     * caller's (bn_train's stop flag), out: its sum over the ranks */
    double sums[BN_SHARE_SUMS];
} bn_share;
#define BN_COMM_SLOT_SUMS (2 * BN_MAX_LAYERS)
#define BN_COMM_SLOT_BLOCKING (2 * BN_MAX_LAYERS + 1)
/* bn_net_train_step over a share. Without a comm it is bn_net_train_step itself; with one, each layer's
 * gradient sum starts as soon as its backward product is done and the updates follow each sum, top layer
 * first (with a comm of one rank the weights are bitwise those of the local step). */
BN_API int bn_net_train_share(bn_net *net, const float *x, const int32_t *labels, bn_share *share,
                              const bn_optim *opt, double *weight_sq); /* exported for tests and the benchmark */
/* bn_net_train_share with a comm (net_share.c). */
int bn_net_shared_step(bn_net *net, const float *x, const int32_t *labels, bn_share *share, const bn_optim *opt,
                       double *weight_sq);
/* begin and wait on the blocking slot: a sum (or max) over every rank of n values in place. */
int bn_comm_combine(const bn_comm *comm, void *data, size_t n, bn_comm_op op);
/* Before a run on several ranks: the architecture and hyperparameters, the training and validation data, and
 * the weights, moments and progress must be the same on every rank, or the sums would mix different runs.
 * Compares a checksum of each over the ranks; BN_E_MISMATCH names what differs. Collective. */
int bn_comm_agree_run(const bn_net *net, const bn_dataset *train, const bn_dataset *val,
                      const bn_train_state *st);
#endif
