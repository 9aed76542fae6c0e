/* Checks the double-precision oracle (ref_mlp.h) before anything is checked against it: activation values at
 * points known in closed form, the loss of nets whose answer is known, and every parameter's gradient against
 * centred finite differences (h = 1e-6) for every activation, depth 1..4 and with and without L2. */
#include "blasnet.h"
#include "rng.h"
#include "harness.h"
#include "ref_mlp.h"

#define FD_H 1e-6
/* Centred differences in double: truncation h^2 |f'''| / 6 ~ 1e-12 and rounding eps |f| / h ~ 1e-10 for
 * losses of order 1, so 1e-8 absolute + 1e-5 relative leaves a wide margin yet catches any wrong derivative
 * (a wrong factor shows up at the 1e-2 relative level or worse). */
#define FD_ABS 1e-8
#define FD_REL 1e-5
/* A perturbation of h moves a pre-activation by at most h * |input| (< 1e-4 here), so units at least this
 * far from z = 0 cannot cross the ReLU / leaky / SELU kink during a difference. */
#define KINK_MARGIN 1e-3

static void check_activation_values(void)
{
    const double s = REF_SELU_SCALE, a = REF_SELU_ALPHA;
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SIGMOID, 0, 0.0), 0.5, 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SIGMOID, 0, 2.0), 0.8807970779778823, 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SIGMOID, 0, -2.0), 0.11920292202211755, 1e-15, 0);
    CHECK(ref_act_fwd(BN_ACT_SIGMOID, 0, -1e4) == 0.0);
    CHECK(ref_act_fwd(BN_ACT_SIGMOID, 0, 1e4) == 1.0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_TANH, 0, 1.0), 0.7615941559557649, 1e-15, 0);
    CHECK(ref_act_fwd(BN_ACT_RELU, 0, -1.5) == 0.0);
    CHECK(ref_act_fwd(BN_ACT_RELU, 0, 1.5) == 1.5);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_LEAKY_RELU, 0.1, -2.0), -0.2, 1e-15, 0);
    CHECK(ref_act_fwd(BN_ACT_LEAKY_RELU, 0.1, 3.0) == 3.0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SWISH, 0, 1.0), 0.7310585786300049, 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SWISH, 0, -1.0), -0.2689414213699951, 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SELU, 0, 1.0), s, 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SELU, 0, -1.0), s * a * (exp(-1.0) - 1.0), 1e-15, 0);
    CHECK_CLOSE(ref_act_fwd(BN_ACT_SELU, 0, -50.0), -s * a, 1e-15, 0); /* the SELU floor, -1.7581 */

    /* Each derivative against a centred difference of its own function, on both sides of 0. */
    const double zs[] = {-7.0, -2.0, -0.5, -0.01, 0.01, 0.5, 2.0, 7.0};
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
            double z = zs[i], slope = 0.07;
            double num = (ref_act_fwd((bn_act)act, slope, z + FD_H) - ref_act_fwd((bn_act)act, slope, z - FD_H)) /
                         (2 * FD_H);
            double ana = ref_act_deriv((bn_act)act, slope, z);
            CHECKF(fabs(num - ana) <= FD_ABS + FD_REL * fabs(ana), "%s'(%g): numeric %.12g, analytic %.12g",
                   bn_act_name((bn_act)act), z, num, ana);
        }
    }
}

/* Losses known without the code under test: zero inputs give logits = b, so the loss is
 * log(sum exp b) - b_y plus the L2 term of whatever the weights hold. */
static void check_known_losses(void)
{
    bn_arch arch = {.depth = 2, .sizes = {3, 4, 5}, .act = BN_ACT_TANH};
    ref_net r;
    CHECK(ref_net_alloc(&r, &arch, 2, 0.5) == 0);
    if (!r.params)
        return;
    double sq = 0.0;
    for (int k = 0; k < 3 * 4; k++) {
        r.w[0][k] = 0.1 * (k - 5);
        sq += r.w[0][k] * r.w[0][k];
    }
    for (int k = 0; k < 4 * 5; k++) {
        r.w[1][k] = 0.05 * (k % 7);
        sq += r.w[1][k] * r.w[1][k];
    }
    /* Hidden biases 0 make tanh(0) = 0, so the output layer sees zeros too: logits = b2. */
    const double b2[5] = {0.0, 1.0, -1.0, 2.0, 0.5};
    memcpy(r.b[1], b2, sizeof b2);
    double x[2 * 3] = {0};
    int32_t labels[2] = {0, 3};
    double lse = 0.0;
    for (int j = 0; j < 5; j++)
        lse += exp(b2[j]);
    lse = log(lse);
    double want = ((lse - b2[0]) + (lse - b2[3])) / 2 + 0.5 * 0.5 * sq;
    CHECK_CLOSE(ref_net_forward(&r, x, labels, 2), want, 1e-14, 1e-14);
    for (int j = 0; j < 5; j++)
        CHECK_CLOSE(r.a[1][j], exp(b2[j] - lse), 1e-15, 1e-14);
    ref_net_free(&r);

    /* Uniform logits over C classes: loss ln C for any label. */
    bn_arch flat = {.depth = 1, .sizes = {2, 7}, .act = BN_ACT_RELU};
    CHECK(ref_net_alloc(&r, &flat, 1, 0.0) == 0);
    if (!r.params)
        return;
    double x1[2] = {0.3, -2.0};
    int32_t y1 = 6;
    CHECK_CLOSE(ref_net_forward(&r, x1, &y1, 1), log(7.0), 1e-15, 1e-15);
    ref_net_free(&r);
}

