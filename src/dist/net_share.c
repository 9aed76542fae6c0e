/* The step of one rank among several (bn_share with a comm), two ways. Ranks on nodes of their own (or a comm
 * without node memory) sum every layer's gradients with the comm's allreduce, each layer's sum started as
 * soon as the backward pass has it. Ranks that share a node's memory keep one copy of the weights and
 * moments per node: after the backward pass each rank adds the node's gradients over its part of every layer
 * (reading the other ranks' blocks in place), sums that part with the same part of the other nodes, and
 * updates it; a barrier then publishes the new weights to the node. Nothing is copied between the node's
 * ranks, and each rank updates 1/node_size of the parameters instead of all of them. */
#include "error.h"
#include "net.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Starts the sums of layer l's gradients over the ranks: dW as slot 2l, db as 2l + 1. */
static int sum_layer_begin(bn_net *net, const bn_comm *c, int l)
{
    const int *n = net->arch.sizes;
    int status = c->begin(c->ctx, 2 * l, bn_net_dweight(net, l), (size_t)n[l] * (size_t)n[l + 1], BN_COMM_SUM_FLOAT);
    return status ? status : c->begin(c->ctx, 2 * l + 1, bn_net_dbias(net, l), (size_t)n[l + 1], BN_COMM_SUM_FLOAT);
}

static int sum_layer_wait(const bn_comm *c, int l)
{
    int status = c->wait(c->ctx, 2 * l), bias_status = c->wait(c->ctx, 2 * l + 1);
    return status ? status : bias_status;
}

/* The backward pass over this rank's rows, each layer's sums started as soon as its gradients exist, so
 * they travel while the layers below compute. A share of no rows adds zeros. */
static int backward_and_sum(bn_net *net, const float *x, int rows, const bn_comm *c)
{
    if (rows == 0)
        memset(net->grads, 0, net->param_count * sizeof(float));
    int status = BN_OK;
    for (int l = net->arch.depth - 1; l >= 0 && !status; l--) {
        if (rows > 0)
            bn_net_backward_layer(net, l, x, rows);
        status = sum_layer_begin(net, c, l);
        if (c->progress)
            c->progress(c->ctx);
    }
    return status;
}

/* Each layer's update as soon as its sum is in, top layer first as in the local step, so that with one rank
 * the weights and ||W||^2 come out bitwise the same. Clipping waits for every sum: the norm is global. */
static int update_summed(bn_net *net, const bn_comm *c, const bn_optim *opt, bool want_sq, double *weight_sq)
{
    const bool clipping = opt->clip_norm > 0.0f;
    const bn_update u = bn_update_for(opt, 1.0f);
    double sq = 0.0, grad_sq = 0.0;
    int status = BN_OK;
    for (int l = net->arch.depth - 1; l >= 0 && !status; l--) {
        status = sum_layer_wait(c, l);
        if (status)
            break;
        if (clipping)
            grad_sq += bn_net_layer_grad_sqnorm(net, l);
        else
            sq += bn_net_update_layer(net, l, &u, opt->weight_decay, want_sq);
    }
    net->grad_norm = NAN;
    if (!status && clipping)
        sq = bn_net_update_all(net, opt, want_sq, grad_sq);
    *weight_sq = sq;
    return status;
}

static int comm_failed(int status)
{
    return bn_fail(status, "summing the gradients over the ranks failed (%s): another rank has probably ended",
                   bn_strerror(status));
}

/* Checks this rank's rows, runs its forward pass, and starts the sum of the loss and counts over the ranks. */
static int forward_and_start_sums(bn_net *net, const float *x, const int32_t *labels, bn_share *s)
{
    const bn_comm *c = s->comm;
    int status = s->rows > 0 ? bn_net_check_batch(net, s->rows) : BN_OK;
    if (!status && s->rows > 0)
        status = bn_net_check_labels(net, labels, s->rows);
    if (status)
        return status;
    int right = 0;
    /* 1/batch_rows: the sum over the ranks is the gradient of the global batch's mean loss */
    const float scale = 1.0f / (float)s->batch_rows;
    s->sums[0] = s->rows > 0 ? bn_net_forward_loss_delta(net, x, labels, s->rows, scale, &right) : 0.0;
    s->sums[1] = right;
    status = c->begin(c->ctx, BN_COMM_SLOT_SUMS, s->sums, BN_SHARE_SUMS, BN_COMM_SUM_DOUBLE);
    return status ? comm_failed(status) : BN_OK;
}

