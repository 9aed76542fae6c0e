/* Learning-rate schedules (bn_schedule_lr): constant with per-epoch decay in the exact bits every blasnet before
 * schedules used, the linear warm-up, the step schedule, cosine from lr to lr_min and onecycle from lr/25 up to
 * lr and down to lr/25e4, each at its ends and monotone in each phase; and bn_train steps at those rates and
 * reports each step's rate through on_progress. */
#include "harness.h"
#include "param_diff.h"
#include "idx_write.h"

#include "blasnet.h"

#include <string.h>

#define MAX_STEPS 200

static bn_hparams recipe(bn_schedule schedule, int epochs)
{
    bn_hparams hp;
    bn_hparams_default(&hp);
    hp.schedule = schedule;
    hp.epochs = epochs;
    hp.opt.lr = 0.1f;
    return hp;
}

static bool same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The rates of every step of a run of hp.epochs epochs of spe steps into lr[]; returns the step count. */
static int rates(const bn_hparams *hp, uint64_t spe, float *lr)
{
    const int total = hp->epochs * (int)spe;
    for (int s = 0; s < total && s < MAX_STEPS; s++)
        lr[s] = bn_schedule_lr(hp, (uint64_t)s, spe);
    return total;
}

/* Steps [from, to] never rise (direction -1) or never fall (+1); returns the first offending step or -1. */
static int first_non_monotone(const float *lr, int from, int to, int direction)
{
    for (int s = from; s < to; s++)
        if (direction * (lr[s + 1] - lr[s]) < 0.0f)
            return s;
    return -1;
}

/* constant: (float)(lr * decay^epoch), bit for bit, the same at every step of an epoch; decay 1 is lr itself. */
static void constant_decays_per_epoch(void)
{
    static const float decays[] = {1.0f, 0.7f, 0.95f};
    float lr[MAX_STEPS];
    for (size_t d = 0; d < sizeof decays / sizeof decays[0]; d++) {
        bn_hparams hp = recipe(BN_SCHED_CONSTANT, 6);
        hp.lr_decay = decays[d];
        int bad = 0, total = rates(&hp, 13, lr);
        for (int s = 0; s < total; s++)
            bad += !same_bits(lr[s], (float)(hp.opt.lr * pow(hp.lr_decay, (double)(s / 13))));
        CHECKF(bad == 0, "decay %g: %d of %d steps are not (float)(lr * decay^epoch)", (double)decays[d], bad, total);
    }
}

/* step: lr * decay^(epoch / step_epochs); step_epochs 0 means 1. */
static void step_decays_every_period(void)
{
    float lr[MAX_STEPS], every[MAX_STEPS];
    bn_hparams hp = recipe(BN_SCHED_STEP, 10);
    hp.lr_decay = 0.5f;
    hp.step_epochs = 3;
    int bad = 0, total = rates(&hp, 5, lr);
    for (int s = 0; s < total; s++)
        bad += !same_bits(lr[s], (float)(hp.opt.lr * pow(0.5, (double)(s / 5 / 3))));
    CHECKF(bad == 0, "step schedule, period 3: %d of %d steps off", bad, total);
    CHECK(same_bits(lr[14], 0.1f) && same_bits(lr[15], 0.05f) && same_bits(lr[45], 0.0125f));
    hp.step_epochs = 0;
    rates(&hp, 5, lr);
    hp.step_epochs = 1;
    rates(&hp, 5, every);
    CHECK(memcmp(lr, every, (size_t)total * sizeof(float)) == 0);
    CHECK(same_bits(every[5], 0.05f));
}

/* Every schedule but onecycle rises linearly from lr/W over the first W steps to the value it has there: step
 * s of the warm-up is (s + 1) / W of it. */
static void warmup_is_linear(void)
{
    static const bn_schedule schedules[] = {BN_SCHED_CONSTANT, BN_SCHED_STEP, BN_SCHED_COSINE};
    float lr[MAX_STEPS], plain[MAX_STEPS];
    for (size_t k = 0; k < sizeof schedules / sizeof schedules[0]; k++) {
        bn_hparams hp = recipe(schedules[k], 8);
        hp.lr_decay = 0.5f;
        hp.lr_min = 0.001f;
        rates(&hp, 4, plain);
        hp.warmup_steps = 10; /* across the first epoch boundaries */
        int total = rates(&hp, 4, lr);
        CHECK_CLOSE(lr[0], hp.opt.lr / 10.0, 0.0, 1e-6);
        for (int s = 0; s < 10; s++) {
            /* cosine holds lr through the warm-up; the others decay under it */
            double under = schedules[k] == BN_SCHED_COSINE ? hp.opt.lr : plain[s];
            CHECK_CLOSE(lr[s], under * (s + 1) / 10.0, 0.0, 1e-6);
        }
        if (schedules[k] != BN_SCHED_COSINE) {
            CHECK(memcmp(lr + 10, plain + 10, (size_t)(total - 10) * sizeof(float)) == 0);
            CHECK(first_non_monotone(lr, 0, 3, 1) == -1);
        } else {
            CHECK(first_non_monotone(lr, 0, 10, 1) == -1);
        }
    }
}

