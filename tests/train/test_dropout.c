/* Dropout (bn_net_set_dropout): the share of hidden units dropped is p, survivors are scaled by 1/(1-p) in the
 * forward and the backward pass, the mask is the same on 1 and 2 threads, for any split of a batch's rows
 * (first_row), and on every backend, it changes with the step, evaluation never drops, and the gradients of a
 * pass with dropout are those of its loss (central differences of a double-precision oracle that applies the
 * same masks).
 *
 * The masks are read through the public API: in the mask network every input row is one-hot (row r of the
 * batch is e_{first+r}), so row first+r of dW0 is that row's hidden delta, which is zero exactly where a unit
 * was dropped; with W0 = 0, b0 = 1 and ReLU every hidden unit outputs 1 (times the dropout scale) and its
 * delta is never zero otherwise. */
#include "harness.h"
#include "rng.h"
#include "net.h"
#include "idx_write.h"
#include "ref_mlp.h"

#include "blasnet.h"
#include "dropout.h" /* the documented hash, for the gradient check's oracle only */

#include <omp.h>
#include <stdint.h>
#include <string.h>

#define MB 64  /* mask network: batch rows (and one-hot inputs) */
#define MH 512 /* mask network: hidden units; MB * MH reaches the kernels' threading threshold */

/* The mask network: MB inputs, MH ReLU units, 2 classes; W0 = 0, b0 = 1, W1[j][0] = 1/MH, the rest 0. */
static bn_net *mask_net(const char *backend)
{
    bn_arch arch = {.depth = 2, .sizes = {MB, MH, 2}, .act = BN_ACT_RELU};
    bn_net *net = NULL;
    CHECKF(bn_net_create(&net, &arch, MB, bn_backend_find(backend)) == BN_OK, "%s", bn_errmsg());
    if (!net)
        return NULL;
    float *b0 = bn_net_bias(net, 0), *w1 = bn_net_weight(net, 1);
    for (int j = 0; j < MH; j++) {
        b0[j] = 1.0f;
        w1[2 * j] = 1.0f / MH;
    }
    return net;
}

/* A training pass over batch rows that are the one-hot inputs e_lo .. e_{hi-1}, as global rows first_row...;
 * keep[r * MH + j] (r in [lo, hi)) receives whether unit j of that row survived, logit0[r] (when not NULL)
 * the output logit difference log(p0 / p1) the pass computed. Also checks the survivors' backward scale. */
static void read_mask(bn_net *net, float p, uint64_t seed, uint64_t step, int lo, int hi, uint64_t first_row,
                      uint8_t *keep, double *logit0)
{
    static float x[MB * MB];
    int32_t labels[MB];
    const int rows = hi - lo;
    memset(x, 0, sizeof x);
    for (int i = 0; i < rows; i++) {
        x[i * MB + lo + i] = 1.0f;
        labels[i] = 1;
    }
    CHECK(bn_net_set_dropout(net, p, seed, step, first_row) == BN_OK);
    CHECK(bn_net_backprop(net, x, labels, rows, NULL, NULL) == BN_OK);
    const float *dw0 = bn_net_dweight(net, 0), *probs = bn_net_probs(net);
    const double scale = (float)(1.0 / (1.0 - p));
    int bad = 0;
    for (int i = 0; i < rows; i++) {
        const int r = lo + i;
        const double p0 = probs[2 * i], p1 = probs[2 * i + 1];
        /* a survivor's delta: dL/dlogit0 (p0 / rows) through W1 (1/MH), times the scale; ReLU' = 1 */
        const double want = p0 / rows / MH * scale;
        for (int j = 0; j < MH; j++) {
            const float d = dw0[(size_t)r * MH + j];
            keep[r * MH + j] = d != 0.0f;
            bad += d != 0.0f && fabs(d - want) > 1e-5 * want;
        }
        if (logit0)
            logit0[r] = log(p0 / p1);
    }
    CHECKF(bad == 0, "p %g: %d survivors' deltas are not scaled by 1/(1-p)", (double)p, bad);
}