static int diverged(const bn_share *s)
{
    return bn_fail(BN_E_DIVERGED, "loss became %s", isnan(s->sums[0]) ? "NaN" : "infinite");
}

/* Forward over this rank's rows, the loss and counts summed over the ranks while every layer's gradients
 * are, then the update; a non-finite global loss updates nothing, on every rank alike. */
static int allreduce_step(bn_net *net, const float *x, const int32_t *labels, bn_share *s, const bn_optim *opt,
                          double *weight_sq)
{
    const bn_comm *c = s->comm;
    int status = forward_and_start_sums(net, x, labels, s);
    if (status)
        return status;
    status = backward_and_sum(net, x, s->rows, c);
    if (!status)
        status = c->wait(c->ctx, BN_COMM_SLOT_SUMS);
    if (!status && !isfinite(s->sums[0])) {
        for (int l = net->arch.depth - 1; l >= 0 && !status; l--)
            status = sum_layer_wait(c, l);
        if (!status)
            return diverged(s);
    }
    double sq = 0.0;
    if (!status)
        status = update_summed(net, c, opt, weight_sq != NULL, &sq);
    if (weight_sq)
        *weight_sq = sq;
    return status ? comm_failed(status) : BN_OK;
}

/* ---- ranks that share a node's memory ----------------------------------------------------------------- */
static bool across_nodes(const bn_net *net)
{
    return net->comm->size > net->node.size;
}

/* [*lo, *hi) of a region of n floats: this rank's part, which it adds up and updates. Parts are blocks of
 * 16 floats and regions start 64-byte aligned, so no two ranks write one cache line. */
static void my_part(const bn_net *net, size_t n, size_t *lo, size_t *hi)
{
    bn_par_range(n, 16, net->node.rank, net->node.size, lo, hi);
}

/* Layer l's W and b regions: their offsets and lengths. */
static void layer_regions(const bn_net *net, int l, size_t at[2], size_t count[2])
{
    const int *n = net->arch.sizes;
    at[0] = net->w_offset[l];
    at[1] = net->b_offset[l];
    count[0] = (size_t)n[l] * (size_t)n[l + 1];
    count[1] = (size_t)n[l + 1];
}

/* The node's sum of this rank's part of layer l's gradients, into this rank's block: its own gradient plus
 * every other rank's, in node rank order; then, with other nodes, the sum of that part over them starts. */
static int node_sum_layer(bn_net *net, int l)
{
    const bn_comm *c = net->comm;
    size_t at[2], count[2];
    layer_regions(net, l, at, count);
    int status = BN_OK;
    for (int i = 0; i < 2 && !status; i++) {
        size_t lo, hi;
        my_part(net, count[i], &lo, &hi);
        float *mine = net->grads + at[i] + lo;
        for (int k = 0; k < net->node.size; k++)
            if (k != net->node.rank && hi > lo)
                net->backend->accumulate(mine, net->node.grads[k] + at[i] + lo, hi - lo);
        if (across_nodes(net))
            status = c->begin_across(c->ctx, 2 * l + i, mine, hi - lo, BN_COMM_SUM_FLOAT);
    }
    return status;
}

/* The update of this rank's part of layer l; returns ||W||^2 of the part before it when want_sq. */
static double node_update_layer(bn_net *net, int l, const bn_update *u, float weight_decay, bool want_sq)
{
    size_t at[2], count[2];
    layer_regions(net, l, at, count);
    double sq = 0.0;
    for (int i = 0; i < 2; i++) {
        size_t lo, hi, o;
        my_part(net, count[i], &lo, &hi);
        o = at[i] + lo;
        sq += net->backend->update(net->params + o, net->velocity + o, net->moment2 + o, net->grads + o, hi - lo,
                                   u, i == 0 ? weight_decay : 0.0f, want_sq && i == 0);
    }
    return sq;
}

