/* A network's product plans: one per forward product and one per backward pair (dW beside dA), made for
 * the max batch and the current team, looked up by the passes, and printed for `blasnet info` and the
 * bench. */
#include "error.h"
#include "gemm_plan.h"
#include "net.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[BN_PLAN_MODES] = {"estimate", "measure", "one",   "library",
                                                      "rows",     "cols",    "tiles", "k"};

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
    return bn_fail(BN_E_INVALID, "unknown plan '%s' (estimate, measure, one, library, rows, cols, tiles, k)", name);
}

int bn_plan_mode_default(bn_plan_mode *mode)
{
    const char *env = getenv("BLASNET_PLAN");
    *mode = BN_PLAN_ESTIMATE;
    if (!env || !*env)
        return BN_OK;
    if (bn_plan_mode_parse(env, mode))
        return bn_fail(BN_E_INVALID, "BLASNET_PLAN='%s' names no plan: unset it, or set it to one of estimate, "
                                     "measure, one, library, rows, cols, tiles, k",
                       env);
    return BN_OK;
}

/* The mode plans made on the spot use: a measurement has no place inside a step. */
static bn_plan_mode spot_mode(const bn_net *net)
{
    return net->plan_mode == BN_PLAN_MEASURE ? BN_PLAN_ESTIMATE : net->plan_mode;
}

static bool stored_plans_fit(const bn_net *net, int B)
{
    return B == net->plan_batch && omp_get_max_threads() == net->plan_team;
}

const bn_gemm_plan *bn_net_forward_plan(bn_net *net, int l, const bn_gemm *g, bn_gemm_plan *scratch_plan)
{
    if (stored_plans_fit(net, g->M))
        return &net->forward_plan[l];
    *scratch_plan = bn_plan_estimate(g, omp_get_max_threads(), spot_mode(net), net->plan_scratch,
                                     BN_PLAN_SCRATCH_FLOATS);
    return scratch_plan;
}

static bn_pair_plan plan_backward(bn_net *net, const bn_gemm *dw, const bn_gemm *da, bn_plan_mode mode, int team)
{
    if (da)
        return bn_plan_pair(dw, da, team, mode, net->plan_scratch, BN_PLAN_SCRATCH_FLOATS);
    bn_pair_plan p = {0};
    p.first = bn_plan_choose(dw, team, mode, net->plan_scratch, BN_PLAN_SCRATCH_FLOATS);
    p.cost_us = p.first.cost_us;
    return p;
}

const bn_pair_plan *bn_net_backward_plan(bn_net *net, int l, const bn_gemm *dw, const bn_gemm *da,
                                         bn_pair_plan *scratch_plan)
{
    if (stored_plans_fit(net, dw->K))
        return &net->backward_plan[l];
    *scratch_plan = plan_backward(net, dw, da, spot_mode(net), omp_get_max_threads());
    return scratch_plan;
}

int bn_net_plan(bn_net *net, bn_plan_mode mode, int batch)
{
    if ((unsigned)mode >= BN_PLAN_MODES)
        return bn_fail(BN_E_INVALID, "plan mode %d is not one of the %d modes", (int)mode, BN_PLAN_MODES);
    if (batch < 0 || batch > net->max_batch)
        return bn_fail(BN_E_INVALID, "cannot plan for batch %d: the network holds 1..%d rows", batch,
                       net->max_batch);
    const int team = omp_get_max_threads(), B = batch ? batch : net->max_batch;
    /* The forward products first: a measured plan runs them, and the backward products then read real
     * layer outputs rather than whatever a previous step left. */
    for (int l = 0; l < net->arch.depth; l++) {
        bn_gemm g = bn_net_forward_product(net, l, net->x, B);
        net->forward_plan[l] = bn_plan_choose(&g, team, mode, net->plan_scratch, BN_PLAN_SCRATCH_FLOATS);
    }
    for (int l = net->arch.depth - 1; l >= 0; l--) {
        bn_gemm dw = bn_net_dweight_product(net, l, net->x, B);
        bn_gemm da = l > 0 ? bn_net_dinput_product(net, l, B) : dw;
        net->backward_plan[l] = plan_backward(net, &dw, l > 0 ? &da : NULL, mode, team);
    }
    net->plan_mode = mode;
    net->plan_batch = B;
    net->plan_team = team;
    return BN_OK;
}

bn_plan_mode bn_net_plan_mode(const bn_net *net)
{
    return net->plan_mode;
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

size_t bn_net_plan_format(const bn_net *net, char *buf, size_t size)
{
    bn_net *n = (bn_net *)net; /* the product builders take a mutable net; nothing is written */
    size_t len = 0;
    int written = snprintf(buf, size, "plan: %s, batch %d, %d thread%s (op L  MxNxK  partition  %s)\n",
                           bn_plan_mode_name(net->plan_mode), net->plan_batch, net->plan_team,
                           net->plan_team == 1 ? "" : "s", net->plan_mode == BN_PLAN_MEASURE ? "measured" : "model");
    len = written > 0 ? (size_t)written : 0;
    for (int l = 0; l < net->arch.depth; l++) {
        bn_gemm g = bn_net_forward_product(n, l, net->x, net->plan_batch);
        format_line(buf, size, &len, "fwd", l, &g, &net->forward_plan[l], "");
    }
    for (int l = net->arch.depth - 1; l >= 0; l--) {
        const bn_pair_plan *p = &net->backward_plan[l];
        char beside[48] = "";
        if (p->first_threads > 0)
            snprintf(beside, sizeof beside, "  beside dA: %d + %d threads", p->first_threads,
                     net->plan_team - p->first_threads);
        bn_gemm dw = bn_net_dweight_product(n, l, net->x, net->plan_batch);
        format_line(buf, size, &len, "dW", l, &dw, &p->first, beside);
        if (l > 0) {
            bn_gemm da = bn_net_dinput_product(n, l, net->plan_batch);
            format_line(buf, size, &len, "dA", l, &da, &p->second, "");
        }
    }
    return len;
}
