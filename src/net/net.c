/* The network: one allocation sized for the largest batch, the forward and backward passes as sgemm calls
 * glued by the backend's elementwise kernels, and the optimizer step over the parameter block.
 * Nothing here allocates after bn_net_create. */
#include "net.h"
#include "rng.h"

#include "act.h"
#include "error.h"
#include "net_plan.h"
#include "net_wisdom.h"
#include "products.h"
#include "step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, an AVX-512 vector */
#define MAX_REGIONS (7 + 2 * BN_MAX_LAYERS + 3)

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

/* Offsets of every W, then every b, within one parameter block; the other blocks repeat the layout, and
 * the weights come first so the L2 term is one loop over a prefix. Returns false on overflow. */
static bool layout_params(bn_net *net)
{
    const int *n = net->arch.sizes;
    size_t params = 0;
    bool ok = true;
    for (int l = 0; l < net->arch.depth; l++) {
        net->w_offset[l] = take(&params, (uint64_t)n[l] * (uint64_t)n[l + 1]);
        ok &= net->w_offset[l] != SIZE_MAX;
    }
    net->weight_count = params;
    for (int l = 0; l < net->arch.depth; l++) {
        net->b_offset[l] = take(&params, (uint64_t)n[l + 1]);
        ok &= net->b_offset[l] != SIZE_MAX;
    }
    net->param_count = params;
    return ok;
}

/* One view into the block: `rows` x `cols` floats, its address stored in *view once the block exists. */
typedef struct {
    float **view;
    uint64_t rows, cols;
    size_t offset;
} region;

/* The block's regions, in order: the state's blocks (blocks.h), the best weights, input and label staging, each layer's
 * output (and pre-activation where the derivative needs it), the two deltas, the K-split partial sums.
 * Returns the count. */
static int list_regions(bn_net *net, float **labels_view, region *r)
{
    const bn_arch *a = &net->arch;
    const uint64_t B = (uint64_t)net->max_batch;
    uint64_t widest = 0;
    int k = 0;
#define STATE_REGION(name, kind) r[k++] = (region){&net->name, 1, net->param_count, 0};
    BN_NET_BLOCKS(STATE_REGION)
#undef STATE_REGION
    r[k++] = (region){&net->best, 1, net->param_count, 0};
    r[k++] = (region){&net->x, B, (uint64_t)a->sizes[0], 0};
    r[k++] = (region){labels_view, B, 1, 0}; /* int32_t: the size of a float */
    for (int l = 0; l < a->depth; l++) {
        widest = (uint64_t)a->sizes[l + 1] > widest ? (uint64_t)a->sizes[l + 1] : widest;
        r[k++] = (region){&net->layer_out[l], B, (uint64_t)a->sizes[l + 1], 0};
        /* Only swish needs its pre-activations for the derivative; other layers get no buffer. */
        if (l < a->depth - 1 && bn_act_needs_z(a->act))
            r[k++] = (region){&net->pre_act[l], B, (uint64_t)a->sizes[l + 1], 0};
    }
    r[k++] = (region){&net->delta[0], B, widest, 0};
    r[k++] = (region){&net->delta[1], B, widest, 0};
    r[k++] = (region){&net->plan_scratch, 1, BN_PLAN_SCRATCH_FLOATS, 0};
    return k;
}

/* Places the regions one after another; returns the block's size in floats, or SIZE_MAX on overflow. */
static size_t place_regions(region *r, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        uint64_t floats;
        if (__builtin_mul_overflow(r[i].rows, r[i].cols, &floats))
            return SIZE_MAX;
        r[i].offset = take(&total, floats);
        if (r[i].offset == SIZE_MAX)
            return SIZE_MAX;
    }
    return total > SIZE_MAX / sizeof(float) ? SIZE_MAX : total;
}

