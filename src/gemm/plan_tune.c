/* Plans from measurements kept as wisdom (wisdom.h): each product's candidates, OpenBLAS's own threading
 * among them, timed on this machine once and chosen from their times ever after; dW beside dA likewise; and
 * the whole list of a step against the same list under the library's threading, so that a step plan never
 * loses to doing nothing.
 *
 * Timing follows FFTW's planner: each candidate runs once to warm up, then the candidates run in turn,
 * round after round (interleaved, so that a neighbour's burst or a clock change hits them all alike), and
 * each keeps its fastest round: on a shared machine others only ever slow a run down. */
#include "wisdom.h"

#include "clock.h"
#include "engine.h"
#include "plan_run.h"

#include <math.h>
#include <string.h>

#define TUNE_MIN_ROUNDS 3
#define TUNE_MAX_ROUNDS 9
/* Rounds stop being added once this much time is spent on one product (the warm-up round tells what a round
 * costs): 784-1024-1024-10 at batch 512 measures in about 2 s on 2 cores of a Zen 3. */
#define TUNE_BUDGET_NS 40000000.0

/* Something to time: candidate i of n. */
typedef struct {
    void (*run)(const void *ctx, int i);
    const void *ctx;
    int n;
} timed;

/* The fastest round of each of t's candidates into best[i] (at least 1 ns). */
static void time_interleaved(const timed *t, uint64_t *best)
{
    uint64_t round_ns = 0;
    for (int i = 0; i < t->n; i++) {
        uint64_t start = bn_clock_ns();
        t->run(t->ctx, i);
        round_ns += bn_clock_ns() - start;
        best[i] = UINT64_MAX;
    }
    double fit = round_ns ? TUNE_BUDGET_NS / (double)round_ns : TUNE_MAX_ROUNDS;
    int rounds = fit < TUNE_MIN_ROUNDS ? TUNE_MIN_ROUNDS : fit > TUNE_MAX_ROUNDS ? TUNE_MAX_ROUNDS : (int)fit;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < t->n; i++) {
            uint64_t start = bn_clock_ns();
            t->run(t->ctx, i);
            uint64_t ns = bn_clock_ns() - start;
            best[i] = ns < best[i] ? (ns ? ns : 1) : best[i];
        }
}

/* Keeps e, measured since `start`, in w, and counts it. */
static void keep_measured(bn_wisdom *w, const bn_wisdom_entry *e, uint64_t start)
{
    w->measured += bn_wisdom_put(w, e) == BN_OK;
    w->measure_seconds += (double)(bn_clock_ns() - start) * 1e-9;
}

/* ---- one product ------------------------------------------------------------------------------------ */

typedef struct {
    const bn_gemm *g;
    const bn_gemm_plan *plans;
} product_run;

static void run_product(const void *ctx, int i)
{
    const product_run *p = ctx;
    bn_plan_run(p->g, &p->plans[i]);
}

static bool time_is_of(const bn_wisdom_time *t, const bn_gemm_plan *p)
{
    return t->split == p->split && t->pm == p->parts_m && t->pn == p->parts_n && t->pk == p->parts_k &&
           t->threads == p->threads;
}

/* The fastest of the n candidates that e has a time for (the first on a tie), its time as cost; whether e
 * has a time for every one of them. */
static bool fastest_known(const bn_wisdom_entry *e, const bn_gemm_plan *c, int n, bn_gemm_plan *best)
{
    bool complete = true;
    best->cost_us = INFINITY;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < e->n && !time_is_of(&e->t[j], &c[i]))
            j++;
        if (j == e->n) {
            complete = false;
            continue;
        }
        if ((double)e->t[j].ns / 1000.0 < best->cost_us) {
            *best = c[i];
            best->cost_us = (double)e->t[j].ns / 1000.0;
        }
    }
    return complete;
}

static void measure_product(bn_wisdom *w, const bn_gemm *g, int team, const bn_gemm_plan *c, int n)
{
    uint64_t start = bn_clock_ns(), ns[BN_PLAN_MAX_CANDIDATES];
    product_run run = {g, c};
    time_interleaved(&(timed){run_product, &run, n}, ns);
    bn_wisdom_entry e = {.kind = BN_WISDOM_PRODUCT, .team = team, .a = bn_wisdom_shape_of(g), .n = n};
    for (int i = 0; i < n; i++)
        e.t[i] = (bn_wisdom_time){.split = c[i].split, .pm = c[i].parts_m, .pn = c[i].parts_n,
                                  .pk = c[i].parts_k, .threads = (uint16_t)c[i].threads, .ns = ns[i]};
    keep_measured(w, &e, start);
}