static int count_kept(const uint8_t *keep, int lo, int hi)
{
    int n = 0;
    for (int i = lo * MH; i < hi * MH; i++)
        n += keep[i];
    return n;
}

/* The share dropped lies within 5 binomial standard deviations of p, and each row's output logit is
 * kept units x 1/(1-p) / MH: survivors are scaled in the forward pass. */
static void fraction_and_scale(void)
{
    static const float ps[] = {0.0f, 0.1f, 0.3f, 0.5f, 0.8f};
    static uint8_t keep[MB * MH];
    double logit0[MB];
    bn_net *net = mask_net("blas");
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const double p = ps[k], n = (double)MB * MH;
        read_mask(net, ps[k], 9, 4, 0, MB, 0, keep, logit0);
        const double dropped = n - count_kept(keep, 0, MB), sigma = sqrt(n * p * (1.0 - p));
        CHECKF(fabs(dropped - p * n) <= 5.0 * sigma + 0.5, "p %g: %.0f of %.0f units dropped, %.1f sigma off", p,
               dropped, n, fabs(dropped - p * n) / (sigma > 0 ? sigma : 1));
        const double scale = (float)(1.0 / (1.0 - p));
        int bad = 0;
        for (int r = 0; r < MB; r++)
            bad += fabs(logit0[r] - count_kept(keep, r, r + 1) * scale / MH) > 1e-5;
        CHECKF(bad == 0, "p %g: %d rows' outputs are not (kept units) x 1/(1-p) / %d", p, bad, MH);
    }
    bn_net_destroy(&net);
}

static int differing(const uint8_t *a, const uint8_t *b, int lo, int hi)
{
    int n = 0;
    for (int i = lo * MH; i < hi * MH; i++)
        n += a[i] != b[i];
    return n;
}

/* Rows [k, MB) of a batch drawn as global rows 0.. get the masks of a batch of those rows alone drawn with
 * first_row k; the mask is the same at 1 and 2 threads and on every backend; another step, seed or row offset
 * gives another mask, in about 2p(1-p) of the units. */
static void mask_is_a_function_of_its_key(void)
{
    static uint8_t full[MB * MH], part[MB * MH], other[MB * MH];
    double logit_full[MB], logit_part[MB];
    const float p = 0.3f;
    bn_net *net = mask_net("blas");
    read_mask(net, p, 21, 7, 0, MB, 0, full, logit_full);
    static const int splits[] = {1, 17, 40, MB - 1};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        const int k = splits[s];
        read_mask(net, p, 21, 7, k, MB, (uint64_t)k, part, logit_part);
        CHECKF(differing(full, part, k, MB) == 0, "rows %d.. alone with first_row %d: %d units' masks differ", k, k,
               differing(full, part, k, MB));
        /* the masks must agree exactly; the logits only to rounding, since a GEMM engine may block a batch of
         * other rows differently (oneDNN does: 4e-6 on a logit of 1.04) */
        for (int r = k; r < MB; r++)
            CHECK_CLOSE(logit_part[r], logit_full[r], 1e-6, 1e-5);
    }
    bn_set_threads(2);
    CHECK(omp_get_max_threads() == 2);
    read_mask(net, p, 21, 7, 0, MB, 0, part, NULL);
    CHECKF(differing(full, part, 0, MB) == 0, "2 threads: %d units' masks differ", differing(full, part, 0, MB));
    bn_set_threads(1);
    static const char *const backends[] = {"naive", "naive-omp"};
    for (int b = 0; b < 2; b++) {
        bn_net *other_backend = mask_net(backends[b]);
        read_mask(other_backend, p, 21, 7, 0, MB, 0, part, NULL);
        CHECKF(differing(full, part, 0, MB) == 0, "%s: %d units' masks differ from blas's", backends[b],
               differing(full, part, 0, MB));
        bn_net_destroy(&other_backend);
    }
    const int expect = (int)(2.0 * p * (1.0 - p) * MB * MH);
    static const uint64_t keys[3][3] = {{21, 8, 0}, {22, 7, 0}, {21, 7, 1}}; /* seed, step, first row */
    for (int k = 0; k < 3; k++) {
        read_mask(net, p, keys[k][0], keys[k][1], 0, MB, keys[k][2], other, NULL);
        CHECKF(differing(full, other, 0, MB) > expect / 2, "seed %d step %d first_row %d against seed 21 step 7 "
               "first_row 0: only %d units differ", (int)keys[k][0], (int)keys[k][1], (int)keys[k][2],
               differing(full, other, 0, MB));
    }
    bn_net_destroy(&net);
}

