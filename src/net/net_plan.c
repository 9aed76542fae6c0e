/* A network's product plans: one per forward product and one per backward pair (dW beside dA), in a set per
 * batch size and team: the max batch's when the network is made, and each size a run will use before the
 * run starts (bn_net_plan_rows). The passes look them up; a size without a set is planned on the spot by the
 * model and counted, which a test holds at zero for training runs. Printed for `blasnet info` and the
 * bench. */
#include "net_plan.h"
#include "net_wisdom.h"

#include "error.h"
#include "gemm_plan.h"
#include "products.h"
#include "wisdom.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[BN_PLAN_MODES] = {"estimate", "measure", "one", "library", "rows",
                                                      "cols",     "tiles",   "k",   "tuned",
                                                      "owned"};

const char *bn_plan_mode_name(bn_plan_mode mode)
{
    return (unsigned)mode < BN_PLAN_MODES ? mode_names[mode] : "?";
}

int bn_plan_mode_parse(const char *name, bn_plan_mode *mode)
{
    for (int i = 0; i < BN_PLAN_MODES; i++)
        if (strcmp(name, mode_names[i]) == 0) {
            *mode = (bn_plan_mode)i;
            return BN_OK;
        }
    return bn_fail(BN_E_INVALID, "unknown plan '%s' (tuned, estimate, measure, owned, one, library, rows, cols, tiles, "
                   "k)",
                   name);
}

int bn_plan_mode_default(bn_plan_mode *mode)
{
    const char *env = getenv("BLASNET_PLAN");
    *mode = BN_PLAN_ESTIMATE;
    if (!env || !*env)
        return BN_OK;
    if (bn_plan_mode_parse(env, mode))
        return bn_fail(BN_E_INVALID, "BLASNET_PLAN='%s' names no plan: unset it, or set it to one of tuned, "
                                     "estimate, measure, owned, one, library, rows, cols, tiles, k",
                       env);
    return BN_OK;
}

/* The mode plans made on the spot use: a measurement has no place inside a step. */
static bn_plan_mode spot_mode(const bn_net *net)
{
    bool measures = net->plan_mode == BN_PLAN_MEASURE || net->plan_mode == BN_PLAN_TUNED;
    return measures ? BN_PLAN_ESTIMATE : net->plan_mode;
}

/* The set made for B rows on the current team, NULL when there is none. */
static const bn_plan_set *find_set(const bn_net *net, int B)
{
    const int team = omp_get_max_threads();
    for (int i = 0; i < net->plan_sets_used; i++)
        if (net->plan_sets[i].batch == B && net->plan_sets[i].team == team)
            return &net->plan_sets[i];
    return NULL;
}

const bn_gemm_plan *bn_net_forward_plan(bn_net *net, int l, const bn_gemm *g, bn_gemm_plan *scratch_plan)
{
    const bn_plan_set *set = find_set(net, g->M);
    if (set)
        return &set->forward[l];
    net->spot_plans++;
    *scratch_plan = bn_plan_estimate(g, omp_get_max_threads(), spot_mode(net), net->plan_scratch,
                                     BN_PLAN_SCRATCH_FLOATS);
    return scratch_plan;
}

const bn_pair_plan *bn_net_backward_plan(bn_net *net, int l, const bn_gemm *dw, const bn_gemm *da,
                                         bn_pair_plan *scratch_plan)
{
    const bn_plan_set *set = find_set(net, dw->K);
    if (set)
        return &set->backward[l];
    net->spot_plans++;
    const bn_plan_item item = {.first = *dw, .second = da ? *da : (bn_gemm){0}, .second_given = da != NULL};
    bn_plan_list(&item, 1, omp_get_max_threads(), spot_mode(net), net->plan_scratch, BN_PLAN_SCRATCH_FLOATS,
                 scratch_plan);
    return scratch_plan;
}

/* Fills *set with the plans of every product for B rows on the current team, in the network's mode: the
 * step's products as a list, in the order the step runs them, handed to the planner. The forward products
 * come first: a measured plan runs them, and the backward products then read real layer outputs rather
 * than whatever a previous step left. */
/* A set's plans from a list in the planner's order (forward, then backward from the top). */
static void set_from_list(const bn_net *net, bn_plan_set *set, const bn_pair_plan *list)
{
    const int depth = net->arch.depth;
    for (int l = 0; l < depth; l++) {
        set->forward[l] = list[l].first;
        set->backward[l] = list[depth + (depth - 1 - l)];
    }
}

