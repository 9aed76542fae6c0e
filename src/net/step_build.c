/* The passes as lists of operations (step.h): which op follows which, and where the team must wait. A barrier
 * follows an op only when the next ones read what other threads wrote: a product's output (its tiles are not
 * the rows the elementwise ops split), the output layer's delta, a layer's delta below. dW, dA and db of one
 * layer all read the same delta and write apart, so they run back to back with one barrier after the three. */
#include "step.h"

#include "engine.h"
#include "net_plan.h"
#include "products.h"

#include <math.h>
#include <string.h>

static bn_step_op *add(bn_net *net, bn_op_kind kind, int layer, bool barrier)
{
    bn_step *s = net->step;
    bn_step_op *op = &s->op[s->count++];
    memset(op, 0, sizeof *op);
    op->kind = (uint8_t)kind;
    op->layer = (int8_t)layer;
    op->barrier = barrier;
    return op;
}

/* A product the engine threads itself (`library`, or an engine that cannot run a call on one thread inside a
 * region) runs outside the team's region. */
static bool runs_outside(const bn_gemm_plan *p)
{
    return p->split == BN_SPLIT_LIBRARY || !bn_engine_serial_in_region();
}

/* A K plan's partial sums share one scratch: the product ends with a barrier before the next one may use it. */
static bn_step_op *add_product(bn_net *net, const bn_gemm *g, const bn_gemm_plan *plan, int layer, bool barrier)
{
    bn_step_op *op = add(net, BN_OP_PRODUCT, layer, barrier || plan->parts_k > 1);
    op->g[0] = *g;
    op->plan.first = *plan;
    op->outside = runs_outside(plan);
    return op;
}

/* Hidden layer l's dropout in a training pass, into op; nothing when it drops nothing. */
static void set_dropout(const bn_net *net, int l, bool training, bn_step_op *op)
{
    if (!training || net->dropout_p <= 0.0f || l >= net->arch.depth - 1)
        return;
    const double p = net->dropout_p;
    op->drop = (bn_dropout){.layer_key = bn_dropout_layer_key(net->dropout_seed, net->dropout_step, l),
                            .first_row = net->dropout_first_row,
                            .threshold = (uint32_t)fmin(p * 4294967296.0, 4294967295.0),
                            .keep = (float)(1.0 - p),
                            .scale = (float)(1.0 / (1.0 - p))};
    op->dropping = true;
}

/* Starts a new list over x (and labels) and B, with no update, delta or loss check until its builder says. */
static bn_step *begin(bn_net *net, const float *x, const int32_t *labels, int B)
{
    bn_step *s = net->step;
    s->count = 0;
    s->x = x;
    s->labels = labels;
    s->B = B;
    s->grad_scale = 0.0f;
    s->opt = NULL;
    s->want_sq = false;
    s->stop_on_bad_loss = false;
    return s;
}

/* Hidden layers: layer_out[l] = act(in . W_l + b_l), with dropout in a training pass; the output layer's
 * product goes to the softmax, which adds its bias. With labels, the loss and (training) the output delta. */
void bn_step_build_forward(bn_net *net, const float *x, const int32_t *labels, int B, bool training)
{
    begin(net, x, labels, B);
    const int L = net->arch.depth;
    for (int l = 0; l < L; l++) {
        bn_gemm g = bn_net_forward_product(net, l, x, B);
        bn_gemm_plan on_the_spot;
        add_product(net, &g, bn_net_forward_plan(net, l, &g, &on_the_spot), l, true);
        if (l < L - 1)
            set_dropout(net, l, training, add(net, BN_OP_BIAS_ACT, l, true));
    }
    add(net, BN_OP_SOFTMAX, L - 1, true);
    net->batch = B;
}

/* Whether layer l's update may run inside its dW tiles: an update without clipping (its scale needs every
 * layer's gradient first), dW run by the team, and dA (which reads W) not beside it, so it can run first.
 * Not when ||W||^2 is wanted (the L2 term of the loss): summed by tiles, its last bits would differ from the
 * split update's, and the promise is the same bits either way. */
static bool can_fuse(const bn_net *net, int l, const bn_pair_plan *p)
{
    const bn_step *s = net->step;
    if (!s->opt || s->opt->clip_norm > 0.0f || s->want_sq || !net->fuse_update || !net->backend->team)
        return false;
    return !runs_outside(&p->first) && (l == 0 || p->first_threads == 0);
}