/* ---- whole networks ------------------------------------------------------------------------------------- */

static void fill(float *x, size_t n, bn_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * bn_rng_uniform(rng) - 1.0);
}

/* A batch: x (rows, n / rows) uniform in [-1, 1), then rows labels below classes, from seed. */
static void random_batch(float *x, size_t n, int32_t *labels, int rows, int classes, uint64_t seed)
{
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    fill(x, n, &rng);
    for (int i = 0; i < rows; i++)
        labels[i] = (int32_t)bn_rng_below(&rng, (uint64_t)classes);
}

static bn_net *random_net(const char *backend, const char *sizes, bn_act act, int batch)
{
    bn_arch arch = {.act = act, .leaky_slope = 0.1f};
    CHECK(bn_arch_parse_sizes(&arch, sizes) == BN_OK);
    bn_net *net = NULL;
    CHECKF(bn_net_create(&net, &arch, batch, bn_backend_find(backend)) == BN_OK, "%s", bn_errmsg());
    if (!net)
        return NULL;
    bn_rng rng;
    bn_rng_seed(&rng, 17);
    bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
    for (int l = 0; l < arch.depth; l++)
        for (int j = 0; j < arch.sizes[l + 1]; j++)
            bn_net_bias(net, l)[j] = (float)(0.1 * bn_rng_normal(&rng));
    return net;
}

/* A copy of a pass's probabilities and gradients. */
typedef struct {
    float probs[64 * 10];
    float *grads;
    size_t count;
    double loss;
} pass;

static pass train_pass(bn_net *net, const float *x, const int32_t *labels, int rows)
{
    pass out = {0};
    CHECK(bn_net_set_dropout(net, 0.25f, 5, 11, 128) == BN_OK);
    CHECK(bn_net_backprop(net, x, labels, rows, &out.loss, NULL) == BN_OK);
    const bn_arch *arch = bn_net_arch(net);
    memcpy(out.probs, bn_net_probs(net), (size_t)rows * arch->sizes[arch->depth] * sizeof(float));
    const float *g = bn_net_grads(net, &out.count);
    out.grads = malloc(out.count * sizeof(float));
    if (out.grads)
        memcpy(out.grads, g, out.count * sizeof(float));
    return out;
}

/* Largest |a - b| / (1e-5 + 1e-4 |b|) over probabilities and gradients: <= 1 within test_gradients' bound. */
static double pass_distance(const pass *a, const pass *b, size_t probs)
{
    double worst = a->count == b->count && a->grads && b->grads ? 0.0 : INFINITY;
    for (size_t i = 0; i < probs; i++)
        worst = fmax(worst, fabs((double)a->probs[i] - b->probs[i]) / (1e-5 + 1e-4 * fabs(b->probs[i])));
    for (size_t i = 0; i < a->count && a->count == b->count && a->grads && b->grads; i++)
        worst = fmax(worst, fabs((double)a->grads[i] - b->grads[i]) / (1e-5 + 1e-4 * fabs(b->grads[i])));
    return worst;
}

