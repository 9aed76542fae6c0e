/* Running a plan (plan_run.c): how a plan cuts a product into tiles, and the executor; and the candidate
 * partitions the planners try (plan_choose.c prices them by its model, plan_tune.c times them). */
#ifndef BN_GEMM_PLAN_RUN_H
#define BN_GEMM_PLAN_RUN_H

#include "gemm_plan.h"

/* The tile with index `tile` of the plan: rows [m0,m1) and columns [n0,n1) of C, inner range [k0,k1). */
typedef struct {
    int m0, m1, n0, n1, k0, k1, part_k;
} tile_bounds;

tile_bounds bn_plan_tile_of(const bn_gemm *g, const bn_gemm_plan *p, int tile);
int bn_plan_tile_count(const bn_gemm_plan *p);
bn_gemm_plan bn_plan_make(bn_split split, int pm, int pn, int pk, int threads);

/* A step's products inside a region its caller opened (net/step_run.c): thread t of nt runs its share of the
 * tiles; a K plan's partials are then summed by rows, after a barrier the caller places, by
 * bn_plan_reduce_share, which says which rows [*lo, *hi) this thread summed. after_tile (may be NULL) is called
 * with each whole tile this thread finished: rows [m0, m1) and columns [n0, n1) of C. */
typedef void (*bn_tile_hook)(void *ctx, const bn_gemm *g, int m0, int m1, int n0, int n1);
void bn_plan_run_share(const bn_gemm *g, const bn_gemm_plan *plan, int t, int nt, bn_tile_hook after_tile,
                       void *ctx);
void bn_plan_reduce_share(const bn_gemm *g, const bn_gemm_plan *plan, int t, int nt, size_t *lo, size_t *hi);
/* A pair side by side (plan->first_threads > 0, neither K split): threads below the split run first. */
void bn_plan_run_pair_share(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan, int t, int nt);

/* The candidate partitions of g on `team` threads, into out (BN_PLAN_MAX_CANDIDATES); the first is always ONE.
 * LIBRARY is among them when with_library and team > 1; K splits when k_fits_scratch. */
#define BN_PLAN_MAX_CANDIDATES 64
int bn_plan_candidates(const bn_gemm *g, int team, bool with_library, bool k_fits_scratch, bn_gemm_plan *out);
/* first on t1 threads beside second on team - t1, each as the model plans it, with the model's cost. */
bn_pair_plan bn_plan_pair_beside(const bn_gemm *first, const bn_gemm *second, int team, int t1);

#endif