/* The network's passes under a candidate list: the planner's whole-step timing (wisdom.h). */
typedef struct {
    bn_net *net;
    bn_plan_set *set;
    int B;
} passes_under;

static void run_passes_under(void *ctx, const bn_pair_plan *list)
{
    passes_under *p = ctx;
    set_from_list(p->net, p->set, list);
    p->net->run_passes(p->net, p->B);
}

static int make_set(bn_net *net, bn_plan_set *set, int B)
{
    const int depth = net->arch.depth;
    bn_plan_item items[2 * BN_MAX_LAYERS];
    bn_pair_plan plans[2 * BN_MAX_LAYERS];
    for (int l = 0; l < depth; l++)
        items[l] = (bn_plan_item){.first = bn_net_forward_product(net, l, net->x, B)};
    for (int l = depth - 1; l >= 0; l--)
        items[depth + (depth - 1 - l)] = (bn_plan_item){.first = bn_net_dweight_product(net, l, net->x, B),
                                                        .second = l > 0 ? bn_net_dinput_product(net, l, B)
                                                                        : (bn_gemm){0},
                                                        .second_given = l > 0};
    set->batch = B; /* first: the passes timed under each candidate list look this set up */
    set->team = omp_get_max_threads();
    if (net->plan_mode == BN_PLAN_TUNED) {
        int status = bn_net_wisdom_ready(net);
        if (status)
            return status;
        passes_under passes = {net, set, B};
        const bn_step_runner runner = {run_passes_under, &passes};
        bn_plan_list_tuned(items, 2 * depth, omp_get_max_threads(), net->wisdom,
                           !(net->wisdom_flags & BN_WISDOM_NO_MEASURE), net->plan_scratch, BN_PLAN_SCRATCH_FLOATS,
                           &runner, plans);
    } else {
        bn_plan_list(items, 2 * depth, omp_get_max_threads(), net->plan_mode, net->plan_scratch,
                     BN_PLAN_SCRATCH_FLOATS, plans);
    }
    set_from_list(net, set, plans);
    return BN_OK;
}

static int check_rows(const bn_net *net, int batch)
{
    if (batch < 0 || batch > net->max_batch)
        return bn_fail(BN_E_INVALID, "cannot plan for batch %d: the network holds 1..%d rows", batch,
                       net->max_batch);
    return BN_OK;
}

int bn_net_plan_rows(bn_net *net, int batch)
{
    int status = batch == 0 ? bn_fail(BN_E_INVALID, "cannot plan for batch 0") : check_rows(net, batch);
    if (status || find_set(net, batch))
        return status;
    /* Every set in use: the oldest made after the first gives way (the first is the max batch's). */
    int i = net->plan_sets_used < BN_PLAN_SETS ? net->plan_sets_used++ : net->plan_set_next;
    if (net->plan_sets_used == BN_PLAN_SETS)
        net->plan_set_next = i + 1 < BN_PLAN_SETS ? i + 1 : 1;
    return make_set(net, &net->plan_sets[i], batch);
}

int bn_net_plan(bn_net *net, bn_plan_mode mode, int batch)
{
    if ((unsigned)mode >= BN_PLAN_MODES)
        return bn_fail(BN_E_INVALID, "plan mode %d is not one of the %d modes", (int)mode, BN_PLAN_MODES);
    int status = check_rows(net, batch);
    if (status)
        return status;
    net->plan_mode = mode;
    net->plan_sets_used = 0;
    net->plan_set_next = 1;
    return make_set(net, &net->plan_sets[net->plan_sets_used++], batch ? batch : net->max_batch);
}

bn_plan_mode bn_net_plan_mode(const bn_net *net)
{
    return net->plan_mode;
}

/* A set's plans as the list the planner made them in (forward, then backward from the top). */
static int set_list(const bn_net *net, const bn_plan_set *set, bn_pair_plan *out)
{
    const int depth = net->arch.depth;
    for (int l = 0; l < depth; l++)
        out[l] = (bn_pair_plan){.first = set->forward[l]};
    for (int l = depth - 1; l >= 0; l--)
        out[depth + (depth - 1 - l)] = set->backward[l];
    return 2 * depth;
}