/* Refuses a block larger than the machine's memory with a message, rather than letting the OS kill us later. */
static int check_fits_memory(size_t bytes, int max_batch)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0 && bytes / (size_t)page_size > (size_t)pages)
        return bn_fail(BN_E_NOMEM, "network and batch %d need %.1f GiB, more than this machine's %.1f GiB",
                       max_batch, bytes / 1073741824.0, (double)pages * (double)page_size / 1073741824.0);
    return BN_OK;
}

/* Sizes, allocates and zeroes the block, then points every view into it. */
static int allocate_block(bn_net *net)
{
    region regions[MAX_REGIONS];
    float *labels_view = NULL;
    bool params_fit = layout_params(net); /* first: the regions are sized by its param_count */
    int count = list_regions(net, &labels_view, regions);
    size_t total = params_fit ? place_regions(regions, count) : SIZE_MAX;
    if (total == SIZE_MAX)
        return bn_fail(BN_E_NOMEM, "network %d layers deep with batch %d needs more memory than can be addressed",
                       net->arch.depth, net->max_batch);
    size_t bytes = total * sizeof(float);
    int status = check_fits_memory(bytes, net->max_batch);
    if (status)
        return status;
    net->block = aligned_alloc(ALIGN_FLOATS * sizeof(float), bytes);
    if (!net->block)
        return bn_fail(BN_E_NOMEM, "cannot allocate %.1f MiB for the network", bytes / 1048576.0);
    /* Zero once: padding must stay zero, and touching every page now keeps page faults off the hot path. */
    memset(net->block, 0, bytes);
    net->block_bytes = bytes;
    for (int i = 0; i < count; i++)
        *regions[i].view = net->block + regions[i].offset;
    net->labels = (int32_t *)labels_view;
    return BN_OK;
}

/* A training step's passes on whatever the staging buffers hold (their labels are always in range: zeros,
 * or a batch's), for the planner to time lists of plans under: outputs, deltas and gradients are
 * overwritten, the parameters and the optimizer's state untouched. */
static void passes_for_timing(bn_net *net, int B)
{
    bn_step_build_train(net, net->x, net->labels, B, 1.0f / (float)B, NULL, false);
    bn_step_run(net);
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
    net->grad_norm = NAN;
    net->run_passes = passes_for_timing;
    net->fuse_update = true;
    net->one_region = true;
    net->step = calloc(1, sizeof *net->step);
    bn_plan_mode mode;
    status = net->step ? bn_plan_mode_default(&mode) : bn_fail(BN_E_NOMEM, "cannot allocate the step's list");
    if (!status)
        status = allocate_block(net);
    if (!status)
        status = bn_net_plan(net, mode, 0);
    if (status) {
        bn_net_wisdom_release(net);
        free(net->step);
        free(net->block);
        free(net);
        return status;
    }
    *out = net;
    return BN_OK;
}

void bn_net_destroy(bn_net **net)
{
    if (!net || !*net)
        return;
    bn_net_attach(*net, NULL); /* first: a node's attachment gives the network its own blocks back */
    bn_net_wisdom_release(*net);
    free((*net)->step);
    free((*net)->block);
    free(*net);
    *net = NULL;
}

const bn_arch *bn_net_arch(const bn_net *net) { return &net->arch; }
int bn_net_max_batch(const bn_net *net) { return net->max_batch; }
const bn_backend *bn_net_backend(const bn_net *net) { return net->backend; }
void bn_net_set_backend(bn_net *net, const bn_backend *backend) { net->backend = backend; }
float *bn_net_weight(bn_net *net, int l) { return net->params + net->w_offset[l]; }
float *bn_net_bias(bn_net *net, int l) { return bn_net_layer_bias(net, l); }
float *bn_net_dweight(bn_net *net, int l) { return net->grads + net->w_offset[l]; }
float *bn_net_dbias(bn_net *net, int l) { return bn_net_layer_dbias(net, l); }
float *bn_net_input(bn_net *net) { return net->x; }
int32_t *bn_net_labels(bn_net *net) { return net->labels; }
const float *bn_net_probs(const bn_net *net) { return net->layer_out[net->arch.depth - 1]; }
size_t bn_net_weight_offset(const bn_net *net, int l) { return net->w_offset[l]; }
size_t bn_net_bias_offset(const bn_net *net, int l) { return net->b_offset[l]; }

