/* One source of truth for a run's hyperparameters: every field of bn_hparams, set through the public API
 * after every init call, is the one bn_train uses. Each case compares bn_train against the same arithmetic
 * done by hand (bn_net_init, bn_net_train_step) and checks that putting the field back to its default
 * changes the result by far more than the tolerance, so a field that bn_train ignored would fail. */
#include "harness.h"
#include "idx_write.h"
#include "param_diff.h"

#include "blasnet.h"

#include <string.h>

#define ROWS 6
#define COLS 6
#define CLASSES 3
#define SAMPLES 48
#define ARCH "36,10,3"

static uint8_t pixels[SAMPLES * ROWS * COLS], labels[SAMPLES];
static const bn_dataset data = {
    .pixels = pixels, .labels = labels, .n = SAMPLES, .rows = ROWS, .cols = COLS, .dim = ROWS * COLS};

static bn_net *new_net(int max_batch)
{
    bn_arch arch = {.act = BN_ACT_TANH};
    CHECK(bn_arch_parse_sizes(&arch, ARCH) == BN_OK);
    bn_net *net = NULL;
    CHECKF(bn_net_create(&net, &arch, max_batch, bn_backend_find("blas")) == BN_OK, "%s", bn_errmsg());
    return net;
}

/* Largest |a - b| over the weights alone (biases start at zero and are not drawn). */
static double max_weight_diff(bn_net *a, bn_net *b)
{
    const bn_arch *arch = bn_net_arch(a);
    double worst = 0.0;
    for (int l = 0; l < arch->depth; l++) {
        const float *wa = bn_net_weight(a, l), *wb = bn_net_weight(b, l);
        for (size_t i = 0, n = (size_t)arch->sizes[l] * (size_t)arch->sizes[l + 1]; i < n; i++)
            worst = fmax(worst, fabs((double)wa[i] - wb[i]));
    }
    return worst;
}

/* What the callbacks saw. */
typedef struct {
    int epochs_seen;
    size_t steps_per_epoch;
    double lr[4];
} observed;

static void on_progress(void *ctx, const bn_progress *p)
{
    ((observed *)ctx)->steps_per_epoch = p->steps;
}

static void on_epoch(void *ctx, const bn_epoch_stats *s)
{
    observed *o = ctx;
    if (o->epochs_seen < 4)
        o->lr[o->epochs_seen] = s->lr;
    o->epochs_seen++;
}

/* seed, init and init_std, set after bn_train_state_init: with a rate far below the weights' float spacing
 * the update cannot move a weight, so after bn_train the weights are bitwise its initialisation (the biases,
 * which start at zero, do move by about 1e-31). */
static void initialisation_follows_hp(void)
{
    bn_train_state st;
    bn_train_state_init(&st);
    st.hp.seed = 987654321;
    st.hp.init = BN_INIT_NORMAL;
    st.hp.init_std = 0.25f;
    st.hp.opt.lr = 1e-30f;
    st.hp.opt.momentum = 0.0f;
    st.hp.epochs = 1;
    st.hp.batch = 16;
    bn_net *trained = new_net(16), *by_hand = new_net(16), *other_seed = new_net(16);
    CHECKF(bn_train(trained, &data, NULL, NULL, &st) == BN_OK, "%s", bn_errmsg());
    CHECK(bn_train_started(&st));
    bn_rng rng;
    bn_rng_seed(&rng, 987654321);
    bn_net_init(by_hand, BN_INIT_NORMAL, 0.25f, &rng);
    CHECKF(max_weight_diff(trained, by_hand) == 0.0, "weights are not N(0, 0.25^2) from seed 987654321: %g",
           max_weight_diff(trained, by_hand));
    bn_rng_seed(&rng, 1); /* the default seed */
    bn_net_init(other_seed, BN_INIT_NORMAL, 0.25f, &rng);
    CHECK(max_weight_diff(trained, other_seed) > 0.01);
    bn_rng_seed(&rng, 987654321);
    bn_net_init(other_seed, BN_INIT_HE, 0.0f, &rng); /* the default initialisation */
    CHECK(max_weight_diff(trained, other_seed) > 0.01);
    bn_net_destroy(&trained);
    bn_net_destroy(&by_hand);
    bn_net_destroy(&other_seed);
}

/* Two full-batch steps by hand with the given rates: the order of rows is the only difference from bn_train
 * (it shuffles), which moves sums by rounding alone. */
