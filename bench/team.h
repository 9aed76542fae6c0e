/* The bench's `team` section (team.c): what running a step as one team buys, as ratios in one run. */
#ifndef BN_BENCH_TEAM_H
#define BN_BENCH_TEAM_H

#include "blasnet.h"

/* samples: the caller's scratch for bench_measure (4096 doubles at least). Returns 1 when a net cannot be
 * made or a step fails, else 0. */
int bench_team_section(const bn_arch *arch, int batch, double budget_s, double *samples);

#endif