/* cosine: lr at the first step after the warm-up, lr_min at the last step, never rising in between, and half a
 * cosine between them. */
static void cosine_ends_at_lr_min(void)
{
    float lr[MAX_STEPS];
    static const uint64_t warmups[] = {0, 5};
    for (size_t w = 0; w < 2; w++) {
        bn_hparams hp = recipe(BN_SCHED_COSINE, 5);
        hp.lr_min = 0.001f;
        hp.warmup_steps = warmups[w];
        int total = rates(&hp, 10, lr), first = (int)warmups[w];
        CHECK_CLOSE(lr[first], 0.1, 0.0, 1e-7);
        CHECK_CLOSE(lr[total - 1], 0.001, 0.0, 1e-6);
        const int mid = (first + total - 1) / 2; /* half a cosine over the steps first .. total-1 */
        const double progress = (double)(mid - first) / (total - 1 - first);
        CHECK_CLOSE(lr[mid], 0.001 + (0.1 - 0.001) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress)), 0.0, 1e-6);
        int bad = first_non_monotone(lr, first, total - 1, -1);
        CHECKF(bad == -1, "cosine, warm-up %d: the rate rises at step %d", first, bad);
        CHECK(lr[first + 1] < lr[first] && lr[total - 1] < lr[total - 2]);
    }
    bn_hparams hp = recipe(BN_SCHED_COSINE, 5); /* lr_min 0: down to zero */
    int total = rates(&hp, 10, lr);
    CHECK_CLOSE(lr[total - 1], 0.0, 1e-12, 0.0);
}

/* onecycle: lr/25 at step 0, linearly up to lr at the end of the rise (30% of the run, or warmup_steps),
 * down along a cosine to lr/25e4 at the last step. */
static void onecycle_rises_then_falls(void)
{
    float lr[MAX_STEPS];
    static const uint64_t warmups[] = {0, 10};
    for (size_t w = 0; w < 2; w++) {
        bn_hparams hp = recipe(BN_SCHED_ONECYCLE, 10);
        hp.warmup_steps = warmups[w];
        int total = rates(&hp, 10, lr), rise = warmups[w] ? (int)warmups[w] : 30;
        CHECK_CLOSE(lr[0], 0.1 / 25, 0.0, 1e-6);
        CHECK_CLOSE(lr[rise], 0.1, 0.0, 1e-7);
        CHECK_CLOSE(lr[total - 1], 0.1 / 25e4, 0.0, 1e-6);
        for (int s = 0; s < rise; s++)
            CHECK_CLOSE(lr[s], 0.1 / 25 + (0.1 - 0.1 / 25) * s / rise, 0.0, 1e-6);
        int up = first_non_monotone(lr, 0, rise, 1), down = first_non_monotone(lr, rise, total - 1, -1);
        CHECKF(up == -1 && down == -1, "onecycle, rise %d: not monotone at step %d (rise) or %d (fall)", rise, up,
               down);
        for (int s = 0; s < total; s++)
            CHECKF(lr[s] <= lr[rise], "onecycle: step %d (%g) above the peak at %d", s, (double)lr[s], rise);
    }
}

/* ---- bn_train ------------------------------------------------------------------------------------------- */

#define ROWS 6
#define COLS 6
#define CLASSES 3
#define SAMPLES 48

static uint8_t pixels[SAMPLES * ROWS * COLS], labels[SAMPLES];
static const bn_dataset data = {
    .pixels = pixels, .labels = labels, .n = SAMPLES, .rows = ROWS, .cols = COLS, .dim = ROWS * COLS};

static bn_net *new_net(int max_batch)
{
    bn_arch arch = {.act = BN_ACT_TANH};
    CHECK(bn_arch_parse_sizes(&arch, "36,10,3") == BN_OK);
    bn_net *net = NULL;
    CHECKF(bn_net_create(&net, &arch, max_batch, bn_backend_find("blas")) == BN_OK, "%s", bn_errmsg());
    return net;
}

typedef struct {
    double lr[MAX_STEPS];
    int reports;
    double epoch_lr[8];
    int epochs;
} observed;

static void on_progress(void *ctx, const bn_progress *p)
{
    observed *o = ctx;
    if (p->global_step >= 1 && p->global_step <= MAX_STEPS)
        o->lr[p->global_step - 1] = p->lr;
    o->reports++;
}

static void on_epoch(void *ctx, const bn_epoch_stats *s)
{
    observed *o = ctx;
    if (o->epochs < 8)
        o->epoch_lr[o->epochs] = s->lr;
    o->epochs++;
}