const float *bn_net_params_const(const bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->params;
}

const float *bn_net_velocity_const(const bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->velocity;
}

const float *bn_net_moment2_const(const bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->moment2;
}

const float *bn_net_best_params_const(const bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->best;
}

float *bn_net_moment2(bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->moment2;
}

float *bn_net_best_params(bn_net *net, size_t *count)
{
    *count = net->param_count;
    return net->best;
}

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
    memset(net->moment2, 0, net->param_count * sizeof(float));
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

int bn_net_check_batch(const bn_net *net, int batch)
{
    if (batch < 1 || batch > net->max_batch)
        return bn_fail(BN_E_INVALID, "batch of %d rows does not fit the workspace (1..%d)", batch,
                       net->max_batch);
    return BN_OK;
}



int bn_net_set_dropout(bn_net *net, float p, uint64_t seed, uint64_t step, uint64_t first_row)
{
    if (!(p >= 0.0f && p < 1.0f))
        return bn_fail(BN_E_INVALID, "dropout probability %g is outside [0, 1)", (double)p);
    net->dropout_p = p;
    net->dropout_seed = seed;
    net->dropout_step = step;
    net->dropout_first_row = first_row;
    return BN_OK;
}

int bn_net_forward(bn_net *net, const float *x, int batch)
{
    int status = bn_net_check_batch(net, batch);
    if (status)
        return status;
    bn_step_build_forward(net, x, NULL, batch, false);
    bn_step_run(net);
    return BN_OK;
}

int bn_net_forward_loss(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss_sum,
                        int *correct)
{
    int status = bn_net_check_batch(net, batch);
    if (status)
        return status;
    bn_step_build_forward(net, x, labels, batch, false);
    bn_step_run(net);
    *loss_sum += net->step->loss;
    if (correct)
        *correct += net->step->correct;
    return BN_OK;
}

