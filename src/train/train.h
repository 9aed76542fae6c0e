/* The training loop's internals that the CLI shares (train.c): planning every batch size a run will use. */
#ifndef BN_TRAIN_TRAIN_H
#define BN_TRAIN_TRAIN_H

#include "blasnet.h"

/* Rank `rank` of `ranks`'s share of `count` rows, as bn_train and bn_evaluate split them: [lo, lo + returned),
 * contiguous, uneven by at most one row, empty when count is below the rank count. */
size_t bn_train_share(size_t count, int rank, int ranks, size_t *lo);
/* Plans, in the network's mode, every batch size that rank `rank` of `ranks` runs in bn_train over train_n
 * training and val_n validation samples at `batch`: its share of a full batch, of the epoch's last one and of
 * the validation chunks. bn_train calls it itself; the CLI calls it first to say what was measured and to
 * print the plans' digest, and `blasnet tune` to measure a run's shapes ahead of it. */
int bn_train_plan(bn_net *net, size_t train_n, size_t val_n, int batch, int rank, int ranks);

#endif