static bn_net *two_steps_by_hand(const bn_hparams *hp)
{
    bn_net *net = new_net(SAMPLES);
    bn_rng rng;
    bn_rng_seed(&rng, hp->seed);
    bn_net_init(net, hp->init, hp->init_std, &rng);
    bn_dataset_gather(&data, NULL, 0, SAMPLES, bn_net_input(net), bn_net_labels(net));
    for (int epoch = 0; epoch < 2; epoch++) {
        bn_optim sgd = hp->opt;
        sgd.lr = (float)(hp->opt.lr * pow(hp->lr_decay, epoch));
        double loss;
        CHECK(bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), SAMPLES, &sgd, &loss, NULL, NULL) ==
              BN_OK);
    }
    return net;
}

/* epochs, batch, lr, momentum, weight decay, nesterov and lr decay, each set after init and each used. */
static void optimisation_follows_hp(void)
{
    bn_train_state st;
    bn_train_state_init(&st);
    const bn_hparams want = {.epochs = 2, .batch = SAMPLES,
                             .opt = {.lr = 0.4f, .momentum = 0.5f, .weight_decay = 0.05f, .nesterov = true},
                             .lr_decay = 0.5f, .seed = 42, .init = BN_INIT_XAVIER, .init_std = 0.01f};
    st.hp = want;
    observed seen = {0};
    const bn_train_hooks hooks = {.on_epoch = on_epoch, .on_progress = on_progress, .progress_every = 1, .ctx = &seen};
    bn_net *trained = new_net(SAMPLES);
    CHECKF(bn_train(trained, &data, NULL, &hooks, &st) == BN_OK, "%s", bn_errmsg());
    CHECK(st.epoch == 2 && seen.epochs_seen == 2);
    CHECKF(seen.steps_per_epoch == 1, "batch %d over %d samples gave %zu steps", SAMPLES, SAMPLES,
           seen.steps_per_epoch);
    CHECK(seen.lr[0] == (double)0.4f && seen.lr[1] == (double)(float)(0.4f * 0.5));
    bn_net *by_hand = two_steps_by_hand(&want);
    const double tol = 1e-5;
    CHECKF(max_param_diff(trained, by_hand) < tol, "bn_train and the same steps by hand differ by %g",
           max_param_diff(trained, by_hand));
    bn_net_destroy(&by_hand);

    /* Each field back at its default must move the result well beyond the tolerance. */
    bn_hparams def;
    bn_hparams_default(&def);
    bn_hparams variants[5] = {want, want, want, want, want};
    variants[0].opt.lr = def.opt.lr;
    variants[1].opt.momentum = def.opt.momentum;
    variants[2].opt.weight_decay = def.opt.weight_decay;
    variants[3].opt.nesterov = def.opt.nesterov;
    variants[4].lr_decay = def.lr_decay;
    static const char *const names[5] = {"lr", "momentum", "weight decay", "nesterov", "lr decay"};
    for (int i = 0; i < 5; i++) {
        bn_net *other = two_steps_by_hand(&variants[i]);
        CHECKF(max_param_diff(trained, other) > 100 * tol, "%s at its default changes the weights by only %g",
               names[i], max_param_diff(trained, other));
        bn_net_destroy(&other);
    }
    bn_net_destroy(&trained);
}

/* A started run keeps its weights: a second bn_train call on a finished state changes nothing. */
static void started_run_keeps_weights(void)
{
    bn_train_state st;
    bn_train_state_init(&st);
    st.hp.epochs = 1;
    st.hp.batch = 16;
    bn_net *net = new_net(16);
    CHECK(bn_train(net, &data, NULL, NULL, &st) == BN_OK);
    size_t n;
    float before[1024];
    const float *p = bn_net_params(net, &n);
    CHECK(n <= 1024);
    memcpy(before, p, n * sizeof *p);
    st.hp.seed = 5; /* what a run is cannot change once it has started: ignored by design */
    CHECK(bn_train(net, &data, NULL, NULL, &st) == BN_OK);
    CHECK(memcmp(before, p, n * sizeof *p) == 0);
    bn_net_destroy(&net);
}

int main(void)
{
    idxw_synth(pixels, labels, SAMPLES, ROWS, COLS, CLASSES, 3);
    bn_test_case("seed, init and init_std set after init are used", initialisation_follows_hp);
    bn_test_case("epochs, batch and every rate set after init are used", optimisation_follows_hp);
    bn_test_case("a started run keeps its weights", started_run_keeps_weights);
    return bn_test_exit("hparams");
}
