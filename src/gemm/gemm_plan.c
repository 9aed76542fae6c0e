/* The product scheduler: candidate partitions of one product over the team, a cost model that ranks them,
 * a timer that ranks them by measurement instead, and the executor. Every parallel region opens the whole
 * team, whatever the plan uses: libgomp reuses a team of the same size without allocating, and a region of
 * another size would allocate in the training step. */
#include "gemm_plan.h"

#include "engine.h"
#include "parallel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- tiles ----------------------------------------------------------------------------------------- */

/* The tile with index `tile` of the plan: rows [m0,m1) and columns [n0,n1) of C, inner range [k0,k1). */
typedef struct {
    int m0, m1, n0, n1, k0, k1, part_k;
} tile_bounds;

static void band(int n, int align, int part, int parts, int *lo, int *hi)
{
    size_t a, b;
    bn_par_range((size_t)n, (size_t)align, part, parts, &a, &b);
    *lo = (int)a;
    *hi = (int)b;
}

static tile_bounds tile_of(const bn_gemm *g, const bn_gemm_plan *p, int tile)
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

static int tile_count(const bn_gemm_plan *p)
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

/* The share of thread `t` of `threads` (t may be >= threads: it then does nothing). Called inside a region. */
static void run_share(const bn_gemm *g, const bn_gemm_plan *p, int t, int threads)
{
    int tiles = tile_count(p);
    if (p->split == BN_SPLIT_ONE) {
        if (t == 0)
            run_tile(g, p, tile_of(g, p, 0));
        return;
    }
    for (int i = t; i < tiles && t < threads; i += threads)
        run_tile(g, p, tile_of(g, p, i));
}

static bn_gemm_plan make_plan(bn_split split, int pm, int pn, int pk, int threads)
{
    bn_gemm_plan p = {.split = (uint8_t)split, .parts_m = (uint16_t)pm, .parts_n = (uint16_t)pn,
                      .parts_k = (uint16_t)pk, .threads = threads, .scratch = NULL, .cost_us = 0.0};
    return p;
}

void bn_plan_run(const bn_gemm *g, const bn_gemm_plan *plan)
{
    int team = omp_get_max_threads();
    if (team == 1 || plan->split == BN_SPLIT_LIBRARY || !bn_engine_serial_in_region()) {
        /* Outside a region the call is the engine's to thread (or serial on a team of one). */
        bn_gemm_plan whole = make_plan(BN_SPLIT_ONE, 1, 1, 1, 1);
        run_tile(g, &whole, tile_of(g, &whole, 0));
        return;
    }
    /* Even a ONE plan runs inside a region: outside one the engine would thread it, and OpenBLAS's threaded
     * calls allocate. */
#pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int workers = plan->threads < nt ? plan->threads : nt;
        run_share(g, plan, t, workers);
        if (plan->parts_k > 1) {
#pragma omp barrier
            size_t lo, hi;
            bn_par_range((size_t)g->M, 1, t, nt, &lo, &hi);
            reduce_k(g, plan, lo, hi);
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
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int split = plan->first_threads < nt ? plan->first_threads : nt / 2;
        if (t < split)
            run_share(first, &plan->first, t, split);
        else
            run_share(second, &plan->second, t - split, nt - split);
    }
}

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
    int tiles = tile_count(p), workers = p->threads < 1 ? 1 : p->threads;
    double busiest = 0.0;
    for (int w = 0; w < workers; w++) {
        double sum = 0.0;
        for (int i = w; i < tiles; i += workers) {
            tile_bounds t = tile_of(g, p, i);
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

#define MAX_CANDIDATES 64


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
    if (mode == BN_PLAN_ESTIMATE || mode == BN_PLAN_MEASURE)
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
    for (int pm = 2; pm <= threads && n < MAX_CANDIDATES; pm++) {
        /* A grid with threads / pm columns, or, where threads is prime (2 cores), twice as many tiles. */
        int pn = threads % pm == 0 ? threads / pm : 0;
        if (pn >= 2 && fits(g->M, 4, pm) && fits(g->N, BN_PLAN_ALIGN, pn))
            c[n++] = make_plan(BN_SPLIT_TILES, pm, pn, 1, threads);
    }
    if (threads <= 3 && fits(g->M, 4, 2) && fits(g->N, BN_PLAN_ALIGN, threads) && n < MAX_CANDIDATES)
        c[n++] = make_plan(BN_SPLIT_TILES, 2, threads, 1, threads);
    return n;
}

/* LIBRARY is a candidate only when forced: OpenBLAS's threaded call allocates (about one block a call), and
 * the plans blasnet chooses itself keep the step free of allocations. */
static int candidates(const bn_gemm *g, int team, bn_plan_mode mode, bool k_fits_scratch, bn_gemm_plan *c)
{
    int n = 0, counts[20];
    c[n++] = make_plan(BN_SPLIT_ONE, 1, 1, 1, 1);
    if (team < 2)
        return n;
    if (mode == BN_PLAN_LIBRARY)
        c[n++] = make_plan(BN_SPLIT_LIBRARY, 1, 1, 1, team);
    int nc = thread_counts(team, counts);
    for (int i = 0; i < nc && n < MAX_CANDIDATES - 8; i++) {
        int t = counts[i];
        if (fits(g->M, g->ta ? BN_PLAN_ALIGN : 4, t))
            c[n++] = make_plan(BN_SPLIT_ROWS, t, 1, 1, t);
        if (fits(g->N, BN_PLAN_ALIGN, t))
            c[n++] = make_plan(BN_SPLIT_COLS, 1, t, 1, t);
        bool partials_fit = (size_t)(t - 1) * g->M * g->N <= BN_PLAN_SCRATCH_FLOATS;
        if (k_fits_scratch && fits(g->K, 2 * BN_PLAN_ALIGN, t) && partials_fit)
            c[n++] = make_plan(BN_SPLIT_K, 1, 1, t, t);
        n = add_grids(g, t, c, n);
    }
    return n;
}

bn_gemm_plan bn_plan_estimate(const bn_gemm *g, int team, bn_plan_mode mode, float *scratch, size_t scratch_floats)
{
    bn_gemm_plan c[MAX_CANDIDATES];
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
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
    bn_gemm_plan c[MAX_CANDIDATES];
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
        bn_pair_plan p = {.first_threads = t1};
        p.first = bn_plan_estimate(first, t1, BN_PLAN_ESTIMATE, NULL, 0);
        p.second = bn_plan_estimate(second, team - t1, BN_PLAN_ESTIMATE, NULL, 0);
        /* Inside the pair's one region a plan's own region and library threading are gone. */
        if (p.first.split == BN_SPLIT_LIBRARY)
            p.first = make_plan(BN_SPLIT_ONE, 1, 1, 1, 1);
        if (p.second.split == BN_SPLIT_LIBRARY)
            p.second = make_plan(BN_SPLIT_ONE, 1, 1, 1, 1);
        double a = work_us(first, &p.first, t1), b = work_us(second, &p.second, team - t1);
        p.cost_us = (a > b ? a : b) + region_us(team);
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

void bn_plan_list(const bn_plan_item *items, int n, int team, bn_plan_mode mode, float *scratch,
                  size_t scratch_floats, bn_pair_plan *out)
{
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