/* g's plan from w's times, measured first when w lacks them and may_measure, else the model's. */
static bn_gemm_plan tuned_product(const bn_gemm *g, int team, bn_wisdom *w, bool may_measure, float *scratch,
                                  size_t scratch_floats)
{
    bn_gemm_plan c[BN_PLAN_MAX_CANDIDATES], best;
    bool k_fits = scratch && scratch_floats >= BN_PLAN_SCRATCH_FLOATS;
    int n = bn_plan_candidates(g, team, true, k_fits, c);
    for (int i = 0; i < n; i++)
        c[i].scratch = c[i].split == BN_SPLIT_K ? scratch : NULL;
    if (team < 2) /* one candidate: nothing to measure */
        return bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, scratch_floats);
    bn_wisdom_shape shape = bn_wisdom_shape_of(g);
    bn_wisdom_entry *e = bn_wisdom_find(w, BN_WISDOM_PRODUCT, team, &shape, NULL, 0);
    if (e && fastest_known(e, c, n, &best))
        return best;
    if (may_measure) {
        measure_product(w, g, team, c, n);
        e = bn_wisdom_find(w, BN_WISDOM_PRODUCT, team, &shape, NULL, 0);
        if (e && (fastest_known(e, c, n, &best), isfinite(best.cost_us)))
            return best;
    }
    w->missing++;
    return bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, scratch_floats);
}

/* ---- dW beside dA ----------------------------------------------------------------------------------- */

typedef struct {
    const bn_gemm *first, *second;
    const bn_pair_plan *plans;
} pair_run;

static void run_pair(const void *ctx, int i)
{
    const pair_run *p = ctx;
    bn_plan_run_pair(p->first, p->second, &p->plans[i]);
}

/* The pair one after the other on the whole team, or side by side where w's times say that is faster. */
static bn_pair_plan tuned_pair(const bn_gemm *first, const bn_gemm *second, int team, bn_wisdom *w,
                               bool may_measure, float *scratch, size_t scratch_floats)
{
    bn_pair_plan best = {0};
    best.first = tuned_product(first, team, w, may_measure, scratch, scratch_floats);
    best.second = tuned_product(second, team, w, may_measure, scratch, scratch_floats);
    best.cost_us = best.first.cost_us + best.second.cost_us;
    if (team < 2 || !bn_engine_serial_in_region() || team > BN_WISDOM_MAX_TIMES)
        return best;
    bn_pair_plan beside[BN_WISDOM_MAX_TIMES];
    for (int t1 = 1; t1 < team; t1++)
        beside[t1 - 1] = bn_plan_pair_beside(first, second, team, t1);
    bn_wisdom_shape a = bn_wisdom_shape_of(first), b = bn_wisdom_shape_of(second);
    bn_wisdom_entry *e = bn_wisdom_find(w, BN_WISDOM_PAIR, team, &a, &b, 0);
    if ((!e || e->n != team - 1) && may_measure) {
        uint64_t start = bn_clock_ns(), ns[BN_WISDOM_MAX_TIMES];
        time_interleaved(&(timed){run_pair, &(pair_run){first, second, beside}, team - 1}, ns);
        bn_wisdom_entry m = {.kind = BN_WISDOM_PAIR, .team = team, .a = a, .b = b, .n = team - 1};
        for (int i = 0; i < team - 1; i++)
            m.t[i] = (bn_wisdom_time){.threads = (uint16_t)(i + 1), .ns = ns[i]};
        keep_measured(w, &m, start);
        e = bn_wisdom_find(w, BN_WISDOM_PAIR, team, &a, &b, 0);
    }
    if (!e || e->n != team - 1) {
        w->missing += !may_measure;
        return best;
    }
    for (int i = 0; i < e->n; i++)
        if ((double)e->t[i].ns / 1000.0 < best.cost_us) {
            best = beside[e->t[i].threads - 1];
            best.cost_us = (double)e->t[i].ns / 1000.0;
        }
    return best;
}

/* ---- the whole step -------------------------------------------------------------------------------- */

uint64_t bn_plan_digest(uint64_t h, const bn_pair_plan *plans, int n)
{
    for (int i = 0; i < n; i++) {
        const bn_gemm_plan *p[2] = {&plans[i].first, &plans[i].second};
        for (int j = 0; j < 2; j++) {
            const uint32_t v[5] = {p[j]->split, p[j]->parts_m, p[j]->parts_n, p[j]->parts_k, (uint32_t)p[j]->threads};
            h = bn_wisdom_hash(h, v, sizeof v);
        }
        h = bn_wisdom_hash(h, &plans[i].first_threads, sizeof plans[i].first_threads);
    }
    return h;
}

