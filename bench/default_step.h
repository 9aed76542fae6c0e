/* The bench's row for the step `blasnet train` runs when given no flags (default_step.c). */
#ifndef BN_BENCH_DEFAULT_STEP_H
#define BN_BENCH_DEFAULT_STEP_H

/* Times the default recipe's training step at the current thread count under the default plan and under
 * OpenBLAS's own threading, interleaved; % of peak against `peak` (GFLOP/s, the measured sgemm peak at this
 * thread count; NaN: not measured). samples: the caller's scratch for bench_measure (4096 doubles at least).
 * Returns 1 when the net cannot be made or a step fails, else 0. */
int bench_default_step(double peak, double budget_s, double *samples);

#endif
