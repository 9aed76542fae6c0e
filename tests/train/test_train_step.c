/* bn_net_train_step fuses the optimizer update into the backward pass. It must leave weights, both moments
 * and gradients bitwise equal to bn_net_backprop followed by bn_net_optim_step (the elementwise update does
 * the same float operations in the same order, whatever the split), for SGD, Adam and AdamW, with clipping
 * and dropout, report the same loss and gradient norm, and update nothing when the loss is not finite.
 * Clipping itself: the norm is the loss gradient's alone, and a clipped step is the plain step on gradients
 * scaled by hand, the decay term unscaled. */
#include "harness.h"
#include "rng.h"
#include "net.h"
#include "net_plan.h"
#include "step.h"

#include "blasnet.h"

#include <math.h>
#include <string.h>

static void fill(float *x, size_t n, bn_rng *rng, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (float)(2.0 * bn_rng_uniform(rng) - 1.0);
}

static bn_net *make(const char *backend, const char *sizes, bn_act act, int batch, uint64_t seed)
{
    bn_arch arch = {.act = act, .leaky_slope = 0.1f};
    bn_arch_parse_sizes(&arch, sizes);
    bn_net *net = NULL;
    CHECK(bn_net_create(&net, &arch, batch, bn_backend_find(backend)) == BN_OK);
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    bn_net_init(net, BN_INIT_XAVIER, 0.0f, &rng);
    return net;
}

static bool blocks_equal(bn_net *a, bn_net *b)
{
    size_t n, m;
    const float *pa = bn_net_params(a, &n), *pb = bn_net_params(b, &m);
    bool same = n == m && memcmp(pa, pb, n * sizeof(float)) == 0;
    pa = bn_net_velocity(a, &n), pb = bn_net_velocity(b, &m);
    same = same && memcmp(pa, pb, n * sizeof(float)) == 0;
    pa = bn_net_moment2(a, &n), pb = bn_net_moment2(b, &m);
    same = same && memcmp(pa, pb, n * sizeof(float)) == 0;
    pa = bn_net_grads(a, &n), pb = bn_net_grads(b, &m);
    return same && memcmp(pa, pb, n * sizeof(float)) == 0;
}

/* What a compare run adds to the plain case: dropout on the hidden layers (set alike on both networks before
 * every step), and for clipping whether the clip must bite on every step (1), on none (0), or either (-1). */
typedef struct {
    float dropout;
    int clip_active;
} extras;

/* Both networks must report the same pre-clip norm; when the test asked for it, the clip must (not) bite. */
static void check_clip(bn_net *split, bn_net *fused, const bn_optim *opt, int clip_active, int step)
{
    double a = bn_net_grad_norm(split), b = bn_net_grad_norm(fused);
    if (opt->clip_norm <= 0.0f) {
        CHECKF(isnan(a) && isnan(b), "step %d: no clipping but grad norms %g, %g", step, a, b);
        return;
    }
    CHECKF(a == b && isfinite(a), "step %d: grad norm %.17g (split) vs %.17g (fused)", step, a, b);
    if (clip_active >= 0)
        CHECKF((a > opt->clip_norm) == (clip_active == 1), "step %d: grad norm %g against clip %g, want the clip %s",
               step, a, (double)opt->clip_norm, clip_active ? "active" : "inactive");
}

