/* How the fast kernels use threads: an OpenMP region only above a size where the fork pays for itself,
 * a static partition so every run splits work the same way, and reductions summed in thread order so a
 * result is bitwise the same for the same thread count (OpenMP's reduction clause promises no order). */
#ifndef BN_PARALLEL_H
#define BN_PARALLEL_H

#include <stddef.h>
#include <omp.h>

/* Below this many elements a loop runs on the calling thread: waking a team costs more than it saves. */
#define BN_PAR_MIN_ELEMS 32768
#define BN_MAX_THREADS 256

static inline int bn_par_threads(size_t elems)
{
    if (elems < BN_PAR_MIN_ELEMS)
        return 1;
    int n = omp_get_max_threads();
    return n < BN_MAX_THREADS ? n : BN_MAX_THREADS;
}

/* The threads of a team of `team` that a summing kernel uses: what bn_par_threads gives outside a region, so
 * that a sum taken inside one region (net/step_run.c) adds its parts in the same order. */
static inline int bn_par_threads_of(size_t elems, int team)
{
    return elems < BN_PAR_MIN_ELEMS ? 1 : team;
}

/* [*begin, *end) of n items for thread t of nt, in blocks of `align` items (so vector loops start aligned). */
static inline void bn_par_range(size_t n, size_t align, int t, int nt, size_t *begin, size_t *end)
{
    size_t blocks = (n + align - 1) / align;
    size_t lo = blocks * (size_t)t / (size_t)nt * align;
    size_t hi = blocks * (size_t)(t + 1) / (size_t)nt * align;
    *begin = lo < n ? lo : n;
    *end = hi < n ? hi : n;
}

/* One partial sum per thread, each on its own cache line. */
typedef struct {
    double value;
    char pad[64 - sizeof(double)];
} bn_partial;

static inline double bn_sum_partials(const bn_partial *p, int nt)
{
    double sum = 0.0;
    for (int t = 0; t < nt; t++)
        sum += p[t].value;
    return sum;
}

#endif
