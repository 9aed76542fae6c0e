/* The training loop's internals that the CLI shares (train.c): planning every batch size a run will use. */
#ifndef BN_TRAIN_TRAIN_H
#define BN_TRAIN_TRAIN_H

#include "blasnet.h"

/* Plans, in the network's mode, every batch size that rank `rank` of `ranks` runs in bn_train over train_n
 * training and val_n validation samples at `batch`: its share of a full batch, of the epoch's last one and of
 * the validation chunks. bn_train calls it itself; the CLI calls it first to say what was measured and to
 * print the plans' digest, and `blasnet tune` to measure a run's shapes ahead of it. */
int bn_train_plan(bn_net *net, size_t train_n, size_t val_n, int batch, int rank, int ranks);

#endif