/* dW and dA of layer l: side by side where the plan says and both run in the region, else one after the
 * other; fused, dA first (the update must not change W under it), db, a barrier, then the dW tiles that
 * update their W. Returns whether it fused. */
static bool add_backward_products(bn_net *net, int l, bool update)
{
    bn_step *s = net->step;
    bn_gemm dw = bn_net_dweight_product(net, l, s->x, s->B);
    bn_gemm da = l > 0 ? bn_net_dinput_product(net, l, s->B) : (bn_gemm){0};
    bn_pair_plan on_the_spot;
    const bn_pair_plan *p = bn_net_backward_plan(net, l, &dw, l > 0 ? &da : NULL, &on_the_spot);
    const bool fuse = update && can_fuse(net, l, p);
    if (l == 0) {
        add_product(net, &dw, &p->first, 0, false)->fused = fuse;
    } else if (bn_plan_pair_is_owned(p) && !runs_outside(&p->first)) {
        /* Thread t's K band of dA reads only band t of W, which only its dW tile (and update) writes: no
         * barrier between them; the partials are summed after db's barrier. */
        bn_step_op *partials = add_product(net, &da, &p->second, l, false);
        partials->barrier = false;
        partials->deferred = true;
        add_product(net, &dw, &p->first, l, false)->fused = fuse;
        add(net, BN_OP_BIAS_GRAD, l, true);
        bn_step_op *sum = add(net, BN_OP_REDUCE, l, false);
        sum->g[0] = da;
        sum->plan.first = p->second;
        return fuse;
    } else if (fuse) {
        add_product(net, &da, &p->second, l, false);
        add(net, BN_OP_BIAS_GRAD, l, true);
        add_product(net, &dw, &p->first, l, false)->fused = true;
        return true;
    } else if (p->first_threads > 0 && !runs_outside(&p->first) && !runs_outside(&p->second) &&
               p->first.parts_k == 1 && p->second.parts_k == 1) {
        bn_step_op *op = add(net, BN_OP_PAIR, l, false);
        op->g[0] = dw;
        op->g[1] = da;
        op->plan = *p;
    } else {
        add_product(net, &dw, &p->first, l, false);
        add_product(net, &da, &p->second, l, false);
    }
    add(net, BN_OP_BIAS_GRAD, l, true); /* dW, dA and db read the same delta: one barrier after the three */
    return fuse;
}

/* Layer l's backward pass; with update, its update too (or, when the optimizer clips, its part of the norm:
 * bn_step_add_clipped_updates then updates every layer). */
void bn_step_add_backward_layer(bn_net *net, int l, bool update)
{
    bn_step *s = net->step;
    const bool fused = add_backward_products(net, l, update);
    if (update && s->opt->clip_norm > 0.0f)
        add(net, BN_OP_GRAD_SQ, l, false);
    else if (update)
        add(net, BN_OP_UPDATE, l, false)->fused = fused;
    if (l > 0)
        set_dropout(net, l - 1, true, add(net, BN_OP_ACT_BACKWARD, l, true));
}

void bn_step_add_clipped_updates(bn_net *net)
{
    bn_step *s = net->step;
    s->op[s->count - 1].barrier = true; /* every layer's GRAD_SQ done */
    add(net, BN_OP_CLIP, -1, true);
    for (int l = net->arch.depth - 1; l >= 0; l--)
        add(net, BN_OP_UPDATE, l, false);
}

void bn_step_build_train(bn_net *net, const float *x, const int32_t *labels, int B, float grad_scale,
                         const bn_optim *opt, bool want_sq)
{
    bn_step *s = net->step;
    bn_step_build_forward(net, x, labels, B, true);
    s->grad_scale = grad_scale;
    s->opt = opt;
    s->want_sq = want_sq && opt;
    s->stop_on_bad_loss = opt != NULL;
    net->grad_norm = NAN; /* until clipping measures it */
    if (opt)
        s->u = bn_update_for(opt, 1.0f);
    for (int l = net->arch.depth - 1; l >= 0; l--)
        bn_step_add_backward_layer(net, l, opt != NULL);
    if (opt && opt->clip_norm > 0.0f)
        bn_step_add_clipped_updates(net);
}

void bn_step_build_backward_layer(bn_net *net, const float *x, int B, int l)
{
    begin(net, x, NULL, B);
    bn_step_add_backward_layer(net, l, false);
}
