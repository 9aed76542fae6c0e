/* A network's step as one rank among several (net_share.c), and what else must happen once per node when
 * ranks share a node's memory. The network itself (net/) knows nothing of ranks: this layer attaches a
 * communicator to it (bn_net_set_comm) and drives it through its functions. */
#ifndef BN_DIST_NET_SHARE_H
#define BN_DIST_NET_SHARE_H

#include "blasnet_comm.h"

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
/* bn_net_train_step over a share. Without a comm it is bn_net_train_step itself; with one, each layer's
 * gradient sum starts as soon as its backward product is done and the updates follow each sum, top layer
 * first (with a comm of one rank the weights are bitwise those of the local step). */
int bn_net_train_share(bn_net *net, const float *x, const int32_t *labels, bn_share *share,
                       const bn_optim *opt, double *weight_sq);

/* bn_net_init, once per node on a node-sharing comm. BN_OK or a comm status. */
int bn_net_init_once(bn_net *net, bn_init init, float std, bn_rng *rng);
/* Copies the early-stopping weights back (once per node on a node-sharing comm). BN_OK or a comm status. */
int bn_net_restore_best(bn_net *net);
/* ||dW_0||: the first layer's gradient norm after a step (collective on a node-sharing comm). */
double bn_net_first_grad_norm(bn_net *net);

#endif
