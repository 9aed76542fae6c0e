/* Timing for the benchmark: a monotonic wall clock (clock() counts CPU time of every thread, wrong under
 * threads) and a measuring loop that warms up, repeats within a time budget and reports median and min.
 * The sample array is the caller's, allocated once, so nothing allocates while a kernel is being timed. */
#ifndef BN_BENCH_TIMER_H
#define BN_BENCH_TIMER_H

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_timing {
    double median_s, min_s;
    int runs;        /* timed calls behind median and min */
    bool cold;       /* runs == 1 and that one call was also the first (no warm-up): a slow kernel */
} bench_timing;

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values; sorts them in place. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Calls fn(ctx) once to warm up; if that call alone took at least budget_s it is the one figure (a naive
 * kernel that takes a second needs no warming, and repeating it would blow the run's time). Otherwise times
 * calls one by one until min_runs are done and budget_s has passed, or max_runs (samples' capacity). */
static inline bench_timing bench_measure(void (*fn)(void *), void *ctx, double budget_s, int min_runs,
                                         int max_runs, double *samples)
{
    bench_timing t = {0.0, 0.0, 0, false};
    double t0 = bench_now();
    fn(ctx);
    double first = bench_now() - t0;
    if (first >= budget_s || max_runs < 1) {
        t.median_s = t.min_s = first;
        t.runs = 1;
        t.cold = true;
        return t;
    }
    double start = bench_now(), elapsed = 0.0;
    int n = 0;
    while (n < max_runs && (n < min_runs || elapsed < budget_s)) {
        double a = bench_now();
        fn(ctx);
        double b = bench_now();
        samples[n++] = b - a;
        elapsed = b - start;
    }
    t.median_s = bench_median(samples, n);
    t.min_s = samples[0]; /* sorted by bench_median */
    t.runs = n;
    return t;
}

#endif
