/* The library's side of the communication seam (bn_comm in blasnet.h): a blocking sum over the ranks, the
 * check before a run that every rank holds the same run, and the slots the library uses. */
#ifndef BN_DIST_COMM_H
#define BN_DIST_COMM_H

#include "blasnet_comm.h"

/* Slots of bn_comm: 0 .. 2 * BN_MAX_LAYERS - 1 carry each layer's dW and db sums; then the step's loss and
 * counts, then the blocking sums. */
#define BN_COMM_SLOT_SUMS (2 * BN_MAX_LAYERS)
#define BN_COMM_SLOT_BLOCKING (2 * BN_MAX_LAYERS + 1)

/* begin and wait on the blocking slot: a sum (or max) over every rank of n values in place. */
int bn_comm_combine(const bn_comm *comm, void *data, size_t n, bn_comm_op op);
/* Before a run on several ranks: the architecture and hyperparameters, the training and validation data, and
 * the weights, moments and progress must be the same on every rank, or the sums would mix different runs.
 * Compares a checksum of each over the ranks of comm; BN_E_MISMATCH names what differs. Collective. */
int bn_comm_agree_run(const bn_comm *comm, const bn_net *net, const bn_dataset *train, const bn_dataset *val,
                      const bn_train_state *st);

/* After planning, on several ranks: every rank's plans from the same source (bn_net_plan_source), or
 * BN_E_MISMATCH saying so. Collective. */
int bn_comm_agree_plans(const bn_comm *comm, uint64_t source);

#endif
