/* Choosing a plan: the candidate partitions of one product over the team, a cost model that ranks them, a
 * timer that ranks them by measurement instead, products side by side, and a step's list of products. */
#include "plan_run.h"

#include "clock.h"
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the cost model -------------------------------------------------------------------------------- */

/* Per thread: sustained sgemm rate, bandwidth for packing operands and writing C, the fixed cost of one
 * sgemm call, and the cost of opening a region. Constants, not measurements, so that the default plan is
 * the same on every run: they only rank partitions, and BENCHMARKS.md checks the ranking against timing. */
#define MODEL_FLOPS_PER_US 120000.0
#define MODEL_BYTES_PER_US 12000.0
#define MODEL_CALL_US 1.0
#define MODEL_REGION_US 1.5
#define MODEL_REGION_PER_THREAD_US 0.2
/* Each thread that takes a tile: its wake-up skew and the cache lines the tiles share. It also breaks the
 * tie between a few threads and many in favour of few, where more would not be faster. */
#define MODEL_WORKER_US 0.5
/* How much cheaper the model must find dW beside dA than one after the other (measured at batch 32 on 2
 * threads: side by side 850 us against 763 one after the other, where the model had them 3% apart). */
#define MODEL_PAIR_MARGIN 1.1
/* OpenBLAS's threaded call: its own split plus a barrier and a buffer allocation per call. */
#define MODEL_LIBRARY_EXTRA_US 6.0

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* An operand costs more to pack (and C to write) when the tile holds only part of each stored row: the
 * rows are read in pieces, which the prefetchers follow worse. Measured on the step's products at batch 32
 * to 64: dW split by rows beat the split by columns by 10-40%, and the forward product split along K beat
 * the split by columns by up to 30%, with the same bytes moved; the partial rows are the difference. */
#define MODEL_PARTIAL_ROW 1.5

static double rows_factor(bool partial)
{
    return partial ? MODEL_PARTIAL_ROW : 1.0;
}

/* One serial sgemm of tile t of g: padded multiply-adds plus packing both operands and writing C, each
 * stored row-major (a transposed operand's stored rows run along the other dimension). */
static double tile_us(const bn_gemm *g, const tile_bounds *t, bool beta)
{
    int m = t->m1 - t->m0, n = t->n1 - t->n0, k = t->k1 - t->k0;
    if (m <= 0 || n <= 0)
        return 0.0;
    bool a_partial = g->ta ? m < g->M : k < g->K, b_partial = g->tb ? k < g->K : n < g->N;
    double flops = 2.0 * (double)round_up((size_t)m, 4) * (double)round_up((size_t)n, 16) * k;
    double floats = (double)m * k * rows_factor(a_partial) + (double)k * n * rows_factor(b_partial) +
                    (double)m * n * (beta ? 2.0 : 1.0) * rows_factor(n < g->N);
    return MODEL_CALL_US + flops / MODEL_FLOPS_PER_US + 4.0 * floats / MODEL_BYTES_PER_US;
}

static double region_us(int team)
{
    return MODEL_REGION_US + MODEL_REGION_PER_THREAD_US * team;
}

/* The busiest worker's tiles and the K reduction, without the region that holds them. */
static double work_us(const bn_gemm *g, const bn_gemm_plan *p, int team)
{
    if (p->split == BN_SPLIT_ONE) {
        tile_bounds whole = {0, g->M, 0, g->N, 0, g->K, 0};
        return tile_us(g, &whole, g->beta != 0.0f) + MODEL_WORKER_US;
    }
    int tiles = bn_plan_tile_count(p), workers = p->threads < 1 ? 1 : p->threads;
    double busiest = 0.0;
    for (int w = 0; w < workers; w++) {
        double sum = 0.0;
        for (int i = w; i < tiles; i += workers) {
            tile_bounds t = bn_plan_tile_of(g, p, i);
            sum += tile_us(g, &t, t.part_k == 0 && g->beta != 0.0f);
        }
        busiest = sum > busiest ? sum : busiest;
    }
    double reduce = p->parts_k > 1 ? 4.0 * p->parts_k * (double)g->M * g->N / (MODEL_BYTES_PER_US * team) : 0.0;
    double workers_us = MODEL_WORKER_US * (tiles < workers ? tiles : workers);
    return busiest + reduce + workers_us + (p->split == BN_SPLIT_LIBRARY ? MODEL_LIBRARY_EXTRA_US : 0.0);
}

