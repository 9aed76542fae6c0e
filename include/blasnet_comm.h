/* blasnet's data-parallel seam: the protocol a communicator (MPI, or anything that can sum over ranks) fills
 * in to plug into the library, and attaching one to a network. A program that trains in one process never
 * needs this header; blasnet's own MPI communicator (src/dist/comm_mpi.c) lives outside the library, so
 * libblasnet never links MPI. */
#ifndef BLASNET_COMM_H
#define BLASNET_COMM_H

#include "blasnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- data parallelism: the seam a communicator plugs into ------------------------------------------
 * blasnet itself never links MPI: a caller that runs several processes (the CLI under mpirun, src/comm_mpi.c) fills a
 * bn_comm and attaches it to the network. bn_train then gives each rank a contiguous share of every batch's rows (rank
 * r of K: rows [B r / K, B (r + 1) / K), empty when B < K), sums the loss, the counts and every layer's gradients over
 * the ranks (each layer's sum is started as soon as the backward pass has it, while the layers below are still
 * computed) and applies the same update everywhere; or, on a comm whose node's ranks share memory, keeps one copy of
 * the weights per node, each rank summing and updating its part of them (net_share.c); bn_evaluate splits the set and
 * sums. All ranks must call both with the same network, data and state; bn_train checks that first (checksums) and
 * refuses with BN_E_MISMATCH naming what differs. Rank 0 alone writes checkpoints. bn_net_train_step and
 * bn_net_backprop stay local to the process. */
typedef enum { BN_COMM_SUM_FLOAT, BN_COMM_SUM_DOUBLE, BN_COMM_SUM_U64, BN_COMM_MAX_U64, BN_COMM_MAX_DOUBLE } bn_comm_op;
/* Slots 0 .. 2 BN_MAX_LAYERS - 1: layer l's dW (2l) and db (2l + 1); then the step's sums; then blocking use. */
#define BN_COMM_SLOTS (2 * BN_MAX_LAYERS + 2)
typedef struct bn_comm {
    int rank, size; /* this process, and how many take part (size >= 1) */
    void *ctx;      /* handed to every call */
    /* Starts combining n values at data, in place, over every rank as `slot`; the caller leaves data alone
     * until wait(slot). BN_OK or a negative status. */
    int (*begin)(void *ctx, int slot, void *data, size_t n, bn_comm_op op);
    void (*progress)(void *ctx); /* lets started operations move while the caller computes; may be NULL */
    int (*wait)(void *ctx, int slot);
    /* Optional, for ranks that share a node's memory (node_size > 1 with node_map set; every node then has
     * node_size ranks). The network then keeps one copy of its weights and moments per node, and each rank
     * adds up, across the node's gradients, the part of them it updates (net_share.c): no gradient is copied
     * between the node's ranks. node_rank: this rank's place among them. */
    int node_rank, node_size;
    /* Collective over the node: maps lead_bytes that the node's ranks share (*lead) and own_bytes per rank
     * (own[i] is node rank i's, i < node_size), all readable and writable by every rank of the node, zeroed,
     * until the comm ends. */
    int (*node_map)(void *ctx, size_t lead_bytes, size_t own_bytes, void **lead, void **own);
    /* Collective over the node: what any rank wrote before it, every rank sees after it. */
    int (*node_sync)(void *ctx);
    /* begin, over the ranks with this node_rank, one per node (size / node_size of them). */
    int (*begin_across)(void *ctx, int slot, void *data, size_t n, bn_comm_op op);
} bn_comm;
/* NULL detaches; the comm must outlive its use by the network. With a node-sharing comm, attaching moves the
 * weights and moments into the node's memory (collective over the node: every rank attaches) and detaching
 * moves them back; while attached, only bn_train writes them (a rank writing the node's one copy on its own
 * would change the others' weights under them). BN_OK, or the status of a failed mapping (the network is then
 * left unattached). */
BN_API int bn_net_set_comm(bn_net *net, const bn_comm *comm);
BN_API const bn_comm *bn_net_comm(const bn_net *net);

#ifdef __cplusplus
}
#endif

#endif