uint64_t bn_plan_step_key(const bn_plan_item *items, int n, int team)
{
    uint64_t h = bn_wisdom_hash(0, &team, sizeof team);
    for (int i = 0; i < n; i++) {
        bn_wisdom_shape s[2] = {bn_wisdom_shape_of(&items[i].first),
                                items[i].second_given ? bn_wisdom_shape_of(&items[i].second) : (bn_wisdom_shape){0}};
        const int v[14] = {s[0].ta, s[0].tb, s[0].beta, s[0].M, s[0].N, s[0].K, s[1].ta,
                           s[1].tb, s[1].beta, s[1].M, s[1].N, s[1].K, items[i].second_given, i};
        h = bn_wisdom_hash(h, v, sizeof v);
    }
    return h;
}

/* The whole-step candidates, in the order of a wisdom step entry's times (BN_WISDOM_STEP_LISTS of them). */
enum { LIST_OWN, LIST_LIBRARY, LIST_MODEL, LIST_OWNED, BN_STEP_LISTS };
_Static_assert(BN_STEP_LISTS == BN_WISDOM_STEP_LISTS, "a step entry holds one time per list");

/* A list is timed over several steps back to back, as training runs it (the first step after another list
 * finds that list's data in cache), each sample at least this long: one 784-512-10 step at b64 is 0.9 ms,
 * and the fastest of 9 single steps picked a list that then trained 7% slower than the model's. */
#define STEP_SAMPLE_NS 3000000.0
#define STEP_MAX_REPS 16
/* The model's list stays unless the products' own or the owned list is timed faster by more than this: what
 * the step timings of one list spread by between two tunes on this 2-core guest (Zen 3, 2026-12-07). The
 * library's list needs no margin: a step is never planned slower than OpenBLAS's threading as timed. */
#define STEP_MARGIN 0.02

typedef struct {
    const bn_plan_item *items;
    int n;
    const bn_pair_plan *lists[BN_STEP_LISTS];
    const bn_step_runner *runner;
    int reps;
} list_run;

static void run_list_once(const list_run *l, int which)
{
    if (l->runner) {
        l->runner->run(l->runner->ctx, l->lists[which]);
        return;
    }
    for (int i = 0; i < l->n; i++)
        if (l->items[i].second_given)
            bn_plan_run_pair(&l->items[i].first, &l->items[i].second, &l->lists[which][i]);
        else
            bn_plan_run(&l->items[i].first, &l->lists[which][i].first);
}

static void run_list(const void *ctx, int which)
{
    const list_run *l = ctx;
    for (int r = 0; r < l->reps; r++)
        run_list_once(l, which);
}

/* How many steps make one sample: the model's list once, timed. */
static int step_reps(list_run *l)
{
    l->reps = 1;
    uint64_t start = bn_clock_ns();
    run_list(l, LIST_MODEL);
    double one = (double)(bn_clock_ns() - start);
    int reps = one > 0 ? (int)ceil(STEP_SAMPLE_NS / one) : STEP_MAX_REPS;
    return reps < 1 ? 1 : reps > STEP_MAX_REPS ? STEP_MAX_REPS : reps;
}

/* Which of the step's lists of plans runs fastest, from w or timed now: 0 the products' own measured plans,
 * 1 every product under LIBRARY, 2 the cost model's plans, 3 the owned layout (each thread its band of every
 * layer, BN_PLAN_OWNED). Each product's plan is measured alone, with
 * its operands warm in cache from the round before; in a step they arrive from the products before it, and
 * the partition that wins alone may lose there (784-1024-1024-10 at batch 32 on a Zen 3: cols 2 for the
 * forward products measured 5% faster alone than the model's k 2, and the step ran 18% slower). So the
 * whole list is timed under each, as the network's real passes where it gives a runner (the products in the
 * step's order, with the activations, softmax and bias gradients between them). The model's list is kept
 * unless blasnet's other lists beat it by STEP_MARGIN; the library's wins whenever it is faster. */
