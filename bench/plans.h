/* The bench's `plans` section (plans.c): every product of a step under every partition, timed beside the
 * cost model. */
#ifndef BN_BENCH_PLANS_H
#define BN_BENCH_PLANS_H

#include "blasnet.h"

/* samples: the caller's scratch for bench_measure (4096 doubles at least). */
void bench_plans_section(const bn_arch *arch, int batch, double budget_s, double *samples);

#endif