static double node_layer_grad_sqnorm(const bn_net *net, int l)
{
    size_t at[2], count[2];
    layer_regions(net, l, at, count);
    double sq = 0.0;
    for (int i = 0; i < 2; i++) {
        size_t lo, hi;
        my_part(net, count[i], &lo, &hi);
        sq += net->backend->sqnorm(net->grads + at[i] + lo, hi - lo);
    }
    return sq;
}

/* The sum of one non-negative partial per node rank, added in node rank order, so every rank of every node
 * (whose parts hold the same values) gets the same bits: each rank fills its own entry and a max over all
 * ranks fills the rest. */
static int node_total(bn_net *net, double mine, double *total)
{
    double *p = net->node.partials;
    memset(p, 0, (size_t)net->node.size * sizeof *p);
    p[net->node.rank] = mine;
    int status = bn_comm_combine(net->comm, p, (size_t)net->node.size, BN_COMM_MAX_DOUBLE);
    double sum = 0.0;
    for (int k = 0; k < net->node.size; k++)
        sum += p[k];
    *total = sum;
    return status;
}

/* Every layer's part updated, top layer first, each as soon as its sum over the nodes is in; clipping first
 * needs the global norm, from every rank's parts. *weight_sq: ||W||^2 before the update, over the node. */
static int node_update(bn_net *net, const bn_optim *opt, bool want_sq, double *weight_sq)
{
    const bool clipping = opt->clip_norm > 0.0f;
    bn_update u = bn_update_for(opt, 1.0f);
    double sq = 0.0, grad_sq = 0.0;
    int status = BN_OK;
    net->grad_norm = NAN;
    for (int l = net->arch.depth - 1; l >= 0 && !status; l--) {
        if (across_nodes(net) && (status = sum_layer_wait(net->comm, l)))
            break;
        if (clipping)
            grad_sq += node_layer_grad_sqnorm(net, l);
        else
            sq += node_update_layer(net, l, &u, opt->weight_decay, want_sq);
    }
    if (!status && clipping && !(status = node_total(net, grad_sq, &grad_sq))) {
        u = bn_update_for(opt, bn_net_clip_scale(net, grad_sq, opt->clip_norm));
        for (int l = net->arch.depth - 1; l >= 0; l--)
            sq += node_update_layer(net, l, &u, opt->weight_decay, want_sq);
    }
    if (!status && want_sq)
        status = node_total(net, sq, &sq);
    *weight_sq = sq;
    return status;
}

/* The backward pass over this rank's rows into its own gradient block; a share of no rows adds zeros. */
static void node_backward(bn_net *net, const float *x, int rows, const bn_comm *c)
{
    if (rows == 0)
        memset(net->grads, 0, net->param_count * sizeof(float));
    for (int l = net->arch.depth - 1; l >= 0 && rows > 0; l--) {
        bn_net_backward_layer(net, l, x, rows);
        if (c->progress)
            c->progress(c->ctx);
    }
}

/* Forward and backward over this rank's rows while the loss and counts are summed; then, once every rank
 * of the node has its gradients (a barrier), each sums and updates its part of every layer, and a second
 * barrier publishes the weights before anyone's next forward pass reads them. */
static int node_step(bn_net *net, const float *x, const int32_t *labels, bn_share *s, const bn_optim *opt,
                     double *weight_sq)
{
    const bn_comm *c = s->comm;
    int status = forward_and_start_sums(net, x, labels, s);
    if (status)
        return status;
    node_backward(net, x, s->rows, c);
    if ((status = c->wait(c->ctx, BN_COMM_SLOT_SUMS)))
        return comm_failed(status);
    if (!isfinite(s->sums[0])) /* every rank sees the same sum and stops here, before the node's weights */
        return diverged(s);
    status = c->node_sync(c->ctx);
    for (int l = net->arch.depth - 1; l >= 0 && !status; l--) {
        status = node_sum_layer(net, l);
        if (c->progress)
            c->progress(c->ctx);
    }
    double sq = 0.0;
    if (!status)
        status = node_update(net, opt, weight_sq != NULL, &sq);
    if (!status)
        status = c->node_sync(c->ctx);
    if (weight_sq)
        *weight_sq = sq;
    return status ? comm_failed(status) : BN_OK;
}

