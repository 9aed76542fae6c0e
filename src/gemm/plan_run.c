/* Running a plan: a product cut into tiles as its plan says, each tile one serial call of the engine on its
 * own thread (or OpenBLAS's own threading for `library`), the K bands' partial sums added in a fixed order.
 * Every parallel region opens the whole team, whatever the plan uses: libgomp reuses a team of the same
 * size without allocating, and a region of another size would allocate in the training step. */
#include "plan_run.h"

#include "engine.h"
#include "parallel.h"

#include <stdio.h>
#include <string.h>

/* ---- tiles ----------------------------------------------------------------------------------------- */

static void band(int n, int align, int part, int parts, int *lo, int *hi)
{
    size_t a, b;
    bn_par_range((size_t)n, (size_t)align, part, parts, &a, &b);
    *lo = (int)a;
    *hi = (int)b;
}

tile_bounds bn_plan_tile_of(const bn_gemm *g, const bn_gemm_plan *p, int tile)
{
    tile_bounds t;
    int pn = p->parts_n, pk = p->parts_k;
    t.part_k = tile % pk;
    int col = tile / pk % pn, row = tile / pk / pn;
    /* Rows of a transposed A are its columns: cut them at cache lines too. */
    band(g->M, g->ta ? BN_PLAN_ALIGN : 4, row, p->parts_m, &t.m0, &t.m1);
    band(g->N, BN_PLAN_ALIGN, col, pn, &t.n0, &t.n1);
    band(g->K, BN_PLAN_ALIGN, t.part_k, pk, &t.k0, &t.k1);
    return t;
}

int bn_plan_tile_count(const bn_gemm_plan *p)
{
    return p->parts_m * p->parts_n * p->parts_k;
}

/* One tile as one serial sgemm. Partial sums of K bands other than the first go to scratch with beta 0. */
static void run_tile(const bn_gemm *g, const bn_gemm_plan *p, tile_bounds t)
{
    if (t.m1 <= t.m0 || t.n1 <= t.n0)
        return;
    const float *a = g->ta ? g->A + (size_t)t.k0 * g->lda + t.m0 : g->A + (size_t)t.m0 * g->lda + t.k0;
    const float *b = g->tb ? g->B + (size_t)t.n0 * g->ldb + t.k0 : g->B + (size_t)t.k0 * g->ldb + t.n0;
    float *c = g->C + (size_t)t.m0 * g->ldc + t.n0;
    int ldc = g->ldc;
    float beta = g->beta;
    if (t.part_k > 0) {
        c = p->scratch + (size_t)(t.part_k - 1) * g->M * g->N + (size_t)t.m0 * g->N + t.n0;
        ldc = g->N;
        beta = 0.0f;
    }
    if (t.k1 <= t.k0) { /* an empty K band still owes its share: C scaled by beta, or a zero partial */
        for (int i = t.m0; i < t.m1; i++)
            for (int j = 0; j < t.n1 - t.n0; j++)
                c[(size_t)(i - t.m0) * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)(i - t.m0) * ldc + j];
        return;
    }
    bn_engine_sgemm(g->ta, g->tb, t.m1 - t.m0, t.n1 - t.n0, t.k1 - t.k0, g->alpha, a, g->lda, b, g->ldb, beta, c,
                    ldc);
}

/* C += the K partials, rows [lo, hi), always in band order: the same bits whichever thread sums a row. */
static void reduce_k(const bn_gemm *g, const bn_gemm_plan *p, size_t lo, size_t hi)
{
    const size_t plane = (size_t)g->M * g->N;
    for (size_t i = lo; i < hi; i++) {
        float *restrict c = g->C + i * g->ldc;
        for (int part = 1; part < p->parts_k; part++) {
            const float *restrict s = p->scratch + (size_t)(part - 1) * plane + i * g->N;
#pragma omp simd
            for (int j = 0; j < g->N; j++)
                c[j] += s[j];
        }
    }
}

/* The share of thread `t` of `threads` (t may be >= threads: it then does nothing). Called inside a region;
 * after_tile, when given, sees each finished tile (a K plan's tiles are partial sums: it is not called). */
static void run_share(const bn_gemm *g, const bn_gemm_plan *p, int t, int threads, bn_tile_hook after_tile,
                      void *ctx)
{
    int tiles = bn_plan_tile_count(p);
    if (p->split == BN_SPLIT_ONE)
        tiles = t == 0 ? 1 : 0; /* tile 0 on thread 0 */
    for (int i = t; i < tiles && t < threads; i += threads) {
        tile_bounds b = bn_plan_tile_of(g, p, i);
        run_tile(g, p, b);
        if (after_tile && p->parts_k == 1 && b.m1 > b.m0 && b.n1 > b.n0)
            after_tile(ctx, g, b.m0, b.m1, b.n0, b.n1);
    }
}