static void compare_with(const char *backend, const char *sizes, bn_act act, int batch, bn_optim sgd, extras ex)
{
    bn_net *split = make(backend, sizes, act, batch, 5), *fused = make(backend, sizes, act, batch, 5);
    const bn_arch *arch = bn_net_arch(split);
    int inputs = arch->sizes[0], classes = arch->sizes[arch->depth];
    bn_rng rng;
    bn_rng_seed(&rng, 11);
    float x[64 * 40];
    int32_t labels[64];
    for (int step = 0; step < 4; step++) {
        int rows = step == 3 ? batch / 2 + 1 : batch; /* a partial batch too */
        fill(x, (size_t)rows * inputs, &rng, 1.0f);
        for (int i = 0; i < rows; i++)
            labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)classes);
        double loss_a = 0, loss_b = 0, sq_a = 0, sq_b = 0;
        int right_a = -1, right_b = -2;
        sgd.t = (uint64_t)step + 1;
        CHECK(bn_net_set_dropout(split, ex.dropout, 77, (uint64_t)step, 3) == BN_OK);
        CHECK(bn_net_set_dropout(fused, ex.dropout, 77, (uint64_t)step, 3) == BN_OK);
        CHECK(bn_net_backprop(split, x, labels, rows, &loss_a, &right_a) == BN_OK);
        bn_net_optim_step(split, &sgd, &sq_a);
        CHECK(bn_net_train_step(fused, x, labels, rows, &sgd, &loss_b, &right_b, &sq_b) == BN_OK);
        check_clip(split, fused, &sgd, ex.clip_active, step);
        CHECKF(loss_a == loss_b && right_a == right_b, "%s %s: loss %.9g vs %.9g, correct %d vs %d", backend,
               sizes, loss_a, loss_b, right_a, right_b);
        /* ||W||^2 is summed per layer instead of over the block: the same numbers in another order. */
        CHECK_CLOSE(sq_b, sq_a, 1e-12, 1e-12);
        CHECKF(blocks_equal(split, fused), "%s %s %s %s (clip %g, dropout %g) step %d: fused update differs from "
               "backprop + optim_step", backend, sizes, bn_act_name(act), bn_optimizer_name(sgd.kind),
               (double)sgd.clip_norm, (double)ex.dropout, step);
    }
    bn_net_destroy(&split);
    bn_net_destroy(&fused);
}

static void compare(const char *backend, const char *sizes, bn_act act, int batch, bn_optim sgd)
{
    compare_with(backend, sizes, act, batch, sgd, (extras){.clip_active = -1});
}

/* A non-finite loss is BN_E_DIVERGED, the one signal every caller checks, and leaves every parameter and
 * momentum value untouched. */
static void nan_updates_nothing(const char *backend)
{
    bn_net *net = make(backend, "5,7,3", BN_ACT_TANH, 4, 9); /* ReLU would turn NaN into 0 */
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    float x[4 * 5];
    fill(x, 20, &rng, 1.0f);
    x[7] = NAN;
    int32_t labels[4] = {0, 1, 2, 1};
    size_t n;
    float before[256], *p = bn_net_params(net, &n);
    CHECK(n <= 256);
    memcpy(before, p, n * sizeof(float));
    double loss = 0;
    bn_optim sgd = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    int status = bn_net_train_step(net, x, labels, 4, &sgd, &loss, NULL, NULL);
    CHECKF(status == BN_E_DIVERGED && strstr(bn_errmsg(), "NaN"), "%s: NaN loss gave status %d (%s)", backend,
           status, bn_errmsg());
    CHECKF(!isfinite(loss), "%s: a NaN input gave a finite loss %g", backend, loss);
    CHECKF(memcmp(before, p, n * sizeof(float)) == 0, "%s: weights changed on a NaN loss", backend);
    const float *v = bn_net_velocity(net, &n);
    bool zero = true;
    for (size_t i = 0; i < n; i++)
        zero = zero && v[i] == 0.0f;
    CHECKF(zero, "%s: momentum changed on a NaN loss", backend);
    bn_net_destroy(&net);
}

/* Adam, AdamW with and without decay, and SGD and Adam with a clip that bites on every step and one that never
 * does, each with and without dropout: fused against split, bit for bit. */