uint64_t bn_net_plan_digest(const bn_net *net)
{
    uint64_t h = 0;
    int done = 0, last = 0; /* the sets in order of batch size, whatever order they were made in */
    while (done < net->plan_sets_used) {
        const bn_plan_set *next = NULL;
        for (int i = 0; i < net->plan_sets_used; i++)
            if (net->plan_sets[i].batch > last && (!next || net->plan_sets[i].batch < next->batch))
                next = &net->plan_sets[i];
        if (!next)
            break;
        bn_pair_plan list[2 * BN_MAX_LAYERS];
        const int head[2] = {next->batch, next->team};
        h = bn_plan_digest(bn_wisdom_hash(h, head, sizeof head), list, set_list(net, next, list));
        last = next->batch;
        done++;
    }
    return h;
}

uint64_t bn_net_plan_source(const bn_net *net)
{
    const int head[3] = {(int)net->plan_mode, omp_get_max_threads(), (int)net->wisdom_flags};
    uint64_t h = bn_wisdom_hash(0, head, sizeof head);
    return net->plan_mode == BN_PLAN_TUNED && net->wisdom ? bn_wisdom_digest(h, net->wisdom) : h;
}

bool bn_net_plans_use_library(const bn_net *net)
{
    for (int i = 0; i < net->plan_sets_used; i++) {
        bn_pair_plan list[2 * BN_MAX_LAYERS];
        int n = set_list(net, &net->plan_sets[i], list);
        for (int j = 0; j < n; j++)
            if (list[j].first.split == BN_SPLIT_LIBRARY || list[j].second.split == BN_SPLIT_LIBRARY)
                return true;
    }
    return false;
}

/* Appends one product's line to buf at *len (snprintf-style: *len grows past size when it does not fit). */
static void format_line(char *buf, size_t size, size_t *len, const char *what, int l, const bn_gemm *g,
                        const bn_gemm_plan *p, const char *beside)
{
    char shape[40], plan[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", g->M, g->N, g->K);
    int n = snprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0,
                     "%-3s L%-2d %-16s %-16s %8.1f us%s\n", what, l + 1, shape,
                     bn_plan_describe(p, plan, sizeof plan), p->cost_us, beside);
    *len += n > 0 ? (size_t)n : 0;
}

/* The other batch sizes planned, and the plans made on the spot, as the end of the heading line. */
static void format_sizes(const bn_net *net, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 1; i < net->plan_sets_used && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%d", i == 1 ? "; also batch " : ", ", net->plan_sets[i].batch);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < size)
        snprintf(buf + len, size - len, "; %llu planned on the spot", (unsigned long long)net->spot_plans);
}

size_t bn_net_plan_format(const bn_net *net, char *buf, size_t size)
{
    bn_net *n = (bn_net *)net; /* the product builders take a mutable net; nothing is written */
    const bn_plan_set *set = &net->plan_sets[0];
    char sizes[160];
    format_sizes(net, sizes, sizeof sizes);
    size_t len = 0;
    int written = snprintf(buf, size, "plan: %s, batch %d, %d thread%s%s (op L  MxNxK  partition  %s)\n",
                           bn_plan_mode_name(net->plan_mode), set->batch, set->team, set->team == 1 ? "" : "s",
                           sizes, net->plan_mode == BN_PLAN_MEASURE || net->plan_mode == BN_PLAN_TUNED ? "measured" : "model");
    len = written > 0 ? (size_t)written : 0;
    for (int l = 0; l < net->arch.depth; l++) {
        bn_gemm g = bn_net_forward_product(n, l, net->x, set->batch);
        format_line(buf, size, &len, "fwd", l, &g, &set->forward[l], "");
    }
    for (int l = net->arch.depth - 1; l >= 0; l--) {
        const bn_pair_plan *p = &set->backward[l];
        char beside[48] = "";
        if (p->first_threads > 0)
            snprintf(beside, sizeof beside, "  beside dA: %d + %d threads", p->first_threads,
                     set->team - p->first_threads);
        bn_gemm dw = bn_net_dweight_product(n, l, net->x, set->batch);
        format_line(buf, size, &len, "dW", l, &dw, &p->first, beside);
        if (l > 0) {
            bn_gemm da = bn_net_dinput_product(n, l, set->batch);
            format_line(buf, size, &len, "dA", l, &da, &p->second, "");
        }
    }
    return len;
}