void bn_plan_run_share(const bn_gemm *g, const bn_gemm_plan *plan, int t, int nt, bn_tile_hook after_tile,
                       void *ctx)
{
    run_share(g, plan, t, plan->threads < nt ? plan->threads : nt, after_tile, ctx);
}

void bn_plan_reduce_share(const bn_gemm *g, const bn_gemm_plan *plan, int t, int nt, size_t *lo, size_t *hi)
{
    bn_par_range((size_t)g->M, 1, t, nt, lo, hi);
    reduce_k(g, plan, *lo, *hi);
}

void bn_plan_run_pair_share(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan, int t, int nt)
{
    if (nt < 2) { /* a runtime that gave one thread (a region nested in the caller's): one after the other */
        run_share(first, &plan->first, t, 1, NULL, NULL);
        run_share(second, &plan->second, t, 1, NULL, NULL);
        return;
    }
    int split = plan->first_threads < nt ? plan->first_threads : nt / 2;
    if (t < split)
        run_share(first, &plan->first, t, split, NULL, NULL);
    else
        run_share(second, &plan->second, t - split, nt - split, NULL, NULL);
}

bn_gemm_plan bn_plan_make(bn_split split, int pm, int pn, int pk, int threads)
{
    bn_gemm_plan p;
    memset(&p, 0, sizeof p); /* the padding too: the same inputs must give the same plan, byte for byte */
    p.split = (uint8_t)split;
    p.parts_m = (uint16_t)pm, p.parts_n = (uint16_t)pn, p.parts_k = (uint16_t)pk;
    p.threads = threads;
    return p;
}

void bn_plan_run(const bn_gemm *g, const bn_gemm_plan *plan)
{
    int team = omp_get_max_threads();
    if (team == 1 || plan->split == BN_SPLIT_LIBRARY || !bn_engine_serial_in_region()) {
        /* Outside a region the call is the engine's to thread (or serial on a team of one). */
        bn_gemm_plan whole = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
        run_tile(g, &whole, bn_plan_tile_of(g, &whole, 0));
        return;
    }
    /* Even a ONE plan runs inside a region: outside one the engine would thread it, and OpenBLAS's threaded
     * calls allocate. */
#pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        bn_plan_run_share(g, plan, t, nt, NULL, NULL);
        if (plan->parts_k > 1) {
#pragma omp barrier
            size_t lo, hi;
            bn_plan_reduce_share(g, plan, t, nt, &lo, &hi);
        }
    }
}

/* Threads [0, first_threads) run `first`, the rest `second`; K-split plans are not paired (the reduction
 * would need its own barrier per group). */
void bn_plan_run_pair(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan)
{
    int team = omp_get_max_threads();
    if (plan->first_threads <= 0 || team < 2 || plan->first_threads >= team || !bn_engine_serial_in_region()) {
        bn_plan_run(first, &plan->first);
        bn_plan_run(second, &plan->second);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        bn_plan_run_pair_share(first, second, plan, omp_get_thread_num(), omp_get_num_threads());
    }
}

/* ---- names ----------------------------------------------------------------------------------------- */

const char *bn_split_name(int split)
{
    static const char *const names[BN_SPLIT_KINDS] = {"one", "library", "rows", "cols", "tiles", "k"};
    return split >= 0 && split < BN_SPLIT_KINDS ? names[split] : "?";
}

const char *bn_plan_describe(const bn_gemm_plan *p, char *buf, size_t size)
{
    switch (p->split) {
    case BN_SPLIT_ONE: snprintf(buf, size, "one"); break;
    case BN_SPLIT_LIBRARY: snprintf(buf, size, "library %d", p->threads); break;
    case BN_SPLIT_ROWS: snprintf(buf, size, "rows %d", p->parts_m); break;
    case BN_SPLIT_COLS: snprintf(buf, size, "cols %d", p->parts_n); break;
    case BN_SPLIT_TILES: snprintf(buf, size, "tiles %dx%d/%d", p->parts_m, p->parts_n, p->threads); break;
    case BN_SPLIT_K: snprintf(buf, size, "k %d", p->parts_k); break;
    default: snprintf(buf, size, "?"); break;
    }
    return buf;
}
