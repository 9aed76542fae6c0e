/* The blocks a network's parameters and optimizer state live in, listed once: X(name, kind), each block
 * bn_net_param_floats() long, laid out alike (every W, then every b). kind: BN_BLOCK_NODE where the ranks of a
 * node share one copy and every rank must hold the same values before a run (the weights and the moments),
 * BN_BLOCK_RANK where each rank keeps its own (the gradients). The network's layout (net.c), the node's
 * shared memory, attach and detach (dist/net_share.c) and the ranks' checksums (dist/comm.c) all walk this
 * list, so a new block of state is one line here. Header-only. */
#ifndef BN_NET_BLOCKS_H
#define BN_NET_BLOCKS_H

enum { BN_BLOCK_RANK, BN_BLOCK_NODE };

#define BN_NET_BLOCKS(X)                                                                                          \
    X(params, BN_BLOCK_NODE)                                                                                      \
    X(grads, BN_BLOCK_RANK)                                                                                       \
    X(velocity, BN_BLOCK_NODE) /* sgd's velocity, or adam's first moment */                                      \
    X(moment2, BN_BLOCK_NODE)  /* adam's second moment */

#define BN_NET_BLOCK_DECLARE(name, kind) float *name;

/* The blocks, as one value: the network's own, or the node's shared copy bound in their place. */
typedef struct {
    BN_NET_BLOCKS(BN_NET_BLOCK_DECLARE)
} bn_net_blocks;

#endif