/* With every product one serial call (BN_PLAN_ONE, so the GEMM's bits cannot depend on the team), a pass
 * with dropout is bitwise the same at 1 and 2 threads: the elementwise kernels split rows and each row's mask
 * is its own. The hidden layer is 64 x 512, above the kernels' threading threshold. */
static void same_bits_on_two_threads(void)
{
    static const bn_act acts[] = {BN_ACT_RELU, BN_ACT_SIGMOID, BN_ACT_SWISH};
    static float x[64 * 100];
    int32_t labels[64];
    random_batch(x, sizeof x / sizeof x[0], labels, 64, 10, 2);
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        bn_set_threads(1);
        bn_net *net = random_net("blas", "100,512,256,10", acts[a], 64);
        CHECK(bn_net_plan(net, BN_PLAN_ONE, 0) == BN_OK);
        pass one = train_pass(net, x, labels, 64);
        bn_set_threads(2);
        pass two = train_pass(net, x, labels, 64);
        bool same = one.grads && two.grads && one.count == two.count &&
                    memcmp(one.grads, two.grads, one.count * sizeof(float)) == 0 &&
                    memcmp(one.probs, two.probs, 64 * 10 * sizeof(float)) == 0;
        CHECKF(same, "%s: a pass with dropout differs between 1 and 2 threads", bn_act_name(acts[a]));
        CHECK_CLOSE(two.loss, one.loss, 0.0, 1e-12); /* the loss is summed per thread: rounding may differ */
        free(one.grads);
        free(two.grads);
        bn_net_destroy(&net);
    }
    bn_set_threads(1);
}

/* naive and naive-omp drop the same units as blas and agree with it within rounding (their products sum in
 * another order); without dropout the same pass is far off, so the comparison can fail. */
static void backends_agree(void)
{
    static float x[33 * 30];
    int32_t labels[33];
    random_batch(x, sizeof x / sizeof x[0], labels, 33, 5, 4);
    bn_net *blas = random_net("blas", "30,64,48,5", BN_ACT_TANH, 33);
    pass want = train_pass(blas, x, labels, 33);
    static const char *const names[] = {"naive", "naive-omp"};
    for (int b = 0; b < 2; b++) {
        bn_net *net = random_net(names[b], "30,64,48,5", BN_ACT_TANH, 33);
        pass got = train_pass(net, x, labels, 33);
        CHECKF(pass_distance(&got, &want, 33 * 5) <= 1.0, "%s vs blas under dropout: %.3g of the tolerance",
               names[b], pass_distance(&got, &want, 33 * 5));
        CHECK_CLOSE(got.loss, want.loss, 1e-6, 1e-5);
        free(got.grads);
        bn_net_destroy(&net);
    }
    CHECK(bn_net_set_dropout(blas, 0.0f, 0, 0, 0) == BN_OK);
    pass plain = want;
    CHECK(bn_net_backprop(blas, x, labels, 33, NULL, NULL) == BN_OK);
    memcpy(plain.probs, bn_net_probs(blas), 33 * 5 * sizeof(float));
    CHECK(pass_distance(&plain, &want, 33 * 5) > 100.0);
    free(want.grads);
    bn_net_destroy(&blas);
}

#define EVAL_N 100

/* bn_net_forward and bn_evaluate never drop, whatever bn_net_set_dropout said; a training pass with the
 * same setting does (the positive control). */
