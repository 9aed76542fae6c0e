/* The step of one rank among several (bn_share with a comm), two ways. Ranks on nodes of their own (or a comm
 * without node memory) sum every layer's gradients with the comm's allreduce, each layer's sum started as
 * soon as the backward pass has it. Ranks that share a node's memory keep one copy of the weights and
 * moments per node: after the backward pass each rank adds the node's gradients over its part of every layer
 * (reading the other ranks' blocks in place), sums that part with the same part of the other nodes, and
 * updates it; a barrier then publishes the new weights to the node. Nothing is copied between the node's
 * ranks, and each rank updates 1/node_size of the parameters instead of all of them. */
#include "net_share.h"

#include "backend.h"
#include "comm.h"
#include "error.h"
#include "net.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What this layer keeps with a network it attached a communicator to (bn_net_set_comm). */
typedef struct {
    bn_net_attachment base; /* first: the network hands this pointer back */
    const bn_comm *comm;
    /* With a comm whose node shares memory: params, velocity and moment2 are bound to the node's one copy,
     * grads to this rank's block there; own keeps the network's blocks, for detaching. */
    int rank, size;   /* this rank among the node's; size 0: not sharing */
    float **grads;    /* size pointers: each node rank's gradient block */
    double *partials; /* size doubles: one partial sum per node rank, combined by max */
    bn_net_blocks own;
} dist_state;

static dist_state *dist_of(const bn_net *net)
{
    return (dist_state *)bn_net_attached(net);
}

static const int *sizes_of(const bn_net *net)
{
    return bn_net_arch(net)->sizes;
}

static int depth_of(const bn_net *net)
{
    return bn_net_arch(net)->depth;
}

