/* bn_net_train_step fuses the SGD update into the backward pass. It must leave weights, momentum and
 * gradients bitwise equal to bn_net_backprop followed by bn_net_optim_step (the elementwise update does the
 * same float operations in the same order, whatever the split), report the same loss, and update nothing
 * when the loss is not finite. */
#include "harness.h"

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
    pa = bn_net_grads(a, &n), pb = bn_net_grads(b, &m);
    return same && memcmp(pa, pb, n * sizeof(float)) == 0;
}

static void compare(const char *backend, const char *sizes, bn_act act, int batch, bn_optim sgd)
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
        CHECK(bn_net_backprop(split, x, labels, rows, &loss_a, &right_a) == BN_OK);
        bn_net_optim_step(split, &sgd, &sq_a);
        CHECK(bn_net_train_step(fused, x, labels, rows, &sgd, &loss_b, &right_b, &sq_b) == BN_OK);
        CHECKF(loss_a == loss_b && right_a == right_b, "%s %s: loss %.9g vs %.9g, correct %d vs %d", backend,
               sizes, loss_a, loss_b, right_a, right_b);
        /* ||W||^2 is summed per layer instead of over the block: the same numbers in another order. */
        CHECK_CLOSE(sq_b, sq_a, 1e-12, 1e-12);
        CHECKF(blocks_equal(split, fused), "%s %s %s step %d: fused update differs from backprop + sgd_step",
               backend, sizes, bn_act_name(act), step);
    }
    bn_net_destroy(&split);
    bn_net_destroy(&fused);
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

int main(void)
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
    }
    bn_set_threads(2);
    compare("blas", "40,300,300,10", BN_ACT_SELU, 64, rules[1]);
    return bn_test_exit("train_step");
}