static void evaluation_never_drops(void)
{
    static uint8_t pixels[EVAL_N * 64], label_bytes[EVAL_N];
    idxw_synth(pixels, label_bytes, EVAL_N, 8, 8, 4, 6);
    const bn_dataset ds = {.pixels = pixels, .labels = label_bytes, .n = EVAL_N, .rows = 8, .cols = 8, .dim = 64};
    bn_net *net = random_net("blas", "64,128,4", BN_ACT_RELU, EVAL_N);
    static float x[EVAL_N * 64], plain[EVAL_N * 4], dropped[EVAL_N * 4];
    int32_t labels[EVAL_N];
    bn_dataset_gather(&ds, NULL, 0, EVAL_N, x, labels);
    bn_eval a, b;
    CHECK(bn_net_set_dropout(net, 0.0f, 0, 0, 0) == BN_OK);
    CHECK(bn_evaluate(net, &ds, &a, NULL) == BN_OK);
    CHECK(bn_net_forward(net, x, EVAL_N) == BN_OK);
    memcpy(plain, bn_net_probs(net), sizeof plain);
    CHECK(bn_net_set_dropout(net, 0.5f, 3, 1, 0) == BN_OK);
    CHECK(bn_evaluate(net, &ds, &b, NULL) == BN_OK);
    CHECK(bn_net_forward(net, x, EVAL_N) == BN_OK);
    memcpy(dropped, bn_net_probs(net), sizeof dropped);
    CHECKF(a.loss == b.loss && a.accuracy == b.accuracy, "bn_evaluate with dropout set: loss %.9g vs %.9g", b.loss,
           a.loss);
    CHECKF(memcmp(plain, dropped, sizeof plain) == 0, "bn_net_forward dropped units");
    CHECK(bn_net_backprop(net, x, labels, EVAL_N, NULL, NULL) == BN_OK);
    CHECK(memcmp(plain, bn_net_probs(net), sizeof plain) != 0);
    bn_net_destroy(&net);
}

/* ---- gradient check --------------------------------------------------------------------------------------- */

#define GB 9 /* rows */
#define GW 8 /* widest layer of "5,8,6,3" */
#define GP 0.4f

/* The loss of a pass with dropout, in double: the masks from the documented hash of (seed, step, layer, row,
 * unit), the parameters in the library's block layout (padding included, unused). */
typedef struct {
    const bn_arch *arch;
    size_t w_off[BN_MAX_LAYERS], b_off[BN_MAX_LAYERS];
    double x[GB * GW];
    int32_t labels[GB];
    uint8_t keep[BN_MAX_LAYERS][GB * GW];
    double scale, min_abs_z;
} oracle;

static void oracle_masks(oracle *o, uint64_t seed, uint64_t step, uint64_t first_row)
{
    const bn_arch *a = o->arch;
    o->scale = (float)(1.0 / (1.0 - GP)); /* the float the library scales by */
    for (int l = 0; l < a->depth - 1; l++) {
        bn_dropout d = {.layer_key = bn_dropout_layer_key(seed, step, l), .first_row = first_row};
        d.threshold = (uint32_t)fmin((double)GP * 4294967296.0, 4294967295.0);
        for (int r = 0; r < GB; r++)
            for (int j = 0; j < a->sizes[l + 1]; j++)
                o->keep[l][r * a->sizes[l + 1] + j] =
                    bn_dropout_keeps(bn_dropout_row_key(&d, (uint64_t)r), (uint32_t)j, d.threshold);
    }
}

static double oracle_loss(oracle *o, const double *theta)
{
    const bn_arch *a = o->arch;
    double in[GB * GW], out[GB * GW];
    memcpy(in, o->x, sizeof in);
    for (int l = 0; l < a->depth; l++) {
        const int n_in = a->sizes[l], n_out = a->sizes[l + 1];
        for (int r = 0; r < GB; r++) {
            for (int j = 0; j < n_out; j++) {
                double z = theta[o->b_off[l] + j];
                for (int k = 0; k < n_in; k++)
                    z += in[r * n_in + k] * theta[o->w_off[l] + (size_t)k * n_out + j];
                if (l < a->depth - 1) {
                    o->min_abs_z = fmin(o->min_abs_z, fabs(z));
                    z = o->keep[l][r * n_out + j] ? ref_act_fwd(a->act, a->leaky_slope, z) * o->scale : 0.0;
                }
                out[r * n_out + j] = z;
            }
        }
        memcpy(in, out, sizeof out);
    }
    const int C = a->sizes[a->depth];
    double loss = 0.0;
    for (int r = 0; r < GB; r++) {
        double max = in[r * C], sum = 0.0;
        for (int j = 1; j < C; j++)
            max = fmax(max, in[r * C + j]);
        for (int j = 0; j < C; j++)
            sum += exp(in[r * C + j] - max);
        loss += log(sum) - (in[r * C + o->labels[r]] - max);
    }
    return loss / GB;
}