/* Every step's reported rate is bn_schedule_lr of its global step, and each epoch's is its last step's. */
static void train_reports_each_rate(void)
{
    for (int k = 0; k < BN_SCHED_COUNT; k++) {
        bn_train_state st;
        bn_train_state_init(&st);
        st.hp.schedule = (bn_schedule)k;
        st.hp.epochs = 4;
        st.hp.batch = 10; /* 48 samples: 4 full steps and a partial one */
        st.hp.opt.lr = 0.2f;
        st.hp.lr_decay = 0.8f;
        st.hp.lr_min = 0.01f;
        st.hp.warmup_steps = k == BN_SCHED_ONECYCLE ? 0 : 3;
        observed seen = {0};
        const bn_train_hooks hooks = {.progress_every = 1, .on_progress = on_progress, .on_epoch = on_epoch,
                                      .ctx = &seen};
        bn_net *net = new_net(10);
        CHECKF(bn_train(net, &data, NULL, &hooks, &st) == BN_OK, "%s", bn_errmsg());
        CHECK(seen.reports == 20 && seen.epochs == 4);
        int bad = 0;
        for (int g = 0; g < 20; g++)
            bad += seen.lr[g] != (double)bn_schedule_lr(&st.hp, (uint64_t)g, 5);
        CHECKF(bad == 0, "%s: %d of 20 reported rates are not bn_schedule_lr's", bn_schedule_name(st.hp.schedule),
               bad);
        for (int e = 0; e < 4; e++)
            CHECK(seen.epoch_lr[e] == seen.lr[5 * e + 4]);
        bn_net_destroy(&net);
    }
}

/* The full batch, one step an epoch, by hand at the rates of bn_schedule_lr: within rounding of bn_train
 * (which shuffles the rows, so sums run in another order), and far from the same steps at the peak rate. */
static bn_net *steps_by_hand(const bn_hparams *hp, bool scheduled)
{
    bn_net *net = new_net(SAMPLES);
    bn_rng rng;
    bn_rng_seed(&rng, hp->seed);
    bn_net_init(net, hp->init, hp->init_std, &rng);
    bn_dataset_gather(&data, NULL, 0, SAMPLES, bn_net_input(net), bn_net_labels(net));
    for (int g = 0; g < hp->epochs; g++) {
        bn_optim opt = hp->opt;
        opt.lr = scheduled ? bn_schedule_lr(hp, (uint64_t)g, 1) : hp->opt.lr;
        opt.t = (uint64_t)g + 1;
        CHECK(bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), SAMPLES, &opt, NULL, NULL, NULL) ==
              BN_OK);
    }
    return net;
}

static void train_steps_at_each_rate(void)
{
    static const bn_schedule schedules[] = {BN_SCHED_COSINE, BN_SCHED_ONECYCLE};
    for (int k = 0; k < 2; k++) {
        bn_train_state st;
        bn_train_state_init(&st);
        st.hp.schedule = schedules[k];
        st.hp.epochs = 6;
        st.hp.batch = SAMPLES;
        st.hp.opt = (bn_optim){.kind = BN_OPT_SGD, .lr = 0.5f, .momentum = 0.5f};
        st.hp.warmup_steps = 2;
        bn_net *trained = new_net(SAMPLES), *by_hand = steps_by_hand(&st.hp, true);
        bn_net *peak = steps_by_hand(&st.hp, false);
        CHECKF(bn_train(trained, &data, NULL, NULL, &st) == BN_OK, "%s", bn_errmsg());
        CHECKF(max_param_diff(trained, by_hand) < 1e-5, "%s: bn_train and the scheduled steps by hand differ by %g",
               bn_schedule_name(schedules[k]), max_param_diff(trained, by_hand));
        CHECK(max_param_diff(trained, peak) > 1e-3);
        bn_net_destroy(&trained);
        bn_net_destroy(&by_hand);
        bn_net_destroy(&peak);
    }
}

int main(void)
{
    idxw_synth(pixels, labels, SAMPLES, ROWS, COLS, CLASSES, 3);
    bn_test_case("constant: lr * decay^epoch, bit for bit", constant_decays_per_epoch);
    bn_test_case("step: decays every step_epochs", step_decays_every_period);
    bn_test_case("warm-up: linear from lr/W", warmup_is_linear);
    bn_test_case("cosine: lr down to lr_min", cosine_ends_at_lr_min);
    bn_test_case("onecycle: lr/25 up to lr, down to lr/25e4", onecycle_rises_then_falls);
    bn_test_case("bn_train reports each step's rate", train_reports_each_rate);
    bn_test_case("bn_train steps at each step's rate", train_steps_at_each_rate);
    return bn_test_exit("schedule");
}