static int fastest_list(const bn_plan_item *items, int n, int team, bn_wisdom *w, bool may_measure,
                        const bn_pair_plan *const lists[BN_STEP_LISTS], const bn_step_runner *runner)
{
    /* The lists' plans, all of them: a change of the model's (or of the products' own) is measured again
     * rather than judged by another list's times. */
    uint64_t key = bn_plan_step_key(items, n, team);
    uint64_t plans = 0;
    for (int i = 0; i < BN_STEP_LISTS; i++)
        plans = bn_plan_digest(plans, lists[i], n);
    bn_wisdom_entry *e = bn_wisdom_find(w, BN_WISDOM_STEP, team, NULL, NULL, key);
    if ((!e || e->step_plans != plans) && may_measure) {
        uint64_t start = bn_clock_ns(), ns[BN_STEP_LISTS];
        list_run l = {.items = items, .n = n, .runner = runner, .reps = 1};
        memcpy(l.lists, lists, sizeof l.lists);
        l.reps = step_reps(&l);
        time_interleaved(&(timed){run_list, &l, BN_STEP_LISTS}, ns);
        bn_wisdom_entry m = {.kind = BN_WISDOM_STEP, .team = team, .step_key = key, .step_plans = plans,
                             .n = BN_STEP_LISTS};
        for (int i = 0; i < BN_STEP_LISTS; i++)
            m.t[i] = (bn_wisdom_time){.threads = (uint16_t)i, .ns = ns[i]};
        keep_measured(w, &m, start);
        e = bn_wisdom_find(w, BN_WISDOM_STEP, team, NULL, NULL, key);
    }
    if (!e || e->step_plans != plans || e->n != BN_STEP_LISTS)
        return LIST_OWN;
    int best = LIST_MODEL;
    const int own_lists[] = {LIST_OWN, LIST_OWNED};
    for (int j = 0; j < 2; j++) {
        const int i = own_lists[j];
        if ((double)e->t[i].ns * (1.0 + STEP_MARGIN) < (double)e->t[LIST_MODEL].ns && e->t[i].ns < e->t[best].ns)
            best = i;
    }
    /* never slower than OpenBLAS's own threading, as timed */
    return e->t[LIST_LIBRARY].ns < e->t[best].ns ? LIST_LIBRARY : best;
}

/* Every product of the list under OpenBLAS's threading, one after the other, each costed from w. */
static void library_list(const bn_plan_item *items, int n, int team, bn_wisdom *w, bn_pair_plan *out)
{
    const bn_gemm_plan lib = bn_plan_make(BN_SPLIT_LIBRARY, 1, 1, 1, team);
    for (int i = 0; i < n; i++) {
        const bn_gemm *g[2] = {&items[i].first, &items[i].second};
        bn_gemm_plan *p[2] = {&out[i].first, &out[i].second};
        out[i] = (bn_pair_plan){0};
        for (int j = 0; j < 1 + items[i].second_given; j++) {
            bn_wisdom_shape s = bn_wisdom_shape_of(g[j]);
            const bn_wisdom_entry *e = bn_wisdom_find(w, BN_WISDOM_PRODUCT, team, &s, NULL, 0);
            *p[j] = lib;
            p[j]->cost_us = INFINITY;
            for (int k = 0; e && k < e->n; k++)
                if (time_is_of(&e->t[k], &lib))
                    p[j]->cost_us = (double)e->t[k].ns / 1000.0;
            out[i].cost_us += p[j]->cost_us;
        }
    }
}

void bn_plan_list_tuned(const bn_plan_item *items, int n, int team, bn_wisdom *w, bool may_measure,
                        float *scratch, size_t scratch_floats, const bn_step_runner *runner, bn_pair_plan *out)
{
    for (int i = 0; i < n; i++) {
        if (items[i].second_given) {
            out[i] = tuned_pair(&items[i].first, &items[i].second, team, w, may_measure, scratch, scratch_floats);
            continue;
        }
        out[i] = (bn_pair_plan){0};
        out[i].first = tuned_product(&items[i].first, team, w, may_measure, scratch, scratch_floats);
        out[i].cost_us = out[i].first.cost_us;
    }
    if (team < 2 || n > 2 * BN_MAX_LAYERS)
        return;
    bn_pair_plan library[2 * BN_MAX_LAYERS], model[2 * BN_MAX_LAYERS], owned[2 * BN_MAX_LAYERS];
    library_list(items, n, team, w, library);
    bn_plan_list(items, n, team, BN_PLAN_ESTIMATE, scratch, scratch_floats, model);
    bn_plan_list(items, n, team, BN_PLAN_OWNED, scratch, scratch_floats, owned);
    const bn_pair_plan *const lists[BN_STEP_LISTS] = {[LIST_OWN] = out, [LIST_LIBRARY] = library,
                                                      [LIST_MODEL] = model, [LIST_OWNED] = owned};
    int best = fastest_list(items, n, team, w, may_measure, lists, runner);
    for (int i = 0; best != LIST_OWN && i < n; i++)
        out[i] = lists[best][i];
}