/* The work plus the region it runs in: every plan on a team of two or more opens one, except LIBRARY, whose
 * threading is OpenBLAS's own (its cost is in MODEL_LIBRARY_EXTRA_US). */
static double model_us(const bn_gemm *g, const bn_gemm_plan *p, int team)
{
    bool region = team > 1 && p->split != BN_SPLIT_LIBRARY;
    return work_us(g, p, team) + (region ? region_us(team) : 0.0);
}

double bn_plan_model_us(const bn_gemm *g, const bn_gemm_plan *plan, int team)
{
    return model_us(g, plan, team);
}

/* ---- candidates ------------------------------------------------------------------------------------ */

/* Bands no thinner than an alignment unit: a cut that leaves a thread nothing is not a candidate. */
static bool fits(int n, int align, int parts)
{
    return parts >= 1 && (size_t)n >= (size_t)parts * (size_t)align;
}

static bool mode_allows(bn_plan_mode mode, bn_split split)
{
    static const bn_split forced[BN_PLAN_MODES] = {
        [BN_PLAN_ONE] = BN_SPLIT_ONE,     [BN_PLAN_LIBRARY] = BN_SPLIT_LIBRARY, [BN_PLAN_ROWS] = BN_SPLIT_ROWS,
        [BN_PLAN_COLS] = BN_SPLIT_COLS,   [BN_PLAN_TILES] = BN_SPLIT_TILES,     [BN_PLAN_K] = BN_SPLIT_K};
    if (mode == BN_PLAN_ESTIMATE || mode == BN_PLAN_MEASURE || mode == BN_PLAN_OWNED) /* owned: a lone product */
        return true;
    return (int)mode < BN_PLAN_MODES && forced[mode] == split;
}

/* Rows, columns, K bands and grids over 2, 4, ... team threads, the whole team always among them. */
static int thread_counts(int team, int *out)
{
    int n = 0;
    for (int t = 2; t < team && n < 16; t *= 2)
        out[n++] = t;
    out[n++] = team;
    return n;
}

static int add_grids(const bn_gemm *g, int threads, bn_gemm_plan *c, int n)
{
    for (int pm = 2; pm <= threads && n < BN_PLAN_MAX_CANDIDATES; pm++) {
        /* A grid with threads / pm columns, or, where threads is prime (2 cores), twice as many tiles. */
        int pn = threads % pm == 0 ? threads / pm : 0;
        if (pn >= 2 && fits(g->M, 4, pm) && fits(g->N, BN_PLAN_ALIGN, pn))
            c[n++] = bn_plan_make(BN_SPLIT_TILES, pm, pn, 1, threads);
    }
    if (threads <= 3 && fits(g->M, 4, 2) && fits(g->N, BN_PLAN_ALIGN, threads) && n < BN_PLAN_MAX_CANDIDATES)
        c[n++] = bn_plan_make(BN_SPLIT_TILES, 2, threads, 1, threads);
    return n;
}

int bn_plan_candidates(const bn_gemm *g, int team, bool with_library, bool k_fits_scratch, bn_gemm_plan *c)
{
    int n = 0, counts[20];
    c[n++] = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
    if (team < 2)
        return n;
    if (with_library)
        c[n++] = bn_plan_make(BN_SPLIT_LIBRARY, 1, 1, 1, team);
    int nc = thread_counts(team, counts);
    for (int i = 0; i < nc && n < BN_PLAN_MAX_CANDIDATES - 8; i++) {
        int t = counts[i];
        if (fits(g->M, g->ta ? BN_PLAN_ALIGN : 4, t))
            c[n++] = bn_plan_make(BN_SPLIT_ROWS, t, 1, 1, t);
        if (fits(g->N, BN_PLAN_ALIGN, t))
            c[n++] = bn_plan_make(BN_SPLIT_COLS, 1, t, 1, t);
        bool partials_fit = (size_t)(t - 1) * g->M * g->N <= BN_PLAN_SCRATCH_FLOATS;
        if (k_fits_scratch && fits(g->K, 2 * BN_PLAN_ALIGN, t) && partials_fit)
            c[n++] = bn_plan_make(BN_SPLIT_K, 1, 1, t, t);
        n = add_grids(g, t, c, n);
    }
    return n;
}

