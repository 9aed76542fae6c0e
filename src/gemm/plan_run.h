/* Running a plan (plan_run.c): how a plan cuts a product into tiles, and the executor. The planner
 * (plan_choose.c) prices the same tiles it will run. */
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

#endif
