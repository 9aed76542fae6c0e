/* Running a pass's list (step.h). With team kernels, one OpenMP region runs every op between two products
 * that the engine threads itself: each thread takes its share of each op, with the partitions of the ops'
 * own regions wherever a sum is taken, so the bits do not depend on whether a pass ran in one region or in
 * many. A region costs a fork and a join where every thread waits: a 784-512-10 step at b64 under the model's
 * plans started 11 of them op by op, and starts one (tests/train/test_regions.c counts them). On 2 cores that
 * is 1-2% of the step (blasnet-bench --only team); the fork/joins grow with the team. Without team kernels
 * (the naive backends) each op is the backend's own call. */
#include "step.h"

#include "net_update.h"
#include "plan_run.h"

#include <math.h>

/* Slot `slot`'s parts, added in thread order: as many as the region that wrote them had threads (a list split
 * by `library` products runs several regions, which a runtime may give different team sizes). */
static double sum_slot(const bn_step *s, int slot)
{
    double sum = 0.0;
    for (int t = 0; t < s->slot_team[slot]; t++)
        sum += s->part[slot][t];
    return sum;
}

/* Thread t of nt writes its part of `slot`; thread 0 records how many there are. */
static void put_part(bn_step *s, int slot, int t, int nt, double value)
{
    s->part[slot][t] = value;
    if (t == 0)
        s->slot_team[slot] = nt;
}

/* ---- one op, run whole by the backend ------------------------------------------------------------- */

static void update_whole(bn_net *net, bn_step *s, const bn_step_op *op)
{
    put_part(s, BN_SLOT_WEIGHT_SQ + op->layer, 0, 1,
             bn_net_update_layer(net, op->layer, &s->u, s->opt->weight_decay, s->want_sq));
}

/* The clipping scale from every layer's norm, summed from the top as the split path always has. */
static void clip(bn_net *net, bn_step *s)
{
    double sq = 0.0;
    for (int l = net->arch.depth - 1; l >= 0; l--)
        sq += sum_slot(s, BN_SLOT_DW_SQ + l) + sum_slot(s, BN_SLOT_DB_SQ + l);
    s->u = bn_update_for(s->opt, bn_net_clip_scale(net, sq, s->opt->clip_norm));
}

static void run_whole(bn_net *net, bn_step *s, const bn_step_op *op)
{
    const bn_backend *be = net->backend;
    const int *n = net->arch.sizes, l = op->layer, L = net->arch.depth;
    const bn_dropout *drop = op->dropping ? &op->drop : NULL;
    switch (op->kind) {
    case BN_OP_PRODUCT: be->gemm(&op->g[0], &op->plan.first); break;
    case BN_OP_PAIR: be->gemm_pair(&op->g[0], &op->g[1], &op->plan); break;
    case BN_OP_BIAS_ACT:
        be->bias_act(net->layer_out[l], net->pre_act[l], bn_net_layer_bias(net, l), s->B, n[l + 1],
                     net->arch.act, net->arch.leaky_slope, drop);
        break;
    case BN_OP_SOFTMAX:
        s->right[0] = 0;
        put_part(s, BN_SLOT_LOSS, 0, 1,
                 be->bias_softmax_xent(s->grad_scale != 0.0f ? bn_net_delta_buffer(net, L - 1) : NULL,
                                       net->layer_out[L - 1], bn_net_layer_bias(net, L - 1), s->labels, s->B,
                                       n[L], s->grad_scale, &s->right[0]));
        break;
    case BN_OP_BIAS_GRAD:
        be->bias_grad(bn_net_layer_dbias(net, l), bn_net_delta_buffer(net, l), s->B, n[l + 1]);
        break;
    case BN_OP_ACT_BACKWARD: {
        float *below = bn_net_delta_buffer(net, l - 1);
        be->act_backward(below, below, net->pre_act[l - 1], net->layer_out[l - 1], s->B, n[l], net->arch.act,
                         net->arch.leaky_slope, drop);
        break;
    }
    case BN_OP_UPDATE: update_whole(net, s, op); break;
    case BN_OP_GRAD_SQ:
        put_part(s, BN_SLOT_DW_SQ + l, 0, 1,
                 be->sqnorm(net->grads + net->w_offset[l], (size_t)n[l] * (size_t)n[l + 1]));
        put_part(s, BN_SLOT_DB_SQ + l, 0, 1, be->sqnorm(bn_net_layer_dbias(net, l), (size_t)n[l + 1]));
        break;
    case BN_OP_CLIP: clip(net, s); break;
    default: break;
    }
}