/* Starts the sums of layer l's gradients over the ranks: dW as slot 2l, db as 2l + 1. */
static int sum_layer_begin(bn_net *net, const bn_comm *c, int l)
{
    const int *n = sizes_of(net);
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
        memset(bn_net_state_blocks(net).grads, 0, bn_net_param_floats(net) * sizeof(float));
    int status = BN_OK;
    for (int l = depth_of(net) - 1; l >= 0 && !status; l--) {
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
    for (int l = depth_of(net) - 1; l >= 0 && !status; l--) {
        status = sum_layer_wait(c, l);
        if (status)
            break;
        if (clipping)
            grad_sq += bn_net_layer_grad_sqnorm(net, l);
        else
            sq += bn_net_update_layer(net, l, &u, opt->weight_decay, want_sq);
    }
    bn_net_clear_grad_norm(net);
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
        for (int l = depth_of(net) - 1; l >= 0 && !status; l--)
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
    return dist_of(net)->comm->size > dist_of(net)->size;
}

/* [*lo, *hi) of a region of n floats: this rank's part, which it adds up and updates. Parts are blocks of
 * 16 floats and regions start 64-byte aligned, so no two ranks write one cache line. */
static void my_part(const bn_net *net, size_t n, size_t *lo, size_t *hi)
{
    bn_par_range(n, 16, dist_of(net)->rank, dist_of(net)->size, lo, hi);
}

/* Layer l's W and b regions: their offsets and lengths. */
static void layer_regions(const bn_net *net, int l, size_t at[2], size_t count[2])
{
    const int *n = sizes_of(net);
    at[0] = bn_net_weight_offset(net, l);
    at[1] = bn_net_bias_offset(net, l);
    count[0] = (size_t)n[l] * (size_t)n[l + 1];
    count[1] = (size_t)n[l + 1];
}

/* The node's sum of this rank's part of layer l's gradients, into this rank's block: its own gradient plus
 * every other rank's, in node rank order; then, with other nodes, the sum of that part over them starts. */
static int node_sum_layer(bn_net *net, int l)
{
    const dist_state *d = dist_of(net);
    const bn_comm *c = d->comm;
    size_t at[2], count[2];
    layer_regions(net, l, at, count);
    int status = BN_OK;
    for (int i = 0; i < 2 && !status; i++) {
        size_t lo, hi;
        my_part(net, count[i], &lo, &hi);
        float *mine = bn_net_state_blocks(net).grads + at[i] + lo;
        for (int k = 0; k < d->size; k++)
            if (k != d->rank && hi > lo)
                bn_net_backend(net)->accumulate(mine, d->grads[k] + at[i] + lo, hi - lo);
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
    const bn_net_blocks b = bn_net_state_blocks(net);
    double sq = 0.0;
    for (int i = 0; i < 2; i++) {
        size_t lo, hi, o;
        my_part(net, count[i], &lo, &hi);
        o = at[i] + lo;
        sq += bn_net_backend(net)->update(b.params + o, b.velocity + o, b.moment2 + o, b.grads + o, hi - lo, u,
                                          i == 0 ? weight_decay : 0.0f, want_sq && i == 0);
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
        sq += bn_net_backend(net)->sqnorm(bn_net_state_blocks(net).grads + at[i] + lo, hi - lo);
    }
    return sq;
}

/* The sum of one non-negative partial per node rank, added in node rank order, so every rank of every node
 * (whose parts hold the same values) gets the same bits: each rank fills its own entry and a max over all
 * ranks fills the rest. */
static int node_total(bn_net *net, double mine, double *total)
{
    const dist_state *d = dist_of(net);
    double *p = d->partials;
    memset(p, 0, (size_t)d->size * sizeof *p);
    p[d->rank] = mine;
    int status = bn_comm_combine(d->comm, p, (size_t)d->size, BN_COMM_MAX_DOUBLE);
    double sum = 0.0;
    for (int k = 0; k < d->size; k++)
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
    bn_net_clear_grad_norm(net);
    for (int l = depth_of(net) - 1; l >= 0 && !status; l--) {
        if (across_nodes(net) && (status = sum_layer_wait(dist_of(net)->comm, l)))
            break;
        if (clipping)
            grad_sq += node_layer_grad_sqnorm(net, l);
        else
            sq += node_update_layer(net, l, &u, opt->weight_decay, want_sq);
    }
    if (!status && clipping && !(status = node_total(net, grad_sq, &grad_sq))) {
        u = bn_update_for(opt, bn_net_clip_scale(net, grad_sq, opt->clip_norm));
        for (int l = depth_of(net) - 1; l >= 0; l--)
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
        memset(bn_net_state_blocks(net).grads, 0, bn_net_param_floats(net) * sizeof(float));
    for (int l = depth_of(net) - 1; l >= 0 && rows > 0; l--) {
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
    for (int l = depth_of(net) - 1; l >= 0 && !status; l--) {
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
static int node_attach(bn_net *net, dist_state *d, const bn_comm *comm)
{
    const int size = comm->node_size;
    const size_t floats = bn_net_param_floats(net), bytes = floats * sizeof(float);
    const bn_net_blocks mine = bn_net_state_blocks(net);
#define COUNT_NODE(name, kind) +(kind == BN_BLOCK_NODE)
    const size_t shared_blocks = 0 BN_NET_BLOCKS(COUNT_NODE);
#undef COUNT_NODE
    void **own = calloc((size_t)size, sizeof *own);
    float **grads = calloc((size_t)size, sizeof *grads);
    double *partials = calloc((size_t)size, sizeof *partials);
    void *lead = NULL;
    int status = own && grads && partials ? BN_OK : bn_fail(BN_E_NOMEM, "out of memory");
    if (!status)
        status = comm->node_map(comm->ctx, shared_blocks * bytes, bytes, &lead, own);
    if (!status && comm->node_rank == 0) { /* the node's blocks one after another, in the list's order */
        float *shared = lead;
#define COPY_IN(name, kind)                                                                                       \
    if (kind == BN_BLOCK_NODE)                                                                                    \
        memcpy(shared, mine.name, bytes), shared += floats;
        BN_NET_BLOCKS(COPY_IN)
#undef COPY_IN
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
    *d = (dist_state){d->base, comm, comm->node_rank, size, grads, partials, mine};
    bn_net_blocks node;
    float *shared = lead;
#define BIND(name, kind)                                                                                          \
    if (kind == BN_BLOCK_NODE)                                                                                    \
        node.name = shared, shared += floats;                                                                     \
    else                                                                                                          \
        node.name = grads[comm->node_rank];
    BN_NET_BLOCKS(BIND)
#undef BIND
    bn_net_bind_blocks(net, node);
    return BN_OK;
}

/* Between steps nobody writes the node's copy, so it is read without a barrier. */
static void release(bn_net *net, bn_net_attachment *self)
{
    dist_state *d = (dist_state *)self;
    if (d->size > 0) {
        const size_t bytes = bn_net_param_floats(net) * sizeof(float);
        const bn_net_blocks node = bn_net_state_blocks(net);
#define COPY_BACK(name, kind) memcpy(d->own.name, node.name, bytes);
        BN_NET_BLOCKS(COPY_BACK)
#undef COPY_BACK
        bn_net_bind_blocks(net, d->own);
    }
    free(d->grads);
    free(d->partials);
    free(d);
}

int bn_net_set_comm(bn_net *net, const bn_comm *comm)
{
    bn_net_attach(net, NULL);
    if (!comm)
        return BN_OK;
    dist_state *d = calloc(1, sizeof *d);
    if (!d)
        return bn_fail(BN_E_NOMEM, "out of memory");
    d->base.release = release;
    d->comm = comm;
    if (comm->node_size > 1 && comm->node_map) {
        int status = node_attach(net, d, comm);
        if (status) {
            free(d);
            return bn_fail(status, "mapping the node's shared memory failed (%s)", bn_strerror(status));
        }
    }
    bn_net_attach(net, &d->base);
    return BN_OK;
}

const bn_comm *bn_net_comm(const bn_net *net)
{
    const dist_state *d = dist_of(net);
    return d ? d->comm : NULL;
}

/* The node's ranks that share memory, 0 or 1 when none do. */
static int node_size(const bn_net *net)
{
    const dist_state *d = dist_of(net);
    return d ? d->size : 0;
}

/* After a node step the summed gradient of a part lives in its owner's block: each rank reads its parts. */
double bn_net_first_grad_norm(bn_net *net)
{
    const size_t n = (size_t)sizes_of(net)[0] * (size_t)sizes_of(net)[1];
    size_t lo = 0, hi = n;
    if (node_size(net) > 1)
        my_part(net, n, &lo, &hi);
    const float *dw = bn_net_state_blocks(net).grads + bn_net_weight_offset(net, 0);
    double sq = 0.0;
    for (size_t i = lo; i < hi; i++)
        sq += (double)dw[i] * dw[i];
    if (node_size(net) > 1 && node_total(net, sq, &sq))
        return NAN;
    return sqrt(sq);
}

/* Whatever writes the node's copy outside a step: node rank 0 alone, between two barriers. */
int bn_net_init_once(bn_net *net, bn_init init, float std, bn_rng *rng)
{
    if (node_size(net) <= 1) {
        bn_net_init(net, init, std, rng);
        return BN_OK;
    }
    const dist_state *d = dist_of(net);
    int status = d->comm->node_sync(d->comm->ctx);
    if (!status && d->rank == 0)
        bn_net_init(net, init, std, rng);
    return status ? status : d->comm->node_sync(d->comm->ctx);
}

int bn_net_restore_best(bn_net *net)
{
    size_t floats;
    const float *best = bn_net_best_params(net, &floats);
    float *params = bn_net_state_blocks(net).params;
    if (node_size(net) <= 1) {
        memcpy(params, best, floats * sizeof(float));
        return BN_OK;
    }
    const dist_state *d = dist_of(net);
    int status = d->comm->node_sync(d->comm->ctx); /* nobody still reads the weights */
    if (!status && d->rank == 0)
        memcpy(params, best, floats * sizeof(float));
    return status ? status : d->comm->node_sync(d->comm->ctx);
}

int bn_net_train_share(bn_net *net, const float *x, const int32_t *labels, bn_share *share, const bn_optim *opt,
                       double *weight_sq)
{
    if (!share->comm) {
        int correct = 0;
        int status = bn_net_train_rows(net, x, labels, share->rows, opt, &share->sums[0], &correct, weight_sq);
        share->sums[1] = correct;
        return status;
    }
    if (node_size(net) > 1 && share->comm == bn_net_comm(net))
        return node_step(net, x, labels, share, opt, weight_sq);
    return allreduce_step(net, x, labels, share, opt, weight_sq);
}
