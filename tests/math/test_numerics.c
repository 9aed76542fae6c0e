/* Extremes on every backend: activations of +-1e4 (sigmoid(-1e4) is 0, not NaN), logits of +-1e4 giving a
 * finite loss (2e4 for the losing class, not inf) and finite gradients, and softmax rows summing to 1. */
#include "backend.h"
#include "rng.h"
#include "net.h"
#include "blasnet.h"
#include "harness.h"

#include <string.h>

/* Probabilities are float32 and each row sums up to 17 terms, rounded once each: 1e-6 is ~8 ulp of 1. */
#define SUM_TOL 1e-6

static int all_finite(const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

/* The kernels themselves at z = +-1e4 (and a few moderate points), forward and backward. */
static void check_activation_extremes(const bn_backend *be)
{
    const char *name = bn_backend_name(be);
    enum { N = 6 };
    const float z[N] = {-1e4f, 1e4f, -100.0f, 100.0f, -30.0f, 0.0f};
    const float zero[N] = {0};
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        float Y[N], Z[N], dY[N], dZ[N];
        memcpy(Y, z, sizeof Y);
        be->bias_act(Y, Z, zero, 1, N, (bn_act)act, 0.1f, NULL);
        CHECKF(all_finite(Y, N), "%s %s: non-finite activation at +-1e4 (%g, %g)", name, bn_act_name((bn_act)act),
               (double)Y[0], (double)Y[1]);
        for (int i = 0; i < N; i++)
            dY[i] = 1.0f;
        be->act_backward(dZ, dY, Z, Y, 1, N, (bn_act)act, 0.1f, NULL);
        CHECKF(all_finite(dZ, N), "%s %s: non-finite derivative at +-1e4 (%g, %g)", name,
               bn_act_name((bn_act)act), (double)dZ[0], (double)dZ[1]);
        switch ((bn_act)act) {
        case BN_ACT_SIGMOID:
            CHECKF(Y[0] == 0.0f, "%s: sigmoid(-1e4) = %g, want 0", name, (double)Y[0]);
            CHECKF(Y[1] == 1.0f, "%s: sigmoid(1e4) = %g, want 1", name, (double)Y[1]);
            CHECKF(dZ[0] == 0.0f && dZ[1] == 0.0f, "%s: sigmoid'(+-1e4) = %g, %g, want 0", name, (double)dZ[0],
                   (double)dZ[1]);
            break;
        case BN_ACT_TANH:
            CHECK(Y[0] == -1.0f && Y[1] == 1.0f);
            CHECK(dZ[0] == 0.0f && dZ[1] == 0.0f);
            break;
        case BN_ACT_SWISH:
            CHECKF(Y[0] == 0.0f && Y[1] == 1e4f, "%s: swish(+-1e4) = %g, %g", name, (double)Y[0], (double)Y[1]);
            CHECKF(dZ[0] == 0.0f && dZ[1] == 1.0f, "%s: swish'(+-1e4) = %g, %g", name, (double)dZ[0],
                   (double)dZ[1]);
            break;
        case BN_ACT_SELU:
            /* the floor -scale * alpha = -1.7581 and the slope scale * 1e4 */
            CHECK_CLOSE(Y[0], -1.0507009873554805 * 1.6732632423543772, 1e-6, 1e-6);
            CHECK_CLOSE(Y[1], 1.0507009873554805 * 1e4, 0, 1e-6);
            CHECK_CLOSE(dZ[0], 0.0, 1e-6, 0);
            CHECK_CLOSE(dZ[1], 1.0507009873554805, 0, 1e-6);
            break;
        case BN_ACT_RELU:
            CHECK(Y[0] == 0.0f && Y[1] == 1e4f);
            break;
        case BN_ACT_LEAKY_RELU:
            CHECK_CLOSE(Y[0], -1e3, 0, 1e-6);
            CHECK(Y[1] == 1e4f);
            break;
        default: break;
        }
    }
}

/* A 2-3-2 net whose hidden pre-activations are (1e4, -1e4, 1e4) for x = (1, 0), and whose logits are
 * (+1e4, -1e4) when the hidden layer outputs (1, 0, 1): row 0 has the winning label, row 1 the losing one.
 * With sigmoid the loss is exactly (0 + 2e4) / 2; with every other activation it need only be finite. */