int bn_net_check_labels(const bn_net *net, const int32_t *labels, int batch)
{
    const int classes = net->arch.sizes[net->arch.depth];
    for (int i = 0; i < batch; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return bn_fail(BN_E_INVALID, "label %d of row %d is outside 0..%d", (int)labels[i], i, classes - 1);
    return BN_OK;
}



/* Layer l's gradients from its delta G (B, n[l+1]) and its input, and the delta of the layer below, as one
 * region (step.h): the step of several ranks sums each layer's gradient as soon as it exists. */
void bn_net_backward_layer(bn_net *net, int l, const float *x, int B)
{
    bn_step_build_backward_layer(net, x, B, l);
    bn_step_run(net);
}

/* Every layer's update after the whole backward pass, layer by layer from the top as the fused pass goes,
 * so ||W||^2 is summed in the same order. With clipping, grad_sq is the squared global norm, summed per
 * layer from the top (layer_grad_sqnorm). */
double bn_net_update_all(bn_net *net, const bn_optim *opt, bool want_sq, double grad_sq)
{
    const int L = net->arch.depth;
    float scale = 1.0f;
    net->grad_norm = NAN;
    if (opt->clip_norm > 0.0f)
        scale = bn_net_clip_scale(net, grad_sq, opt->clip_norm);
    bn_update u = bn_update_for(opt, scale);
    double weight_sq = 0.0;
    for (int l = L - 1; l >= 0; l--)
        weight_sq += bn_net_update_layer(net, l, &u, opt->weight_decay, want_sq);
    return weight_sq;
}

/* The training forward pass (dropout on), then the loss and the output layer's delta
 * (B, C) = (softmax - onehot) * grad_scale; returns the summed cross-entropy and *right the correct rows. */
double bn_net_forward_loss_delta(bn_net *net, const float *x, const int32_t *labels, int B, float grad_scale,
                                 int *right)
{
    bn_step_build_forward(net, x, labels, B, true);
    net->step->grad_scale = grad_scale;
    bn_step_run(net);
    *right += net->step->correct;
    return net->step->loss;
}

/* Forward, loss, backward and (with opt) the update. *loss_sum receives the summed cross-entropy, *weight_sq
 * ||W||^2 read before the update. */
static int forward_backward_update(bn_net *net, const float *x, const int32_t *labels, int B, const bn_optim *opt,
                                   double *loss_sum, int *correct, double *weight_sq)
{
    int status = bn_net_check_batch(net, B);
    if (!status)
        status = bn_net_check_labels(net, labels, B);
    if (status)
        return status;
    /* 1/B: the gradient of the batch-mean cross-entropy. A loss that is not finite stops the list before the
     * backward pass: the weights stay as they were before this step. */
    bn_step_build_train(net, x, labels, B, 1.0f / (float)B, opt, weight_sq != NULL);
    bn_step_run(net);
    const bn_step *s = net->step;
    *loss_sum = s->loss;
    if (correct)
        *correct = s->correct;
    if (s->bad_loss)
        return bn_fail(BN_E_DIVERGED, "loss became %s", isnan(s->loss) ? "NaN" : "infinite");
    if (weight_sq)
        *weight_sq = s->weight_sq;
    return BN_OK;
}

int bn_net_backprop(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss, int *correct)
{
    double sum = 0.0;
    int status = forward_backward_update(net, x, labels, batch, NULL, &sum, correct, NULL);
    if (loss)
        *loss = sum / batch;
    return status;
}

int bn_net_train_step(bn_net *net, const float *x, const int32_t *labels, int batch, const bn_optim *opt,
                      double *loss, int *correct, double *weight_sqnorm)
{
    double sum = 0.0;
    int status = forward_backward_update(net, x, labels, batch, opt, &sum, correct, weight_sqnorm);
    if (loss)
        *loss = sum / batch;
    return status;
}

int bn_net_train_rows(bn_net *net, const float *x, const int32_t *labels, int rows, const bn_optim *opt,
                      double *loss_sum, int *correct, double *weight_sq)
{
    return forward_backward_update(net, x, labels, rows, opt, loss_sum, correct, weight_sq);
}

void bn_net_attach(bn_net *net, bn_net_attachment *a)
{
    bn_net_attachment *old = net->attached;
    net->attached = NULL;
    if (old && old->release)
        old->release(net, old);
    net->attached = a;
}

bn_net_attachment *bn_net_attached(const bn_net *net)
{
    return net->attached;
}

size_t bn_net_param_floats(const bn_net *net)
{
    return net->param_count;
}

bn_net_blocks bn_net_state_blocks(const bn_net *net)
{
    bn_net_blocks b;
#define GET(name, kind) b.name = net->name;
    BN_NET_BLOCKS(GET)
#undef GET
    return b;
}

void bn_net_bind_blocks(bn_net *net, bn_net_blocks b)
{
#define SET(name, kind) net->name = b.name;
    BN_NET_BLOCKS(SET)
#undef SET
}

void bn_net_set_update_fusion(bn_net *net, bool on)
{
    net->fuse_update = on;
}

void bn_net_set_one_region(bn_net *net, bool on)
{
    net->one_region = on;
}

void bn_net_clear_grad_norm(bn_net *net)
{
    net->grad_norm = NAN;
}

double bn_net_grad_norm(const bn_net *net)
{
    return net->grad_norm;
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

void bn_net_optim_step(bn_net *net, const bn_optim *opt, double *weight_sqnorm)
{
    double grad_sq = 0.0;
    if (opt->clip_norm > 0.0f)
        for (int l = net->arch.depth - 1; l >= 0; l--)
            grad_sq += bn_net_layer_grad_sqnorm(net, l);
    double sq = bn_net_update_all(net, opt, weight_sqnorm != NULL, grad_sq);
    if (weight_sqnorm)
        *weight_sqnorm = sq;
}