/* ---- one thread's share of an op ---------------------------------------------------------------------- */

/* What a dW tile needs to update the W it covers. */
typedef struct {
    const bn_net *net;
    const bn_step *s;
    int layer;
} tile_update;

/* Rows [m0, m1), columns [n0, n1) of layer l's W, velocity and moments, from the same rows of dW that the
 * thread has just written: still in its cache. */
static void update_tile(void *ctx, const bn_gemm *g, int m0, int m1, int n0, int n1)
{
    tile_update *c = ctx;
    const bn_net *net = c->net;
    const bn_team_kernels *k = net->backend->team;
    if (n0 == 0 && n1 == g->N && g->ldc == g->N) { /* whole rows: one range, one call */
        const size_t w = net->w_offset[c->layer], lo = (size_t)m0 * (size_t)g->N, hi = (size_t)m1 * (size_t)g->N;
        k->update(net->params + w, net->velocity + w, net->moment2 + w, net->grads + w, lo, hi, &c->s->u,
                  c->s->opt->weight_decay, false);
        return;
    }
    for (int i = m0; i < m1; i++) {
        const size_t row = net->w_offset[c->layer] + (size_t)i * (size_t)g->ldc;
        k->update(net->params + row, net->velocity + row, net->moment2 + row, net->grads + row, (size_t)n0,
                  (size_t)n1, &c->s->u, c->s->opt->weight_decay, false);
    }
}

/* The plan a product runs under: a process of one thread runs it as one call, as bn_plan_run does, whatever
 * its plan (the same bits); a region the runtime gave fewer threads than asked runs the plan's tiles on them. */
static const bn_gemm_plan *plan_of(const bn_step *s, const bn_step_op *op, const bn_gemm_plan *whole)
{
    return s->max_team == 1 ? whole : &op->plan.first;
}

static void product_share(const bn_net *net, bn_step *s, const bn_step_op *op, int t, int nt)
{
    const bn_gemm *g = &op->g[0];
    const bn_gemm_plan whole = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
    const bn_gemm_plan *plan = plan_of(s, op, &whole);
    tile_update c = {net, s, op->layer};
    bn_plan_run_share(g, plan, t, nt, op->fused ? update_tile : NULL, &c);
    if (plan->parts_k > 1 && !op->deferred) {
        bn_team_barrier_wait(&s->barrier, nt);
        size_t lo, hi;
        bn_plan_reduce_share(g, plan, t, nt, &lo, &hi);
        if (op->fused && hi > lo)
            update_tile(&c, g, (int)lo, (int)hi, 0, g->N);
    }
}

/* A sum's share: the partition of the op's own region (parallel.h), so its parts add in the same order. */
static double summed_share(double (*block)(const float *, size_t, size_t), const float *x, size_t n, int t, int nt)
{
    int used = bn_par_threads_of(n, nt);
    if (t >= used)
        return 0.0;
    size_t lo, hi;
    bn_par_range(n, 16, t, used, &lo, &hi);
    return block(x, lo, hi);
}