static void check_extreme_logits(const bn_backend *be, bn_act act)
{
    const char *name = bn_backend_name(be);
    bn_arch arch = {.depth = 2, .sizes = {2, 3, 2}, .act = act, .leaky_slope = 0.1f};
    bn_net *net = NULL;
    int status = bn_net_create(&net, &arch, 2, be);
    CHECKF(status == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (status)
        return;
    size_t count;
    float *params = bn_net_params(net, &count);
    memset(params, 0, count * sizeof(float));
    static const float W1[2 * 3] = {1e4f, -1e4f, 1e4f, 0, 0, 0};
    static const float W2[3 * 2] = {5e3f, -5e3f, 0, 0, 5e3f, -5e3f};
    memcpy(bn_net_weight(net, 0), W1, sizeof W1);
    memcpy(bn_net_weight(net, 1), W2, sizeof W2);
    const float x[2 * 2] = {1, 0, 1, 0};
    const int32_t labels[2] = {0, 1};
    double loss = NAN;
    status = bn_net_backprop(net, x, labels, 2, &loss, NULL);
    CHECK(status == BN_OK);
    CHECKF(isfinite(loss), "%s %s: loss %g with logits of +-1e4", name, bn_act_name(act), loss);
    if (act == BN_ACT_SIGMOID)
        CHECK_CLOSE(loss, 1e4, 0, 1e-6);
    float *grads = bn_net_grads(net, &count);
    CHECKF(all_finite(grads, count), "%s %s: non-finite gradient with logits of +-1e4", name, bn_act_name(act));
    const float *p = bn_net_probs(net);
    CHECKF(all_finite(p, 4), "%s %s: non-finite probabilities", name, bn_act_name(act));
    if (act == BN_ACT_SIGMOID)
        CHECK(p[0] == 1.0f && p[1] == 0.0f && p[2] == 1.0f && p[3] == 0.0f);

    /* The same through the forward-only path, and through one optimizer step: nothing turns NaN. */
    status = bn_net_forward(net, x, 2);
    CHECK(status == BN_OK);
    for (int i = 0; i < 2; i++)
        CHECK_CLOSE((double)p[2 * i] + p[2 * i + 1], 1.0, SUM_TOL, 0);
    bn_optim sgd = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-4f};
    double sq = NAN;
    bn_net_optim_step(net, &sgd, &sq);
    CHECK(isfinite(sq));
    params = bn_net_params(net, &count);
    CHECKF(all_finite(params, count), "%s %s: non-finite weights after a step", name, bn_act_name(act));
    bn_net_destroy(&net);
}

/* Softmax rows of a random net sum to 1, for ordinary inputs and for inputs 1000x larger (logits of 1e3 and
 * more, where a softmax without the max shift overflows). */
static void check_row_sums(const bn_backend *be, bn_rng *rng)
{
    const char *name = bn_backend_name(be);
    bn_arch arch = {.depth = 2, .sizes = {5, 17, 13}, .act = BN_ACT_RELU};
    bn_net *net = NULL;
    int status = bn_net_create(&net, &arch, 33, be);
    CHECKF(status == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (status)
        return;
    bn_net_init(net, BN_INIT_HE, 0.0f, rng);
    float x[33 * 5];
    const double scales[] = {1.0, 1e3};
    for (size_t s = 0; s < 2; s++) {
        for (int k = 0; k < 33 * 5; k++)
            x[k] = (float)(scales[s] * bn_rng_normal(rng));
        CHECK(bn_net_forward(net, x, 33) == BN_OK);
        const float *p = bn_net_probs(net);
        int bad = 0;
        for (int i = 0; i < 33; i++) {
            double sum = 0.0;
            int in_range = 1;
            for (int j = 0; j < 13; j++) {
                sum += p[i * 13 + j];
                in_range &= p[i * 13 + j] >= 0.0f && p[i * 13 + j] <= 1.0f;
            }
            if (!(fabs(sum - 1.0) <= SUM_TOL && in_range) && bad++ < 3)
                fprintf(stderr, "%s, input scale %g: row %d sums to %.9g\n", name, scales[s], i, sum);
        }
        CHECKF(bad == 0, "%s, input scale %g: %d softmax rows off 1", name, scales[s], bad);
    }
    bn_net_destroy(&net);
}

static void all_of_it(void)
{
    bn_rng rng;
    bn_rng_seed(&rng, 77);
    for (int i = 0; bn_backend_at(i); i++) {
        const bn_backend *be = bn_backend_at(i);
        check_activation_extremes(be);
        for (int act = 0; act < BN_ACT_COUNT; act++)
            check_extreme_logits(be, (bn_act)act);
        check_row_sums(be, &rng);
    }

}

int main(void)
{
    bn_test_case("extreme activations and logits, and softmax rows summing to 1, on every backend", all_of_it);
    return bn_test_exit("numerics");
}
