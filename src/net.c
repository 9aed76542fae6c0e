/* The network: one allocation sized for the largest batch, the forward and backward passes as sgemm calls
 * glued by the backend's elementwise kernels, and the optimizer step over the parameter block.
 * Nothing here allocates after bn_net_create. */
#include "net.h"

#include "act.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, an AVX-512 vector */

/* Adds a region of `floats` (rounded up to ALIGN_FLOATS) to *total; returns its offset, or SIZE_MAX when
 * the sum would overflow. */
static size_t take(size_t *total, uint64_t floats)
{
    uint64_t rounded = (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    size_t offset = *total;
    if (floats > SIZE_MAX / 8 || rounded > SIZE_MAX / 8 - *total)
        return SIZE_MAX;
    *total += (size_t)rounded;
    return offset;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

int bn_net_create(bn_net **out, const bn_arch *arch, int max_batch, const bn_backend *backend)
{
    *out = NULL;
    int status = bn_arch_check(arch);
    if (status)
        return status;
    if (max_batch < 1)
        return bn_fail(BN_E_INVALID, "batch size %d must be at least 1", max_batch);
    if (!backend)
        return bn_fail(BN_E_INVALID, "no backend given");

    bn_net *net = calloc(1, sizeof *net);
    if (!net)
        return bn_fail(BN_E_NOMEM, "cannot allocate the network header");
    net->arch = *arch;
    net->max_batch = max_batch;
    net->backend = backend;

    const int L = arch->depth;
    const int *n = arch->sizes;
    int widest = 0;
    for (int l = 1; l <= L; l++)
        widest = n[l] > widest ? n[l] : widest;

    /* Offsets within one parameter block; grads and velocity repeat the same layout. */
    size_t params = 0, overflow = 0;
    for (int l = 0; l < L; l++) {
        net->w_offset[l] = take(&params, (uint64_t)n[l] * (uint64_t)n[l + 1]);
        overflow |= net->w_offset[l] == SIZE_MAX;
    }
    net->weight_count = params;
    for (int l = 0; l < L; l++) {
        net->b_offset[l] = take(&params, (uint64_t)n[l + 1]);
        overflow |= net->b_offset[l] == SIZE_MAX;
    }
    net->param_count = params;

    size_t total = 0, off_params, off_grads, off_vel, off_x, off_labels, off_act[BN_MAX_LAYERS],
           off_pre[BN_MAX_LAYERS], off_grad[2];
    uint64_t rows_x_width;
    off_params = take(&total, params);
    off_grads = take(&total, params);
    off_vel = take(&total, params);
    overflow |= !mul_ok((uint64_t)max_batch, (uint64_t)n[0], &rows_x_width);
    off_x = take(&total, rows_x_width);
    off_labels = take(&total, (uint64_t)max_batch); /* int32_t: the size of a float */
    for (int l = 0; l < L; l++) {
        overflow |= !mul_ok((uint64_t)max_batch, (uint64_t)n[l + 1], &rows_x_width);
        off_act[l] = take(&total, rows_x_width);
        /* Only swish needs its pre-activations for the derivative; other layers get no buffer. */
        off_pre[l] = (l < L - 1 && bn_act_needs_z(arch->act)) ? take(&total, rows_x_width) : 0;
    }
    overflow |= !mul_ok((uint64_t)max_batch, (uint64_t)widest, &rows_x_width);
    off_grad[0] = take(&total, rows_x_width);
    off_grad[1] = take(&total, rows_x_width);
    overflow |= off_params == SIZE_MAX || off_grads == SIZE_MAX || off_vel == SIZE_MAX || off_x == SIZE_MAX ||
                off_labels == SIZE_MAX || off_grad[0] == SIZE_MAX || off_grad[1] == SIZE_MAX;
    for (int l = 0; l < L; l++)
        overflow |= off_act[l] == SIZE_MAX || off_pre[l] == SIZE_MAX;
    if (overflow || total > SIZE_MAX / sizeof(float)) {
        free(net);
        return bn_fail(BN_E_NOMEM, "network %d layers wide up to %d with batch %d needs more memory than can "
                                   "be addressed", L, widest, max_batch);
    }

    size_t bytes = total * sizeof(float);
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0 && bytes / (size_t)page_size > (size_t)pages) {
        free(net);
        return bn_fail(BN_E_NOMEM, "network and batch %d need %.1f GiB, more than this machine's %.1f GiB",
                       max_batch, bytes / 1073741824.0, (double)pages * (double)page_size / 1073741824.0);
    }
    net->block = aligned_alloc(ALIGN_FLOATS * sizeof(float), bytes);
    if (!net->block) {
        free(net);
        return bn_fail(BN_E_NOMEM, "cannot allocate %.1f MiB for the network", bytes / 1048576.0);
    }
    /* Zero once: padding must stay zero, and touching every page now keeps page faults off the hot path. */
    memset(net->block, 0, bytes);
    net->block_bytes = bytes;

    float *base = net->block;
    net->params = base + off_params;
    net->grads = base + off_grads;
    net->velocity = base + off_vel;
    net->x = base + off_x;
    net->labels = (int32_t *)(base + off_labels);
    for (int l = 0; l < L; l++) {
        net->act[l] = base + off_act[l];
        net->pre_act[l] = off_pre[l] ? base + off_pre[l] : NULL;
    }
    net->grad_buf[0] = base + off_grad[0];
    net->grad_buf[1] = base + off_grad[1];
    *out = net;
    return BN_OK;
}

void bn_net_destroy(bn_net **net)
{
    if (!net || !*net)
        return;
    free((*net)->block);
    free(*net);
    *net = NULL;
}

const bn_arch *bn_net_arch(const bn_net *net) { return &net->arch; }
int bn_net_max_batch(const bn_net *net) { return net->max_batch; }
const bn_backend *bn_net_backend(const bn_net *net) { return net->backend; }
void bn_net_set_backend(bn_net *net, const bn_backend *backend) { net->backend = backend; }
float *bn_net_weight(bn_net *net, int l) { return net->params + net->w_offset[l]; }
float *bn_net_bias(bn_net *net, int l) { return net->params + net->b_offset[l]; }
float *bn_net_dweight(bn_net *net, int l) { return net->grads + net->w_offset[l]; }
float *bn_net_dbias(bn_net *net, int l) { return net->grads + net->b_offset[l]; }
float *bn_net_input(bn_net *net) { return net->x; }
int32_t *bn_net_labels(bn_net *net) { return net->labels; }
const float *bn_net_probs(const bn_net *net) { return net->act[net->arch.depth - 1]; }

float *bn_net_params(bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->params;
}

float *bn_net_grads(bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->grads;
}

float *bn_net_velocity(bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->velocity;
}

void bn_net_init(bn_net *net, bn_init init, float std, bn_rng *rng)
{
    const int *n = net->arch.sizes;
    memset(net->params, 0, net->param_count * sizeof(float));
    memset(net->velocity, 0, net->param_count * sizeof(float));
    for (int l = 0; l < net->arch.depth; l++) {
        float *w = bn_net_weight(net, l);
        size_t count = (size_t)n[l] * (size_t)n[l + 1];
        double he_std = sqrt(2.0 / n[l]), lecun_std = sqrt(1.0 / n[l]), xavier_limit = sqrt(6.0 / (n[l] + n[l + 1]));
        for (size_t i = 0; i < count; i++) {
            switch (init) {
            case BN_INIT_HE: w[i] = (float)(he_std * bn_rng_normal(rng)); break;
            case BN_INIT_LECUN: w[i] = (float)(lecun_std * bn_rng_normal(rng)); break;
            case BN_INIT_XAVIER: w[i] = (float)(xavier_limit * (2.0 * bn_rng_uniform(rng) - 1.0)); break;
            default: w[i] = (float)(std * bn_rng_normal(rng)); break;
            }
        }
    }
}

static int check_batch(const bn_net *net, int batch)
{
    if (batch < 1 || batch > net->max_batch)
        return bn_fail(BN_E_INVALID, "batch of %d rows does not fit the workspace (1..%d)", batch,
                       net->max_batch);
    return BN_OK;
}

/* Hidden layers: act[l] (B, n[l+1]) = act(in (B, n[l]) . W_l (n[l], n[l+1]) + b_l). The output layer's
 * product is left in act[L-1] for the softmax kernel. */
static void forward_products(bn_net *net, const float *x, int B)
{
    const bn_backend *be = net->backend;
    const int *n = net->arch.sizes;
    const int L = net->arch.depth;
    const float *in = x;
    for (int l = 0; l < L; l++) {
        /* Z (B, n[l+1]) = A (B, n[l]) . W (n[l], n[l+1]) */
        be->gemm(false, false, B, n[l + 1], n[l], 1.0f, in, n[l], bn_net_weight(net, l), n[l + 1], 0.0f,
                 net->act[l], n[l + 1]);
        if (l < L - 1)
            be->bias_act(net->act[l], net->pre_act[l], bn_net_bias(net, l), B, n[l + 1], net->arch.act,
                         net->arch.leaky_slope);
        in = net->act[l];
    }
    net->batch = B;
}

int bn_net_forward(bn_net *net, const float *x, int batch)
{
    int status = check_batch(net, batch);
    if (status)
        return status;
    const int L = net->arch.depth;
    forward_products(net, x, batch);
    net->backend->softmax_xent(NULL, net->act[L - 1], bn_net_bias(net, L - 1), NULL, batch,
                               net->arch.sizes[L], 0.0f, NULL);
    return BN_OK;
}

int bn_net_forward_loss(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss_sum,
                        int *correct)
{
    int status = check_batch(net, batch);
    if (status)
        return status;
    const int L = net->arch.depth;
    forward_products(net, x, batch);
    *loss_sum += net->backend->softmax_xent(NULL, net->act[L - 1], bn_net_bias(net, L - 1), labels, batch,
                                            net->arch.sizes[L], 0.0f, correct);
    return BN_OK;
}

/* Forward, loss, and backward from the output layer down. With sgd, each layer's parameters are updated as
 * soon as nothing below needs them any more (after the product that reads W for the input gradient), while
 * W and its gradient are still in cache: one pass over the parameters that the sgemm calls just touched,
 * instead of a separate pass over the whole block after it has been evicted. *weight_sq receives ||W||^2
 * read before the update. */
static int backward_pass(bn_net *net, const float *x, const int32_t *labels, int batch, const bn_sgd *sgd,
                         double *loss, int *correct, double *weight_sq)
{
    int status = check_batch(net, batch);
    if (status)
        return status;
    const bn_backend *be = net->backend;
    const int *n = net->arch.sizes;
    const int L = net->arch.depth;
    const int B = batch;
    const int classes = n[L];
    for (int i = 0; i < B; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return bn_fail(BN_E_INVALID, "label %d of row %d is outside 0..%d", (int)labels[i], i, classes - 1);

    forward_products(net, x, B);
    int right = 0;
    float *G = net->grad_buf[0];
    /* dlogits (B, C) = (softmax - onehot) / B: the gradient of the batch-mean cross-entropy. */
    double sum = be->softmax_xent(G, net->act[L - 1], bn_net_bias(net, L - 1), labels, B, classes,
                                  1.0f / (float)B, &right);
    if (loss)
        *loss = sum / B;
    if (correct)
        *correct = right;
    if (!isfinite(sum) && sgd)
        return BN_OK; /* the caller stops on a non-finite loss: leave the weights as they were */

    double sq = 0.0;
    for (int l = L - 1; l >= 0; l--) {
        const float *in = l == 0 ? x : net->act[l - 1];
        size_t w_count = (size_t)n[l] * (size_t)n[l + 1];
        /* dW (n[l], n[l+1]) = A^T (n[l], B) . G (B, n[l+1]) */
        be->gemm(true, false, n[l], n[l + 1], B, 1.0f, in, n[l], G, n[l + 1], 0.0f, bn_net_dweight(net, l),
                 n[l + 1]);
        /* db (n[l+1]) = column sums of G */
        be->bias_grad(bn_net_dbias(net, l), G, B, n[l + 1]);
        float *dA = net->grad_buf[(L - l) & 1];
        if (l > 0) { /* nobody needs the gradient of the input pixels */
            /* dA (B, n[l]) = G (B, n[l+1]) . W^T (n[l+1], n[l]) */
            be->gemm(false, true, B, n[l], n[l + 1], 1.0f, G, n[l + 1], bn_net_weight(net, l), n[l + 1], 0.0f,
                     dA, n[l]);
            /* G <- dA * act'(Z_{l-1}), in place */
            be->act_backward(dA, dA, net->pre_act[l - 1], net->act[l - 1], (size_t)B * n[l], net->arch.act,
                             net->arch.leaky_slope);
        }
        if (sgd) {
            sq += be->sgd_update(bn_net_weight(net, l), net->velocity + net->w_offset[l], bn_net_dweight(net, l),
                                 w_count, sgd->lr, sgd->momentum, sgd->weight_decay, sgd->nesterov,
                                 weight_sq != NULL);
            be->sgd_update(bn_net_bias(net, l), net->velocity + net->b_offset[l], bn_net_dbias(net, l),
                           (size_t)n[l + 1], sgd->lr, sgd->momentum, 0.0f, sgd->nesterov, false);
        }
        G = dA;
    }
    if (weight_sq)
        *weight_sq = sq;
    return BN_OK;
}

int bn_net_backprop(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss, int *correct)
{
    return backward_pass(net, x, labels, batch, NULL, loss, correct, NULL);
}

int bn_net_train_step(bn_net *net, const float *x, const int32_t *labels, int batch, const bn_sgd *sgd,
                      double *loss, int *correct, double *weight_sqnorm)
{
    return backward_pass(net, x, labels, batch, sgd, loss, correct, weight_sqnorm);
}

double bn_net_weight_sqnorm(const bn_net *net)
{
    double sum = 0.0;
    for (size_t i = 0; i < net->weight_count; i++)
        sum += (double)net->params[i] * net->params[i];
    return sum;
}

void bn_net_add_decay_grad(bn_net *net, float lambda)
{
    for (size_t i = 0; i < net->weight_count; i++)
        net->grads[i] += lambda * net->params[i];
}

void bn_net_sgd_step(bn_net *net, const bn_sgd *sgd, double *weight_sqnorm)
{
    const bn_backend *be = net->backend;
    size_t nw = net->weight_count, nb = net->param_count - nw;
    double sq = be->sgd_update(net->params, net->velocity, net->grads, nw, sgd->lr, sgd->momentum,
                               sgd->weight_decay, sgd->nesterov, weight_sqnorm != NULL);
    be->sgd_update(net->params + nw, net->velocity + nw, net->grads + nw, nb, sgd->lr, sgd->momentum, 0.0f,
                   sgd->nesterov, false);
    if (weight_sqnorm)
        *weight_sqnorm = sq;
}