static void update_share(const bn_net *net, bn_step *s, const bn_step_op *op, int t, int nt)
{
    const bn_team_kernels *k = net->backend->team;
    const int *n = net->arch.sizes, l = op->layer;
    const size_t w = net->w_offset[l], b = net->b_offset[l], nw = (size_t)n[l] * (size_t)n[l + 1];
    size_t lo, hi;
    if (!op->fused) {
        int used = s->want_sq ? bn_par_threads_of(nw, nt) : nt;
        double sq = 0.0;
        if (t < used) {
            bn_par_range(nw, 16, t, used, &lo, &hi);
            sq = k->update(net->params + w, net->velocity + w, net->moment2 + w, net->grads + w, lo, hi, &s->u,
                           s->opt->weight_decay, s->want_sq);
        }
        put_part(s, BN_SLOT_WEIGHT_SQ + l, t, nt, sq);
    }
    bn_par_range((size_t)n[l + 1], 16, t, nt, &lo, &hi);
    k->update(net->params + b, net->velocity + b, net->moment2 + b, net->grads + b, lo, hi, &s->u, 0.0f, false);
}

static void softmax_share(const bn_net *net, bn_step *s, int t, int nt)
{
    const int L = net->arch.depth, C = net->arch.sizes[L];
    int used = bn_par_threads_of((size_t)s->B * (size_t)C * 8, nt); /* the kernel's own weighting of exp */
    s->right[t] = 0;
    if (t >= used) {
        put_part(s, BN_SLOT_LOSS, t, nt, 0.0);
        return;
    }
    size_t lo, hi;
    bn_par_range((size_t)s->B, 1, t, used, &lo, &hi);
    put_part(s, BN_SLOT_LOSS, t, nt,
             net->backend->team->bias_softmax_xent(s->grad_scale != 0.0f ? bn_net_delta_buffer(net, L - 1) : NULL,
                                                   net->layer_out[L - 1], bn_net_layer_bias(net, L - 1), s->labels,
                                                   lo, hi, C, s->grad_scale, &s->right[t]));
}

/* The partial sums a PRODUCT deferred, by rows (none when it ran as one call). */
static void reduce_share(const bn_step *s, const bn_step_op *op, int t, int nt)
{
    const bn_gemm_plan whole = bn_plan_make(BN_SPLIT_ONE, 1, 1, 1, 1);
    size_t lo, hi;
    if (plan_of(s, op, &whole)->parts_k > 1)
        bn_plan_reduce_share(&op->g[0], &op->plan.first, t, nt, &lo, &hi);
}

static void run_share(bn_net *net, bn_step *s, const bn_step_op *op, int t, int nt)
{
    const bn_team_kernels *k = net->backend->team;
    const int *n = net->arch.sizes, l = op->layer;
    const bn_dropout *drop = op->dropping ? &op->drop : NULL;
    size_t lo, hi;
    switch (op->kind) {
    case BN_OP_PRODUCT: product_share(net, s, op, t, nt); break;
    case BN_OP_PAIR: bn_plan_run_pair_share(&op->g[0], &op->g[1], &op->plan, t, nt); break;
    case BN_OP_BIAS_ACT:
        bn_par_range((size_t)s->B, 1, t, nt, &lo, &hi);
        k->bias_act(net->layer_out[l], net->pre_act[l], bn_net_layer_bias(net, l), lo, hi, n[l + 1],
                    net->arch.act, net->arch.leaky_slope, drop);
        break;
    case BN_OP_SOFTMAX: softmax_share(net, s, t, nt); break;
    case BN_OP_BIAS_GRAD:
        bn_par_range((size_t)n[l + 1], 16, t, nt, &lo, &hi);
        k->bias_grad(bn_net_layer_dbias(net, l), bn_net_delta_buffer(net, l), s->B, n[l + 1], lo, hi);
        break;
    case BN_OP_ACT_BACKWARD: {
        float *below = bn_net_delta_buffer(net, l - 1);
        bn_par_range((size_t)s->B, 1, t, nt, &lo, &hi);
        k->act_backward(below, below, net->pre_act[l - 1], net->layer_out[l - 1], lo, hi, n[l], net->arch.act,
                        net->arch.leaky_slope, drop);
        break;
    }
    case BN_OP_UPDATE: update_share(net, s, op, t, nt); break;
    case BN_OP_GRAD_SQ:
        put_part(s, BN_SLOT_DW_SQ + l, t, nt,
                 summed_share(k->sqnorm, net->grads + net->w_offset[l], (size_t)n[l] * (size_t)n[l + 1], t, nt));
        put_part(s, BN_SLOT_DB_SQ + l, t, nt,
                 summed_share(k->sqnorm, bn_net_layer_dbias(net, l), (size_t)n[l + 1], t, nt));
        break;
    case BN_OP_CLIP:
        if (t == 0)
            clip(net, s);
        break;
    case BN_OP_REDUCE: reduce_share(s, op, t, nt); break;
    default: break;
    }
}

