/* The library's loss and every gradient against the double-precision oracle (ref_mlp.h), for random small
 * networks: odd widths (1, 3, 17, 31), batch 1 and 33, zero to three hidden layers, every activation, with and
 * without weight decay, on each backend (blas, naive, naive-omp) from the very same float weights. */
#include "blasnet.h"
#include "rng.h"
#include "net.h"
#include "harness.h"
#include "ref_mlp.h"

/* Tolerance, |lib - ref| <= 1e-5 + 1e-4 |ref|. The library runs in float32 (eps 6e-8): each entry is a sum of
 * at most 33 products (batch or width), rounded at every step, then carried through up to three more layers,
 * so the expected error is a few hundred eps of the entry's magnitude, well under 1e-4 relative; the 1e-5
 * absolute term covers entries that are small because their terms cancel (the rounding error then scales with
 * the terms, not with the result). Measured worst case over all configurations: 0.026 of this bound (printed at
 * the end of every run). */
#define GRAD_ABS 1e-5
#define GRAD_REL 1e-4
/* float and double pre-activations differ by ~1e-6 here: a unit this far from 0 lies on the same side of the
 * ReLU / leaky / SELU kink in both, so both take the same branch of the derivative. */
#define KINK_MARGIN 1e-4
#define MAX_B 33

static double worst_ratio;

/* Returns 1 when got is outside the tolerance, printing the first few such entries of a configuration. */
static int compare(const char *what, const char *cfg, int layer, size_t index, double got, double want, int *bad)
{
    double ratio = fabs(got - want) / (GRAD_ABS + GRAD_REL * fabs(want));
    worst_ratio = ratio > worst_ratio ? ratio : worst_ratio;
    if (ratio <= 1.0)
        return 0;
    if ((*bad)++ < 4)
        fprintf(stderr, "%s: %s[%d][%zu] = %.9g, reference %.9g\n", cfg, what, layer, index, got, want);
    return 1;
}

/* Draws weights (He), biases and inputs into the float network and its double copy; returns 1 when a hidden
 * unit of a kinked activation sits too close to 0 (the caller draws again). */
static int draw(bn_net *net, ref_net *r, float *x, double *xd, int32_t *labels, int B, bn_rng *rng)
{
    const bn_arch *arch = bn_net_arch(net);
    bn_net_init(net, BN_INIT_HE, 0.0f, rng);
    for (int l = 0; l < arch->depth; l++) {
        float *w = bn_net_weight(net, l), *b = bn_net_bias(net, l);
        for (int k = 0; k < arch->sizes[l] * arch->sizes[l + 1]; k++)
            r->w[l][k] = w[k];
        for (int j = 0; j < arch->sizes[l + 1]; j++) {
            b[j] = (float)(0.2 * bn_rng_normal(rng));
            r->b[l][j] = b[j];
        }
    }
    for (int k = 0; k < B * arch->sizes[0]; k++) {
        x[k] = (float)bn_rng_normal(rng);
        xd[k] = x[k];
    }
    for (int i = 0; i < B; i++)
        labels[i] = (int32_t)bn_rng_below(rng, (uint64_t)arch->sizes[arch->depth]);
    if (!ref_act_has_kink(arch->act))
        return 0;
    ref_net_forward(r, xd, labels, B);
    return ref_net_min_abs_hidden_z(r, B) < KINK_MARGIN;
}