static void optimizers_fused_equal_split(const char *backend)
{
    const bn_optim adam = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    bn_optim rules[7] = {adam, adam, adam, adam};
    rules[1].weight_decay = 0.01f;
    rules[2].kind = BN_OPT_ADAMW;
    rules[3].kind = BN_OPT_ADAMW;
    rules[3].weight_decay = 0.05f;
    rules[4] = (bn_optim){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f, .clip_norm = 1e-3f};
    rules[5] = (bn_optim){.lr = 0.05f, .momentum = 0.9f, .nesterov = true, .clip_norm = 1e6f};
    rules[6] = adam;
    rules[6].weight_decay = 0.01f;
    rules[6].clip_norm = 1e-3f;
    static const int active[7] = {-1, -1, -1, -1, 1, 0, 1};
    static const float dropouts[2] = {0.0f, 0.3f};
    for (int r = 0; r < 7; r++) {
        for (int d = 0; d < 2; d++) {
            extras ex = {.dropout = dropouts[d], .clip_active = active[r]};
            compare_with(backend, "40,17,3", BN_ACT_RELU, 33, rules[r], ex);
            compare_with(backend, "40,31,17,5", BN_ACT_SWISH, 64, rules[r], ex);
            compare_with(backend, "1,3,2", BN_ACT_TANH, 1, rules[r], ex);
        }
    }
}

/* sqrt of the sum of every dW and db squared, summed here in double. */
static double grad_norm_by_hand(bn_net *net)
{
    const bn_arch *arch = bn_net_arch(net);
    double sq = 0.0;
    for (int l = 0; l < arch->depth; l++) {
        const float *dw = bn_net_dweight(net, l), *db = bn_net_dbias(net, l);
        for (size_t i = 0; i < (size_t)arch->sizes[l] * (size_t)arch->sizes[l + 1]; i++)
            sq += (double)dw[i] * dw[i];
        for (int j = 0; j < arch->sizes[l + 1]; j++)
            sq += (double)db[j] * db[j];
    }
    return sqrt(sq);
}

/* bn_net_backprop on a batch drawn from seed. */
static void backprop_batch(bn_net *net, int rows, uint64_t seed)
{
    const bn_arch *arch = bn_net_arch(net);
    float x[16 * 20];
    int32_t labels[16];
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    fill(x, (size_t)rows * (size_t)arch->sizes[0], &rng, 2.0f);
    for (int i = 0; i < rows; i++)
        labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)arch->sizes[arch->depth]);
    CHECK(bn_net_backprop(net, x, labels, rows, NULL, NULL) == BN_OK);
    CHECK(isnan(bn_net_grad_norm(net)));
}

/* Whether block `which` (0 params, 1 velocity, 2 second moment, 3 gradients) of a and b is bitwise the same. */
static bool same_block(bn_net *a, bn_net *b, int which)
{
    float *(*const get[4])(bn_net *, size_t *) = {bn_net_params, bn_net_velocity, bn_net_moment2, bn_net_grads};
    size_t n, m;
    const float *pa = get[which](a, &n), *pb = get[which](b, &m);
    return n == m && memcmp(pa, pb, n * sizeof(float)) == 0;
}

/* A clipped step is the unclipped step on gradients scaled by clip/norm by hand (the decay term, added after,
 * unscaled), the norm is that of the loss gradient alone, and the gradients are left unscaled. Steps 0 and 1
 * clip to a quarter of the norm, step 2 sets the clip above it (no scaling, the norm still reported). */