/* The model ranks LIBRARY only when it is forced: the model cannot know where OpenBLAS's own split beats
 * blasnet's (the Zen 1's serial cliff below N = 384, issue 24), and a wrong guess would cost allocations (a
 * threaded call allocates about one block). Measured plans have it among their candidates. */
static int candidates(const bn_gemm *g, int team, bn_plan_mode mode, bool k_fits_scratch, bn_gemm_plan *c)
{
    bool library = mode == BN_PLAN_LIBRARY || mode == BN_PLAN_MEASURE;
    return bn_plan_candidates(g, team, library, k_fits_scratch, c);
}

bn_gemm_plan bn_plan_estimate(const bn_gemm *g, int team, bn_plan_mode mode, float *scratch, size_t scratch_floats)
{
    bn_gemm_plan c[BN_PLAN_MAX_CANDIDATES];
    int n = candidates(g, team, mode, scratch && scratch_floats >= BN_PLAN_SCRATCH_FLOATS, c);
    bn_gemm_plan best = c[0];
    best.cost_us = INFINITY;
    for (int i = 0; i < n; i++) {
        if (!mode_allows(mode, (bn_split)c[i].split))
            continue;
        c[i].cost_us = model_us(g, &c[i], team);
        if (c[i].cost_us < best.cost_us)
            best = c[i];
    }
    if (isinf(best.cost_us)) { /* the forced kind does not fit this shape: one serial call */
        best = c[0];
        best.cost_us = model_us(g, &best, team);
    }
    best.scratch = best.split == BN_SPLIT_K ? scratch : NULL;
    return best;
}

/* ---- measurement ----------------------------------------------------------------------------------- */

static double now_us(void)
{
    return 1e-3 * (double)bn_clock_ns();
}

#define MEASURE_RUNS 5

/* The fastest of MEASURE_RUNS after one warm-up, as FFTW's planner does: on a shared machine a run is only
 * ever slowed down by others, so the minimum is the figure that belongs to the plan. */
static double time_plan_us(const bn_gemm *g, const bn_gemm_plan *p)
{
    double best = INFINITY;
    bn_plan_run(g, p);
    for (int r = 0; r < MEASURE_RUNS; r++) {
        double start = now_us();
        bn_plan_run(g, p);
        best = fmin(best, now_us() - start);
    }
    return best;
}

bn_gemm_plan bn_plan_measure(const bn_gemm *g, int team, float *scratch, size_t scratch_floats)
{
    bn_gemm_plan c[BN_PLAN_MAX_CANDIDATES];
    int n = candidates(g, team, BN_PLAN_MEASURE, scratch && scratch_floats >= BN_PLAN_SCRATCH_FLOATS, c);
    bn_gemm_plan best = c[0];
    best.cost_us = INFINITY;
    for (int i = 0; i < n; i++) {
        c[i].scratch = c[i].split == BN_SPLIT_K ? scratch : NULL;
        c[i].cost_us = time_plan_us(g, &c[i]);
        if (c[i].cost_us < best.cost_us)
            best = c[i];
    }
    return best;
}

/* ---- pairs ----------------------------------------------------------------------------------------- */

bn_gemm_plan bn_plan_choose(const bn_gemm *g, int team, bn_plan_mode mode, float *scratch, size_t scratch_floats)
{
    if (mode == BN_PLAN_MEASURE)
        return bn_plan_measure(g, team, scratch, scratch_floats);
    return bn_plan_estimate(g, team, mode, scratch, scratch_floats);
}

bn_pair_plan bn_plan_pair_beside(const bn_gemm *first, const bn_gemm *second, int team, int t1)
{
    bn_pair_plan p = {.first_threads = t1};
    p.first = bn_plan_estimate(first, t1, BN_PLAN_ESTIMATE, NULL, 0);
    p.second = bn_plan_estimate(second, team - t1, BN_PLAN_ESTIMATE, NULL, 0);
    /* Inside the pair's one region a plan's own region and library threading are gone. */
    if (p.first.split == BN_SPLIT_LIBRARY)
        p.first = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
    if (p.second.split == BN_SPLIT_LIBRARY)
        p.second = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
    double a = work_us(first, &p.first, t1), b = work_us(second, &p.second, team - t1);
    p.cost_us = (a > b ? a : b) + region_us(team);
    return p;
}