static void check_config(const bn_arch *arch, int B, double lambda, bn_rng *rng, int *configs)
{
    const char *names[] = {"blas", "naive", "naive-omp"};
    bn_net *net = NULL;
    ref_net r;
    int status = bn_net_create(&net, arch, B, bn_backend_find("naive"));
    CHECKF(status == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (status)
        return;
    if (ref_net_alloc(&r, arch, B, lambda)) {
        CHECKF(0, "out of memory");
        bn_net_destroy(&net);
        return;
    }
    float x[MAX_B * 31];
    double xd[MAX_B * 31];
    int32_t labels[MAX_B];
    int tries = 0;
    while (draw(net, &r, x, xd, labels, B, rng) && tries < 1000)
        tries++;
    CHECKF(tries < 1000, "no draw kept the units off the kink");
    double want_loss = ref_net_backprop(&r, xd, labels, B);

    char cfg[160];
    int len = snprintf(cfg, sizeof cfg, "%s lambda %g batch %d sizes", bn_act_name(arch->act), lambda, B);
    for (int l = 0; l <= arch->depth && len > 0 && (size_t)len < sizeof cfg; l++)
        len += snprintf(cfg + len, sizeof cfg - (size_t)len, " %d", arch->sizes[l]);

    for (size_t bi = 0; bi < sizeof names / sizeof names[0]; bi++) {
        const bn_backend *be = bn_backend_find(names[bi]);
        CHECKF(be != NULL, "backend %s missing", names[bi]);
        if (!be)
            continue;
        bn_net_set_backend(net, be);
        char where[200];
        snprintf(where, sizeof where, "%s, %s", names[bi], cfg);
        double loss = NAN;
        int correct = -1;
        status = bn_net_backprop(net, x, labels, B, &loss, &correct);
        CHECKF(status == BN_OK, "%s: bn_net_backprop: %s", where, bn_errmsg());
        CHECK(correct >= 0 && correct <= B);
        if (lambda > 0) {
            bn_net_add_decay_grad(net, (float)lambda);
            loss += 0.5 * lambda * bn_net_weight_sqnorm(net);
        }
        int bad = 0;
        compare("loss", where, 0, 0, loss, want_loss, &bad);
        const int L = arch->depth, C = arch->sizes[L];
        const float *probs = bn_net_probs(net);
        for (size_t k = 0; k < (size_t)B * C; k++)
            compare("probs", where, L - 1, k, probs[k], r.a[L - 1][k], &bad);
        for (int l = 0; l < L; l++) {
            const float *dw = bn_net_dweight(net, l), *db = bn_net_dbias(net, l);
            for (size_t k = 0; k < (size_t)arch->sizes[l] * arch->sizes[l + 1]; k++)
                compare("dW", where, l, k, dw[k], r.dw[l][k], &bad);
            for (size_t k = 0; k < (size_t)arch->sizes[l + 1]; k++)
                compare("db", where, l, k, db[k], r.db[l][k], &bad);
        }
        CHECKF(bad == 0, "%s: %d entries outside the tolerance", where, bad);
        (*configs)++;
    }
    ref_net_free(&r);
    bn_net_destroy(&net);
}

static void all_of_it(void)
{
    static const int widths[] = {1, 3, 17, 31};
    static const int classes[] = {2, 3, 17};
    static const int batches[] = {1, MAX_B};
    static const double lambdas[] = {0.0, 0.01};
    bn_rng rng;
    bn_rng_seed(&rng, 5);
    int configs = 0, step = 0;
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        for (int hidden = 0; hidden <= 3; hidden++) {
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                for (size_t li = 0; li < sizeof lambdas / sizeof lambdas[0]; li++) {
                    bn_arch arch = {.depth = hidden + 1, .act = (bn_act)act, .leaky_slope = 0.1f};
                    /* Cycle through the widths so every one appears at every position over the loop, the
                     * width-1 input and width-1 hidden layers included. */
                    for (int l = 0; l < arch.depth; l++)
                        arch.sizes[l] = widths[(step + l) % 4];
                    arch.sizes[arch.depth] = classes[step % 3];
                    step++;
                    check_config(&arch, batches[bi], lambdas[li], &rng, &configs);
                }
            }
        }
    }
    printf("%d backend x network configurations, worst error %.3g of the tolerance\n", configs, worst_ratio);

}

int main(void)
{
    bn_test_case("every backend's loss and gradients against the float64 reference, "
                 "over every activation, depth, width, batch and lambda",
                 all_of_it);
    return bn_test_exit("gradients");
}