static void clip_is_scaled_gradient(const char *backend, bn_optim opt)
{
    bn_net *clipped = make(backend, "20,16,9,4", BN_ACT_TANH, 16, 5), *by_hand = make(backend, "20,16,9,4",
                                                                                        BN_ACT_TANH, 16, 5);
    size_t n;
    for (int step = 0; step < 3; step++) {
        backprop_batch(clipped, 16, 100 + (uint64_t)step);
        backprop_batch(by_hand, 16, 100 + (uint64_t)step);
        const double norm = grad_norm_by_hand(clipped);
        opt.t = (uint64_t)step + 1;
        opt.clip_norm = (float)(norm * (step < 2 ? 0.25 : 4.0));
        bn_net_optim_step(clipped, &opt, NULL);
        const double lib = bn_net_grad_norm(clipped);
        CHECK_CLOSE(lib, norm, 0.0, 1e-12);
        CHECKF(same_block(clipped, by_hand, 3), "%s %s step %d: clipping "
               "scaled the gradients in place", backend, bn_optimizer_name(opt.kind), step);
        if (step < 2) {
            const float scale = (float)((double)opt.clip_norm / lib); /* net.c's expression */
            float *g = bn_net_grads(by_hand, &n);
            for (size_t i = 0; i < n; i++)
                g[i] *= scale;
        }
        bn_optim plain = opt;
        plain.clip_norm = 0.0f;
        bn_net_optim_step(by_hand, &plain, NULL);
        CHECK(isnan(bn_net_grad_norm(by_hand)));
        bool same = same_block(clipped, by_hand, 0) && same_block(clipped, by_hand, 1) &&
                    same_block(clipped, by_hand, 2);
        CHECKF(same, "%s %s decay %g step %d: clipped step differs from the step on hand-scaled gradients",
               backend, bn_optimizer_name(opt.kind), (double)opt.weight_decay, step);
    }
    /* A step without clipping after clipped ones reports no norm. */
    float x[20] = {0};
    int32_t label = 1;
    opt.clip_norm = 0.0f;
    CHECK(bn_net_train_step(clipped, x, &label, 1, &opt, NULL, NULL, NULL) == BN_OK);
    CHECK(isnan(bn_net_grad_norm(clipped)));
    bn_net_destroy(&clipped);
    bn_net_destroy(&by_hand);
}

static void clipping_semantics(const char *backend)
{
    const bn_optim rules[] = {
        {.lr = 0.1f, .weight_decay = 0.1f},
        {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f, .nesterov = true},
        {.kind = BN_OPT_ADAM, .lr = 0.01f, .weight_decay = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
        {.kind = BN_OPT_ADAMW, .lr = 0.01f, .weight_decay = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
    };
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
        clip_is_scaled_gradient(backend, rules[r]);
}

/* Whether the network's last step updated some layer inside its dW tiles. */
static bool last_step_fused(const bn_net *net)
{
    for (int i = 0; i < net->step->count; i++)
        if (net->step->op[i].kind == BN_OP_PRODUCT && net->step->op[i].fused)
            return true;
    return false;
}

/* The update inside the dW tiles (issue 25) against the update after the whole product: weights, moments,
 * gradients, loss and count bit for bit, step after step, for every optimizer it serves (no clipping, no
 * ||W||^2 wanted), with dropout, full and partial batches. The fused network must really have fused. */
static void tile_update_equals_split(const char *sizes, bn_act act, int batch, bn_optim opt, float dropout)
{
    bn_net *split = make("blas", sizes, act, batch, 9), *fused = make("blas", sizes, act, batch, 9);
    bn_net_set_update_fusion(split, false);
    const bn_arch *arch = bn_net_arch(split);
    bn_rng rng;
    bn_rng_seed(&rng, 4);
    static float x[64 * 200];
    int32_t labels[64];
    for (int step = 0; step < 4; step++) {
        int rows = step == 2 ? batch / 3 + 1 : batch;
        fill(x, (size_t)rows * arch->sizes[0], &rng, 1.0f);
        for (int i = 0; i < rows; i++)
            labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)arch->sizes[arch->depth]);
        opt.t = (uint64_t)step + 1;
        CHECK(bn_net_set_dropout(split, dropout, 5, (uint64_t)step, 0) == BN_OK);
        CHECK(bn_net_set_dropout(fused, dropout, 5, (uint64_t)step, 0) == BN_OK);
        double loss_a = 0, loss_b = 0;
        int right_a = -1, right_b = -2;
        CHECK(bn_net_train_step(split, x, labels, rows, &opt, &loss_a, &right_a, NULL) == BN_OK);
        CHECK(!last_step_fused(split));
        CHECK(bn_net_train_step(fused, x, labels, rows, &opt, &loss_b, &right_b, NULL) == BN_OK);
        /* layer 0's dW has no dA beside it: it fuses whenever the team runs it, i.e. it is not `library` */
        CHECKF(last_step_fused(fused) || bn_net_plans_use_library(fused), "%s: the step did not update inside any "
               "dW tile", sizes);
        CHECKF(loss_a == loss_b && right_a == right_b, "%s: loss %.17g vs %.17g", sizes, loss_a, loss_b);
        CHECKF(blocks_equal(split, fused), "%s %s %s (dropout %g) step %d: the update inside the dW tiles differs "
               "from the split update", sizes, bn_act_name(act), bn_optimizer_name(opt.kind), (double)dropout, step);
    }
    bn_net_destroy(&split);
    bn_net_destroy(&fused);
}