/* The side-by-side split of the team that the model (or the clock) likes best, if it beats one after the
 * other. Only ESTIMATE and MEASURE pair products: a forced kind is about one product's partition. */
bn_pair_plan bn_plan_pair(const bn_gemm *first, const bn_gemm *second, int team, bn_plan_mode mode,
                          float *scratch, size_t scratch_floats)
{
    bn_pair_plan best = {0};
    best.first = bn_plan_choose(first, team, mode, scratch, scratch_floats);
    best.second = bn_plan_choose(second, team, mode, scratch, scratch_floats);
    best.cost_us = best.first.cost_us + best.second.cost_us;
    if (team < 2 || (mode != BN_PLAN_ESTIMATE && mode != BN_PLAN_MEASURE) || !bn_engine_serial_in_region())
        return best;
    for (int t1 = 1; t1 < team; t1++) {
        bn_pair_plan p = bn_plan_pair_beside(first, second, team, t1);
        if (mode == BN_PLAN_MEASURE) {
            bn_plan_run_pair(first, second, &p); /* warm-up */
            p.cost_us = INFINITY;
            for (int r = 0; r < MEASURE_RUNS; r++) {
                double start = now_us();
                bn_plan_run_pair(first, second, &p);
                p.cost_us = fmin(p.cost_us, now_us() - start);
            }
        }
        /* The model is linear in a product's share, while a product split over threads often gains more
         * (each tile fits a core's cache better): side by side must win clearly before the model trusts it. */
        double margin = mode == BN_PLAN_MEASURE ? 1.0 : MODEL_PAIR_MARGIN;
        if (p.cost_us * margin < best.cost_us)
            best = p;
    }
    return best;
}

bool bn_plan_pair_is_owned(const bn_pair_plan *p)
{
    return p->first_threads == 0 && p->first.split == BN_SPLIT_COLS && p->second.split == BN_SPLIT_K &&
           p->first.parts_m == 1 && p->first.parts_n == p->second.parts_k && p->first.threads == p->second.threads &&
           p->first.parts_n == p->first.threads && p->second.parts_m == 1 && p->second.parts_n == 1;
}

/* An item of the owned layout: its output columns (the layer's units) in `team` bands of whole cache lines,
 * a band per thread, and dA's inner dimension (the same units) in the same bands, its partial sums added in
 * band order. Where dA's partials do not fit the scratch, the model's plans. */
static bn_pair_plan owned_item(const bn_plan_item *it, int team, float *scratch, size_t scratch_floats)
{
    const bn_gemm *da = &it->second;
    if (it->second_given &&
        (!scratch || (uint64_t)(team - 1) * (uint64_t)da->M * (uint64_t)da->N > scratch_floats))
        return bn_plan_pair(&it->first, da, team, BN_PLAN_ESTIMATE, scratch, scratch_floats);
    bn_pair_plan p = {0};
    p.first = bn_plan_make(BN_SPLIT_COLS, 1, team, 1, team);
    p.first.cost_us = model_us(&it->first, &p.first, team);
    if (it->second_given) {
        p.second = bn_plan_make(BN_SPLIT_K, 1, 1, team, team);
        p.second.scratch = scratch;
        p.second.cost_us = model_us(da, &p.second, team);
    }
    p.cost_us = p.first.cost_us + p.second.cost_us;
    return p;
}

void bn_plan_list(const bn_plan_item *items, int n, int team, bn_plan_mode mode, float *scratch,
                  size_t scratch_floats, bn_pair_plan *out)
{
    if (mode == BN_PLAN_OWNED && team >= 2 && bn_engine_serial_in_region()) {
        for (int i = 0; i < n; i++)
            out[i] = owned_item(&items[i], team, scratch, scratch_floats);
        return;
    }
    if (mode == BN_PLAN_OWNED)
        mode = BN_PLAN_ESTIMATE;
    for (int i = 0; i < n; i++) {
        if (items[i].second_given) {
            out[i] = bn_plan_pair(&items[i].first, &items[i].second, team, mode, scratch, scratch_floats);
            continue;
        }
        out[i] = (bn_pair_plan){0};
        out[i].first = bn_plan_choose(&items[i].first, team, mode, scratch, scratch_floats);
        out[i].cost_us = out[i].first.cost_us;
    }
}

