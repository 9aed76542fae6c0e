/* The coursework's worked example, reproduced on every backend: x = (1, -1), class 0, a 2-3-2 net with a
 * sigmoid hidden layer and all-ones weights up to sign. Every hidden unit sees z = 2, the two logits are equal,
 * so loss = ln 2, dlogits = (-0.5, 0.5), each row of dW2 = sigmoid(2) * (-0.5, 0.5), and the first layer's
 * gradient vanishes because the rows of W2 have equal entries. */
#include "backend.h"
#include "net.h"
#include "blasnet.h"
#include "harness.h"
#include "ref_mlp.h"

/* The expected values are exact (ln 2, 0.5, 0) or within 5e-7 of the six-digit coursework figures, and the
 * float32 computation is exact to a few ulp of numbers of order 1: 1e-6 holds both. */
#define TOL 1e-6

static void check_backend(const bn_backend *be)
{
    const char *name = bn_backend_name(be);
    bn_arch arch = {.depth = 2, .sizes = {2, 3, 2}, .act = BN_ACT_SIGMOID};
    bn_net *net = NULL;
    int status = bn_net_create(&net, &arch, 1, be);
    CHECKF(status == BN_OK, "%s: bn_net_create: %s", name, bn_errmsg());
    if (status)
        return;
    /* Every parameter is set here, none left to bn_net_init: garbage first, then the example's values. */
    int failures_before = bn_test_failures;
    size_t count;
    float *params = bn_net_params(net, &count);
    for (size_t i = 0; i < count; i++)
        params[i] = 7.0f;
    memset(bn_net_bias(net, 0), 0, 3 * sizeof(float));
    memset(bn_net_bias(net, 1), 0, 2 * sizeof(float));
    static const float W1[2 * 3] = {1, 1, 1, -1, -1, -1};    /* (2,3) */
    static const float W2[3 * 2] = {1, 1, -1, -1, -1, -1};  /* (3,2) */
    memcpy(bn_net_weight(net, 0), W1, sizeof W1);
    memcpy(bn_net_weight(net, 1), W2, sizeof W2);
    const float x[2] = {1.0f, -1.0f};
    const int32_t label = 0;

    /* Leave stale values in the gradients: backprop must overwrite, not accumulate. */
    float *grads = bn_net_grads(net, &count);
    for (size_t i = 0; i < count; i++)
        grads[i] = 123.0f;
    double loss = NAN;
    int correct = -1;
    status = bn_net_backprop(net, x, &label, 1, &loss, &correct);
    CHECKF(status == BN_OK, "%s: bn_net_backprop: %s", name, bn_errmsg());

    const double h = 1.0 / (1.0 + exp(-2.0)); /* sigmoid(2) = 0.880797 */
    CHECK_CLOSE(loss, log(2.0), TOL, 0);
    CHECK(correct == 1); /* equal logits: argmax takes the first, which is the label */
    const float *probs = bn_net_probs(net);
    CHECK_CLOSE(probs[0], 0.5, TOL, 0);
    CHECK_CLOSE(probs[1], 0.5, TOL, 0);
    const float *dW2 = bn_net_dweight(net, 1), *db2 = bn_net_dbias(net, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_CLOSE(dW2[i * 2 + 0], -0.440399, TOL, 0); /* the coursework's figures */
        CHECK_CLOSE(dW2[i * 2 + 1], 0.440399, TOL, 0);
        CHECK_CLOSE(dW2[i * 2 + 0], -0.5 * h, TOL, 0); /* and the exact values */
        CHECK_CLOSE(dW2[i * 2 + 1], 0.5 * h, TOL, 0);
    }
    CHECK_CLOSE(db2[0], -0.5, TOL, 0);
    CHECK_CLOSE(db2[1], 0.5, TOL, 0);
    const float *dW1 = bn_net_dweight(net, 0), *db1 = bn_net_dbias(net, 0);
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(dW1[i], 0.0, TOL, 0);
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(db1[i], 0.0, TOL, 0);

    /* The output gradient directly from the kernel: logits (-h, -h), label 0, scale 1 (batch of one). */
    float P[2] = {(float)-h, (float)-h}, dlogits[2] = {NAN, NAN};
    const float zero_bias[2] = {0.0f, 0.0f};
    int right = 0;
    double xent = be->bias_softmax_xent(dlogits, P, zero_bias, &label, 1, 2, 1.0f, &right);
    CHECK_CLOSE(xent, log(2.0), TOL, 0);
    CHECK_CLOSE(dlogits[0], -0.5, TOL, 0);
    CHECK_CLOSE(dlogits[1], 0.5, TOL, 0);
    CHECK(right == 1);
    if (bn_test_failures > failures_before)
        fprintf(stderr, "(failures above: backend %s)\n", name);
    bn_net_destroy(&net);
}

/* The double reference agrees with the same closed form, so it and the library are checked against one
 * independent answer. */
static void check_reference(void)
{
    bn_arch arch = {.depth = 2, .sizes = {2, 3, 2}, .act = BN_ACT_SIGMOID};
    ref_net r;
    CHECK(ref_net_alloc(&r, &arch, 1, 0.0) == 0);
    if (!r.params)
        return;
    const double W1[6] = {1, 1, 1, -1, -1, -1}, W2[6] = {1, 1, -1, -1, -1, -1}, x[2] = {1, -1};
    memcpy(r.w[0], W1, sizeof W1);
    memcpy(r.w[1], W2, sizeof W2);
    const int32_t label = 0;
    CHECK_CLOSE(ref_net_backprop(&r, x, &label, 1), log(2.0), 1e-15, 0);
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(r.dw[1][i * 2], -0.5 / (1.0 + exp(-2.0)), 1e-15, 0);
    CHECK_CLOSE(r.db[1][0], -0.5, 1e-15, 0);
    CHECK_CLOSE(r.db[1][1], 0.5, 1e-15, 0);
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(r.dw[0][i], 0.0, 1e-15, 0);
    ref_net_free(&r);
}

int main(void)
{
    int backends = 0;
    for (int i = 0; bn_backend_at(i); i++, backends++)
        check_backend(bn_backend_at(i));
    CHECK(backends == 3);
    bn_test_case("the worked example by the double-precision reference", check_reference);
    return bn_test_exit("worked_example");
}