/* ---- attaching, and what reads the node's memory between steps ------------------------------------------ */
int bn_net_node_attach(bn_net *net, const bn_comm *comm)
{
    const int size = comm->node_size;
    const size_t floats = net->param_count, bytes = floats * sizeof(float);
    void **own = calloc((size_t)size, sizeof *own);
    float **grads = calloc((size_t)size, sizeof *grads);
    double *partials = calloc((size_t)size, sizeof *partials);
    void *lead = NULL;
    int status = own && grads && partials ? BN_OK : bn_fail(BN_E_NOMEM, "out of memory");
    if (!status)
        status = comm->node_map(comm->ctx, 3 * bytes, bytes, &lead, own);
    if (!status && comm->node_rank == 0) {
        float *shared = lead;
        memcpy(shared, net->params, bytes);
        memcpy(shared + floats, net->velocity, bytes);
        memcpy(shared + 2 * floats, net->moment2, bytes);
    }
    if (!status)
        status = comm->node_sync(comm->ctx);
    for (int k = 0; k < size && !status; k++)
        grads[k] = own[k];
    free(own);
    if (status) {
        free(grads);
        free(partials);
        return status;
    }
    net->node.rank = comm->node_rank;
    net->node.size = size;
    net->node.grads = grads;
    net->node.partials = partials;
    net->node.own_params = net->params;
    net->node.own_grads = net->grads;
    net->node.own_velocity = net->velocity;
    net->node.own_moment2 = net->moment2;
    net->params = lead;
    net->velocity = net->params + floats;
    net->moment2 = net->params + 2 * floats;
    net->grads = grads[comm->node_rank];
    return BN_OK;
}

/* Between steps nobody writes the node's copy, so it is read without a barrier. */
void bn_net_node_detach(bn_net *net)
{
    if (net->node.size == 0)
        return;
    const size_t bytes = net->param_count * sizeof(float);
    memcpy(net->node.own_params, net->params, bytes);
    memcpy(net->node.own_velocity, net->velocity, bytes);
    memcpy(net->node.own_moment2, net->moment2, bytes);
    memcpy(net->node.own_grads, net->grads, bytes);
    net->params = net->node.own_params;
    net->grads = net->node.own_grads;
    net->velocity = net->node.own_velocity;
    net->moment2 = net->node.own_moment2;
    free(net->node.grads);
    free(net->node.partials);
    memset(&net->node, 0, sizeof net->node);
}

/* After a node step the summed gradient of a part lives in its owner's block: each rank reads its parts. */
double bn_net_first_grad_norm(bn_net *net)
{
    const size_t n = (size_t)net->arch.sizes[0] * (size_t)net->arch.sizes[1];
    size_t lo = 0, hi = n;
    if (net->node.size > 1)
        my_part(net, n, &lo, &hi);
    const float *dw = net->grads + net->w_offset[0];
    double sq = 0.0;
    for (size_t i = lo; i < hi; i++)
        sq += (double)dw[i] * dw[i];
    if (net->node.size > 1 && node_total(net, sq, &sq))
        return NAN;
    return sqrt(sq);
}

/* Whatever writes the node's copy outside a step: node rank 0 alone, between two barriers. */
int bn_net_init_once(bn_net *net, bn_init init, float std, bn_rng *rng)
{
    if (net->node.size <= 1) {
        bn_net_init(net, init, std, rng);
        return BN_OK;
    }
    const bn_comm *c = net->comm;
    int status = c->node_sync(c->ctx);
    if (!status && net->node.rank == 0)
        bn_net_init(net, init, std, rng);
    return status ? status : c->node_sync(c->ctx);
}

int bn_net_restore_best(bn_net *net)
{
    const size_t bytes = net->param_count * sizeof(float);
    if (net->node.size <= 1) {
        memcpy(net->params, net->best, bytes);
        return BN_OK;
    }
    const bn_comm *c = net->comm;
    int status = c->node_sync(c->ctx); /* nobody still reads the weights */
    if (!status && net->node.rank == 0)
        memcpy(net->params, net->best, bytes);
    return status ? status : c->node_sync(c->ctx);
}

int bn_net_shared_step(bn_net *net, const float *x, const int32_t *labels, bn_share *share, const bn_optim *opt,
                       double *weight_sq)
{
    if (net->node.size > 1 && share->comm == net->comm)
        return node_step(net, x, labels, share, opt, weight_sq);
    return allreduce_step(net, x, labels, share, opt, weight_sq);
}