/* Fills x and the parameters with random values; returns 0 when no hidden unit of a kinked activation sits
 * within KINK_MARGIN of 0 (then the finite differences are meaningful), 1 to ask for another draw. */
static int draw(ref_net *r, double *x, int32_t *labels, int B, bn_rng *rng)
{
    for (int l = 0; l < r->depth; l++) {
        double scale = 1.0 / sqrt((double)r->sizes[l]);
        for (int k = 0; k < r->sizes[l] * r->sizes[l + 1]; k++)
            r->w[l][k] = scale * bn_rng_normal(rng);
        for (int j = 0; j < r->sizes[l + 1]; j++)
            r->b[l][j] = 0.3 * bn_rng_normal(rng);
    }
    for (int k = 0; k < B * r->sizes[0]; k++)
        x[k] = bn_rng_normal(rng);
    for (int i = 0; i < B; i++)
        labels[i] = (int32_t)bn_rng_below(rng, (uint64_t)r->sizes[r->depth]);
    if (!ref_act_has_kink(r->act))
        return 0;
    ref_net_forward(r, x, labels, B);
    return ref_net_min_abs_hidden_z(r, B) < KINK_MARGIN;
}

static void check_finite_differences(void)
{
    static const int shapes[][6] = {
        /* depth, sizes... */
        {1, 3, 2},
        {2, 1, 5, 3},
        {3, 4, 6, 5, 3},
        {4, 3, 5, 4, 3, 4},
    };
    const int batches[] = {1, 7};
    const double lambdas[] = {0.0, 0.03};
    bn_rng rng;
    bn_rng_seed(&rng, 20240501);
    int networks = 0;
    double worst = 0.0;
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                for (size_t li = 0; li < sizeof lambdas / sizeof lambdas[0]; li++) {
                    bn_arch arch = {.depth = shapes[s][0], .act = (bn_act)act, .leaky_slope = 0.1f};
                    for (int l = 0; l <= arch.depth; l++)
                        arch.sizes[l] = shapes[s][1 + l];
                    const int B = batches[bi];
                    ref_net r;
                    double x[7 * 6];
                    int32_t labels[7];
                    if (ref_net_alloc(&r, &arch, B, lambdas[li])) {
                        CHECKF(0, "out of memory");
                        return;
                    }
                    int tries = 0;
                    while (draw(&r, x, labels, B, &rng) && tries < 1000)
                        tries++;
                    CHECKF(tries < 1000, "%s: no draw kept its units off the kink", bn_act_name(arch.act));
                    ref_net_backprop(&r, x, labels, B);
                    int bad = 0;
                    for (size_t k = 0; k < r.count; k++) {
                        double keep = r.params[k];
                        r.params[k] = keep + FD_H;
                        double up = ref_net_forward(&r, x, labels, B);
                        r.params[k] = keep - FD_H;
                        double down = ref_net_forward(&r, x, labels, B);
                        r.params[k] = keep;
                        double num = (up - down) / (2 * FD_H), ana = r.grads[k];
                        double excess = fabs(num - ana) / (FD_ABS + FD_REL * fabs(ana));
                        worst = excess > worst ? excess : worst;
                        if (excess > 1.0 && bad++ < 3)
                            CHECKF(0, "%s depth %d batch %d lambda %g: parameter %zu numeric %.12g analytic %.12g",
                                   bn_act_name(arch.act), arch.depth, B, lambdas[li], k, num, ana);
                    }
                    CHECK(bad == 0);
                    networks++;
                    ref_net_free(&r);
                }
            }
        }
    }
    printf("finite differences: %d networks, worst error %.3g of the tolerance\n", networks, worst);
}

int main(void)
{
    bn_test_case("the reference activations' values", check_activation_values);
    bn_test_case("known losses by hand", check_known_losses);
    bn_test_case("float64 gradients against finite differences", check_finite_differences);
    return bn_test_exit("reference");
}
