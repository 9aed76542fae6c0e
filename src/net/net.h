/* The network object: architecture, backend, and the one block of memory everything lives in. */
#ifndef BN_NET_H
#define BN_NET_H

#include "attachment.h"
#include "backend.h"
#include "blasnet.h"
#include "blocks.h"
#include "gemm_plan.h"
#include "net_update.h"

/* struct bn_net's fields are net/'s own (net_struct.h): every other layer of the library, and the CLI, use
 * the functions below. The benchmark and the white-box tests read the fields too, and say so by building
 * with BN_NET_FIELDS (tests/meson.build, bench/meson.build). */
#ifdef BN_NET_FIELDS
#include "net_struct.h"
#endif

/* The network's views that the library and the white-box tests use; the public API has the weights, the
 * biases and the whole parameter block (blasnet.h). */
float *bn_net_dweight(bn_net *net, int layer); /* (in, out), written by bn_net_backprop */
float *bn_net_dbias(bn_net *net, int layer);   /* (out) */
/* The other blocks (with alignment padding, which stays zero); count in floats. */
float *bn_net_grads(bn_net *net, size_t *count);
float *bn_net_velocity(bn_net *net, size_t *count);    /* sgd's velocity, adam's first moment */
float *bn_net_moment2(bn_net *net, size_t *count);     /* adam's second moment */
float *bn_net_best_params(bn_net *net, size_t *count); /* early stopping's best weights */
const float *bn_net_velocity_const(const bn_net *net, size_t *count);
const float *bn_net_moment2_const(const bn_net *net, size_t *count);
const float *bn_net_best_params_const(const bn_net *net, size_t *count);
/* Sum of squared weights (biases excluded), for the L2 term lambda/2 * ||W||^2. */
double bn_net_weight_sqnorm(const bn_net *net);
/* dW += lambda * W for every layer: the full L2 gradient, for checks; training fuses it into the update. */
void bn_net_add_decay_grad(bn_net *net, float lambda);

/* The pieces of a training step, for the step of several ranks (net_share.c). */
int bn_net_check_batch(const bn_net *net, int batch);
int bn_net_check_labels(const bn_net *net, const int32_t *labels, int batch);
/* The training forward pass, the loss and the output delta scaled by grad_scale; returns the summed loss. */
double bn_net_forward_loss_delta(bn_net *net, const float *x, const int32_t *labels, int B, float grad_scale,
                                 int *right);
void bn_net_backward_layer(bn_net *net, int l, const float *x, int B);
/* bn_net_update_layer, bn_net_layer_grad_sqnorm and bn_net_clip_scale: net_update.h */
double bn_net_update_all(bn_net *net, const bn_optim *opt, bool want_sq, double grad_sq);
/* ||dW_0||: the first layer's gradient norm after a step (collective on a node-sharing comm). */
double bn_net_first_grad_norm(bn_net *net);
/* Forward pass with labels: probabilities in layer_out[L-1]; adds summed cross-entropy to *loss_sum and correct
 * predictions to *correct. For evaluation (no gradient). */
int bn_net_forward_loss(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss_sum,
                        int *correct);

/* Attaches a (NULL: none), releasing the one before; the attachment of the network, NULL if none. */
void bn_net_attach(bn_net *net, bn_net_attachment *a);
bn_net_attachment *bn_net_attached(const bn_net *net);

/* The blocks of blocks.h, each bn_net_param_floats() long: the network's own, or the node's shared copy
 * that dist/ binds in their place. */
size_t bn_net_param_floats(const bn_net *net);
bn_net_blocks bn_net_state_blocks(const bn_net *net);
void bn_net_bind_blocks(bn_net *net, bn_net_blocks blocks);
/* Whether a training step may update each layer's W inside the tiles of its dW product, while they are in
 * cache (on by default; the bits are the same either way, test_train_step holds them so): for the tests
 * and the bench, which compare the two. */
void bn_net_set_update_fusion(bn_net *net, bool on);
/* Whether a pass runs as one OpenMP region (the default) or op by op, each op opening its own regions as
 * blasnet did before 0.4.0: the same bits, for the bench to show what one region buys. */
void bn_net_set_one_region(bn_net *net, bool on);
/* The gradient norm of the step, unknown until clipping records it. */
void bn_net_clear_grad_norm(bn_net *net);

/* The local training step over `rows` rows: forward, loss, backward and (with opt) the update. *loss_sum
 * receives the summed cross-entropy, *correct the correct rows, *weight_sq ||W||^2 before the update. */
int bn_net_train_rows(bn_net *net, const float *x, const int32_t *labels, int rows, const bn_optim *opt,
                      double *loss_sum, int *correct, double *weight_sq);
#endif
