/* The bench's `recipe` section (recipe.c): what each optimizer and regulariser of a training recipe costs per
 * step, as a ratio to plain SGD with momentum measured in the same run. */
#ifndef BN_BENCH_RECIPE_H
#define BN_BENCH_RECIPE_H

#include "blasnet.h"

/* samples: the caller's scratch for bench_measure (4096 doubles at least). Returns 1 when the net cannot be
 * made, else 0. */
int bench_recipe_section(const bn_arch *arch, int batch, double budget_s, double *samples);

#endif