/* ---- the list -------------------------------------------------------------------------------------- */

static bool stops_after(const bn_step *s, const bn_step_op *op)
{
    return op->kind == BN_OP_SOFTMAX && s->stop_on_bad_loss && !isfinite(sum_slot(s, BN_SLOT_LOSS));
}

/* Ops [begin, end) in one region of `team` threads (on the calling thread alone for a team of one: libgomp
 * allocates for every region it starts, even of one thread). A barrier after the last op would only
 * precede the region's own. Returns false when a loss that is not finite stopped the list. */
static bool run_region(bn_net *net, bn_step *s, int begin, int end, int team)
{
    if (team == 1) {
        for (int i = begin; i < end; i++) {
            run_share(net, s, &s->op[i], 0, 1);
            if (stops_after(s, &s->op[i]))
                return false;
        }
        return true;
    }
    bn_team_barrier_reset(&s->barrier);
#pragma omp parallel num_threads(team)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = begin; i < end; i++) {
            run_share(net, s, &s->op[i], t, nt);
            if (s->op[i].barrier && i + 1 < end) {
                bn_team_barrier_wait(&s->barrier, nt);
                /* every thread reads the same parts in the same order: all stop, or none */
                if (stops_after(s, &s->op[i]))
                    break;
            }
        }
    }
    for (int i = begin; i < end; i++) /* checked again here: the loss may have been the region's last op */
        if (stops_after(s, &s->op[i]))
            return false;
    return true;
}

/* The sums of what the threads left, in thread order and from the top layer, as the split path added them. */
static void gather(const bn_net *net, bn_step *s)
{
    s->loss = sum_slot(s, BN_SLOT_LOSS);
    s->correct = 0;
    for (int t = 0; t < s->slot_team[BN_SLOT_LOSS]; t++)
        s->correct += s->right[t];
    s->bad_loss = s->stop_on_bad_loss && !isfinite(s->loss);
    s->weight_sq = 0.0;
    if (s->want_sq && !s->bad_loss)
        for (int l = net->arch.depth - 1; l >= 0; l--)
            s->weight_sq += sum_slot(s, BN_SLOT_WEIGHT_SQ + l);
}

static void run_list_whole(bn_net *net, bn_step *s)
{
    for (int i = 0; i < s->count; i++) {
        run_whole(net, s, &s->op[i]);
        if (stops_after(s, &s->op[i]))
            break;
    }
}

void bn_step_run(bn_net *net)
{
    bn_step *s = net->step;
    s->slot_team[BN_SLOT_LOSS] = 1; /* a list without the loss sums none */
    s->part[BN_SLOT_LOSS][0] = 0.0;
    s->right[0] = 0;
    s->max_team = omp_get_max_threads() < BN_MAX_THREADS ? omp_get_max_threads() : BN_MAX_THREADS;
    if (!net->backend->team || !net->one_region) {
        run_list_whole(net, s);
    } else {
        const int team = s->max_team;
        for (int i = 0; i < s->count;) {
            if (s->op[i].outside) {
                run_whole(net, s, &s->op[i++]);
                continue;
            }
            int end = i;
            while (end < s->count && !s->op[end].outside)
                end++;
            if (!run_region(net, s, i, end, team))
                break;
            i = end;
        }
    }
    gather(net, s);
}
