/* The CPU's nominal FP32 peak (nominal_peak.c): what its vector units could do at its reported clock, the
 * yardstick that the measured sgemm peak is read against. */
#ifndef BN_BENCH_NOMINAL_PEAK_H
#define BN_BENCH_NOMINAL_PEAK_H

#include <stdbool.h>

typedef struct {
    char core[48];         /* the microarchitecture, e.g. "Zen 3" */
    int flops_per_cycle;   /* FP32 FLOPs one core retires per cycle: FMA pipes x lanes x 2 */
    double ghz;            /* the reported clock */
    char clock_source[48]; /* where ghz came from */
} nominal_peak;

/* Fills *p and returns true when both the core's FMA throughput and a clock are known; else false, with
 * p->core naming what was found (vendor, family and model). */
bool nominal_peak_find(nominal_peak *p);

#endif