static void tile_updates(void)
{
    const bn_optim adam = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    bn_optim rules[6] = {{.lr = 0.05f}, {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f},
                         {.lr = 0.02f, .momentum = 0.8f, .nesterov = true}, adam, adam, adam};
    rules[4].kind = BN_OPT_ADAMW;
    rules[4].weight_decay = 0.05f;
    rules[5].weight_decay = 0.01f;
    for (int threads = 1; threads <= 2; threads++) {
        bn_set_threads(threads);
        for (int r = 0; r < 6; r++) {
            tile_update_equals_split("40,17,3", BN_ACT_RELU, 33, rules[r], 0.0f);
            tile_update_equals_split("200,300,300,10", BN_ACT_SWISH, 64, rules[r], 0.2f);
            tile_update_equals_split("1,3,2", BN_ACT_TANH, 1, rules[r], 0.0f);
        }
    }
    bn_set_threads(1);
}

static void all_of_it(void)
{
    static const char *const backends[] = {"blas", "naive", "naive-omp"};
    const bn_optim rules[] = {
        {.lr = 0.05f},
        {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f},
        {.lr = 0.02f, .momentum = 0.8f, .weight_decay = 0.001f, .nesterov = true},
    };
    for (size_t b = 0; b < 3; b++) {
        for (size_t r = 0; r < 3; r++) {
            compare(backends[b], "40,17,3", BN_ACT_RELU, 33, rules[r]);
            compare(backends[b], "40,31,17,5", BN_ACT_SWISH, 64, rules[r]);
            compare(backends[b], "1,3,2", BN_ACT_TANH, 1, rules[r]);
        }
        /* Large enough to cross the kernels' threading threshold at 2 threads. */
        compare(backends[b], "40,300,300,10", BN_ACT_LEAKY_RELU, 64, rules[2]);
        nan_updates_nothing(backends[b]);
        optimizers_fused_equal_split(backends[b]);
        clipping_semantics(backends[b]);
    }
    bn_set_threads(2);
    compare("blas", "40,300,300,10", BN_ACT_SELU, 64, rules[1]);
    const bn_optim adam_clip = {.kind = BN_OPT_ADAMW, .lr = 0.01f, .weight_decay = 0.01f, .beta1 = 0.9f,
                                .beta2 = 0.999f, .eps = 1e-8f, .clip_norm = 1e-3f};
    const extras dropped_and_clipped = {.dropout = 0.2f, .clip_active = 1};
    compare_with("blas", "40,300,300,10", BN_ACT_LEAKY_RELU, 64, adam_clip, dropped_and_clipped);
    clipping_semantics("blas");

}

int main(void)
{
    bn_test_case("the fused step equals backprop + update bit for bit, on every backend "
                 "and optimizer; NaN updates nothing; clipping",
                 all_of_it);
    bn_test_case("the update inside the dW tiles gives the bits of the split update", tile_updates);
    return bn_test_exit("train_step");
}
