/* A network's product plans (net_plan.c): a set per batch size and team, made before the passes need them and
 * looked up by them. */
#ifndef BN_NET_PLAN_H
#define BN_NET_PLAN_H

#include "net_struct.h"

/* The plan mode a new network starts with: $BLASNET_PLAN when set (BN_E_INVALID if it names no mode), else
 * ESTIMATE. */
int bn_plan_mode_default(bn_plan_mode *mode);
/* Plans for batches of `batch` rows (1..max_batch) on the current team too, in the network's mode, keeping
 * the sets it has; nothing when they are there. bn_train and bn_evaluate call it for every size they will
 * run before the first step, so that no step plans. */
int bn_net_plan_rows(bn_net *net, int batch);
/* The plans for a batch of B rows: the stored ones when B and the team match them, else the model's,
 * written into *scratch_plan. */
const bn_gemm_plan *bn_net_forward_plan(bn_net *net, int l, const bn_gemm *g, bn_gemm_plan *scratch_plan);
const bn_pair_plan *bn_net_backward_plan(bn_net *net, int l, const bn_gemm *dw, const bn_gemm *da,
                                         bn_pair_plan *scratch_plan);


/* The plans (here): a digest of every set's partitions, in order of batch size (the same seed,
 * threads and digest give the same bits); whether any product runs under OpenBLAS's threading, which
 * allocates inside the step. */
uint64_t bn_net_plan_digest(const bn_net *net);
/* Where the plans come from, hashed: the mode, the team, and for TUNED the wisdom's entries. Ranks given the
 * same source plan every shape alike, whatever share of a batch each runs (their digests then differ). */
uint64_t bn_net_plan_source(const bn_net *net);
bool bn_net_plans_use_library(const bn_net *net);

#endif