/* Every gradient of a pass with dropout (p 0.4, two hidden layers) against central differences of the
 * oracle's loss under the same masks, within test_gradients' bound (1e-5 + 1e-4 |want|). */
static void gradients_under_dropout(bn_act act)
{
    bn_net *net = random_net("blas", "5,8,6,3", act, GB);
    oracle o = {.arch = bn_net_arch(net), .min_abs_z = INFINITY};
    for (int l = 0; l < o.arch->depth; l++) {
        o.w_off[l] = bn_net_weight_offset(net, l);
        o.b_off[l] = bn_net_bias_offset(net, l);
    }
    float x[GB * 5];
    bn_rng rng;
    bn_rng_seed(&rng, 8);
    for (int i = 0; i < GB * 5; i++)
        o.x[i] = x[i] = (float)bn_rng_normal(&rng);
    for (int r = 0; r < GB; r++)
        o.labels[r] = (int32_t)bn_rng_below(&rng, 3);
    oracle_masks(&o, 31, 3, 5);
    double loss = 0.0;
    CHECK(bn_net_set_dropout(net, GP, 31, 3, 5) == BN_OK);
    CHECK(bn_net_backprop(net, x, o.labels, GB, &loss, NULL) == BN_OK);
    size_t count;
    const float *params = bn_net_params(net, &count), *grads = bn_net_grads(net, &count);
    double *theta = malloc(count * sizeof *theta);
    for (size_t i = 0; i < count && theta; i++)
        theta[i] = params[i];
    CHECK_CLOSE(loss, oracle_loss(&o, theta), 1e-5, 1e-4);
    CHECKF(o.min_abs_z > 1e-3, "%s: a hidden unit at %g sits on the kink; draw again", bn_act_name(act), o.min_abs_z);
    int bad = 0;
    for (size_t i = 0; i < count && theta; i++) {
        const double h = 1e-6, keep = theta[i];
        theta[i] = keep + h;
        double up = oracle_loss(&o, theta);
        theta[i] = keep - h;
        double fd = (up - oracle_loss(&o, theta)) / (2 * h);
        theta[i] = keep;
        if (fabs(grads[i] - fd) > 1e-5 + 1e-4 * fabs(fd) && bad++ < 4)
            fprintf(stderr, "%s: gradient %zu is %.9g, central difference %.9g\n", bn_act_name(act), i, grads[i], fd);
    }
    CHECKF(bad == 0, "%s: %d gradients disagree with the loss under dropout", bn_act_name(act), bad);
    int dropped = 0;
    for (int j = 0; j < GB * 8; j++)
        dropped += !o.keep[0][j];
    CHECK(dropped > 0 && dropped < GB * 8);
    free(theta);
    bn_net_destroy(&net);
}

static void gradients_match_the_loss(void)
{
    for (int act = 0; act < BN_ACT_COUNT; act++)
        gradients_under_dropout((bn_act)act);
}

int main(void)
{
    bn_test_case("a share p of units is dropped, survivors scaled by 1/(1-p)", fraction_and_scale);
    bn_test_case("the mask is a function of seed, step, layer, global row and unit", mask_is_a_function_of_its_key);
    bn_test_case("a pass with dropout is bitwise the same on 1 and 2 threads", same_bits_on_two_threads);
    bn_test_case("naive backends drop as blas does", backends_agree);
    bn_test_case("evaluation never drops", evaluation_never_drops);
    bn_test_case("gradients under dropout are those of the loss", gradients_match_the_loss);
    return bn_test_exit("dropout");
}
