/* Early stopping and the target accuracy (bn_hparams.patience, monitor, target_acc). The validation set has a
 * share of its labels wrong, so its loss falls while the model learns and rises once it grows confident, and
 * its accuracy levels off: patience must end the run. Every decision is checked against the validation
 * figures the run reported (on_epoch), and the weights a run ends with against a second run trained for
 * exactly the best (or target) epoch without early stopping, bit for bit. */
#include "harness.h"
#include "net.h"
#include "idx_write.h"

#include "blasnet.h"

#include <string.h>

#define ROWS 8
#define COLS 8
#define CLASSES 4
#define TRAIN_N 200
#define VAL_N 100
#define MAX_EPOCHS 40

static uint8_t train_pixels[TRAIN_N * ROWS * COLS], train_labels[TRAIN_N];
static uint8_t val_pixels[VAL_N * ROWS * COLS], val_labels[VAL_N];
static const bn_dataset train = {.pixels = train_pixels, .labels = train_labels, .n = TRAIN_N, .rows = ROWS,
                                 .cols = COLS, .dim = ROWS * COLS};
static const bn_dataset val = {.pixels = val_pixels, .labels = val_labels, .n = VAL_N, .rows = ROWS, .cols = COLS,
                               .dim = ROWS * COLS};

static void make_data(void)
{
    idxw_synth(train_pixels, train_labels, TRAIN_N, ROWS, COLS, CLASSES, 1);
    idxw_synth(val_pixels, val_labels, VAL_N, ROWS, COLS, CLASSES, 2);
    for (int i = 0; i < VAL_N; i += 3) /* a third of the validation labels wrong */
        val_labels[i] = (uint8_t)((val_labels[i] + 1) % CLASSES);
}

static bn_train_state recipe(int epochs, int patience, bn_monitor monitor, float target_acc)
{
    bn_train_state st;
    bn_train_state_init(&st);
    st.hp.epochs = epochs;
    st.hp.batch = 20;
    st.hp.opt = (bn_optim){.kind = BN_OPT_ADAM, .lr = 0.001f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    st.hp.schedule = BN_SCHED_CONSTANT; /* the run cut short must be the same run: no schedule over its length */
    st.hp.dropout = 0.1f;
    st.hp.patience = patience;
    st.hp.monitor = monitor;
    st.hp.target_acc = target_acc;
    st.hp.seed = 3;
    return st;
}

static bn_net *new_net(void)
{
    bn_arch arch = {.act = BN_ACT_RELU};
    CHECK(bn_arch_parse_sizes(&arch, "64,32,4") == BN_OK);
    bn_net *net = NULL;
    CHECKF(bn_net_create(&net, &arch, 20, bn_backend_find("blas")) == BN_OK, "%s", bn_errmsg());
    return net;
}

/* What on_epoch saw: each epoch's validation figures and best flag. */
typedef struct {
    int epochs;
    double val_loss[MAX_EPOCHS], val_acc[MAX_EPOCHS];
    bool best[MAX_EPOCHS];
} history;

static void on_epoch(void *ctx, const bn_epoch_stats *s)
{
    history *h = ctx;
    if (h->epochs < MAX_EPOCHS) {
        h->val_loss[h->epochs] = s->val_loss;
        h->val_acc[h->epochs] = s->val_acc;
        h->best[h->epochs] = s->best;
    }
    h->epochs++;
}

/* Trains a fresh network on st; returns it, the history in *h. */
static bn_net *run(bn_train_state *st, history *h, int want_status)
{
    memset(h, 0, sizeof *h);
    const bn_train_hooks hooks = {.on_epoch = on_epoch, .ctx = h};
    bn_net *net = new_net();
    int status = bn_train(net, &train, &val, &hooks, st);
    CHECKF(status == want_status, "bn_train: status %d (%s), want %d", status, bn_errmsg(), want_status);
    return net;
}

static bool same_params(bn_net *a, bn_net *b)
{
    size_t n, m;
    const float *pa = bn_net_params(a, &n), *pb = bn_net_params(b, &m);
    return n == m && memcmp(pa, pb, n * sizeof(float)) == 0;
}

/* The epoch (1-based) patience stops at, from a history of the monitored figure, and the best epoch then;
 * 0 when it would run to the end. */
static int expected_stop(const history *h, bn_monitor monitor, int patience, int *best)
{
    const double *m = monitor == BN_MONITOR_ACC ? h->val_acc : h->val_loss;
    int bad = 0;
    *best = 0;
    for (int e = 0; e < h->epochs && e < MAX_EPOCHS; e++) {
        bool better = *best == 0 || (monitor == BN_MONITOR_ACC ? m[e] > m[*best - 1] : m[e] < m[*best - 1]);
        if (better) {
            *best = e + 1;
            bad = 0;
        } else if (++bad >= patience) {
            return e + 1;
        }
    }
    return 0;
}

/* Patience ends the run at the epoch the reported figures say, keeps the best epoch's weights in
 * bn_net_best_params and ends with them: bitwise those of the same run trained for exactly best_epoch
 * epochs. */
static void patience_ends_at_best(bn_monitor monitor, int patience)
{
    const char *name = bn_monitor_name(monitor);
    bn_train_state st = recipe(MAX_EPOCHS, patience, monitor, 0.0f);
    history h;
    bn_net *net = run(&st, &h, BN_OK);
    int best = 0, stop = expected_stop(&h, monitor, patience, &best);
    CHECKF(stop > 1 && best > 0, "%s: the data do not make patience %d end the run (best epoch %d)", name,
           patience, best);
    CHECKF(st.end == BN_END_PATIENCE && st.epoch == stop && h.epochs == stop, "%s: ended %d after %d epochs (%d "
           "reported), want BN_END_PATIENCE after %d", name, (int)st.end, st.epoch, h.epochs, stop);
    CHECKF(st.best_epoch == best && st.bad_epochs == patience, "%s: best epoch %d, %d bad epochs; want %d, %d", name,
           st.best_epoch, st.bad_epochs, best, patience);
    if (best < 1)
        best = 1;
    CHECK(st.best_metric == (monitor == BN_MONITOR_ACC ? h.val_acc : h.val_loss)[best - 1]);
    CHECK(h.best[0] && h.best[best - 1]);
    for (int e = best; e < h.epochs && e < MAX_EPOCHS; e++)
        CHECKF(!h.best[e], "%s: epoch %d reported as best after the best epoch %d", name, e + 1, best);
    size_t n, m;
    const float *kept = bn_net_best_params(net, &n), *params = bn_net_params(net, &m);
    CHECK(n == m && memcmp(kept, params, n * sizeof(float)) == 0);

    history again;
    bn_train_state st_best = recipe(best, 0, monitor, 0.0f), st_stop = recipe(stop, 0, monitor, 0.0f);
    bn_net *at_best = run(&st_best, &again, BN_OK), *at_stop = run(&st_stop, &again, BN_OK);
    CHECKF(same_params(net, at_best), "%s: the weights patience ended with are not those after epoch %d", name,
           best);
    CHECKF(!same_params(net, at_stop), "%s: the weights after epoch %d are the best epoch's", name, stop);
    CHECK(st_best.end == BN_END_EPOCHS && st_best.best_epoch == 0);
    bn_net_destroy(&net);
    bn_net_destroy(&at_best);
    bn_net_destroy(&at_stop);
}

static void patience_on_loss(void)
{
    patience_ends_at_best(BN_MONITOR_LOSS, 3);
    patience_ends_at_best(BN_MONITOR_LOSS, 1);
}

static void patience_on_accuracy(void)
{
    patience_ends_at_best(BN_MONITOR_ACC, 2);
}

/* target_acc ends the run at the first epoch whose validation accuracy reaches it, recording the training
 * time then, with that epoch's weights. The target lies between the best accuracy before epoch e and epoch
 * e's, for the first e > 1 that beats every epoch before it. */
static void target_ends_at_first_epoch_reaching_it(void)
{
    bn_train_state st = recipe(12, 0, BN_MONITOR_LOSS, 0.0f);
    history h;
    bn_net *net = run(&st, &h, BN_OK);
    bn_net_destroy(&net);
    int epoch = 0;
    double before = h.val_acc[0];
    for (int e = 1; e < h.epochs - 1 && !epoch; e++) {
        if (h.val_acc[e] > before)
            epoch = e + 1;
        before = fmax(before, h.val_acc[e]);
    }
    CHECKF(epoch > 1, "no epoch before the last beats the ones before it");
    if (epoch < 2)
        return;
    before = h.val_acc[0];
    for (int e = 1; e < epoch - 1; e++)
        before = fmax(before, h.val_acc[e]);
    const float target = (float)((before + h.val_acc[epoch - 1]) / 2.0);
    st = recipe(12, 0, BN_MONITOR_LOSS, target);
    net = run(&st, &h, BN_OK);
    CHECKF(st.end == BN_END_TARGET && st.epoch == epoch && h.epochs == epoch, "target %g: ended %d after %d epochs, "
           "want BN_END_TARGET after %d", (double)target, (int)st.end, st.epoch, epoch);
    CHECKF(st.target_seconds > 0.0 && st.target_seconds == st.train_seconds, "time to target %g, training time %g",
           st.target_seconds, st.train_seconds);
    bn_train_state plain = recipe(epoch, 0, BN_MONITOR_LOSS, 0.0f);
    bn_net *same_epochs = run(&plain, &h, BN_OK);
    CHECK(same_params(net, same_epochs));
    CHECK(isnan(plain.target_seconds));
    bn_net_destroy(&net);
    bn_net_destroy(&same_epochs);
}

/* Patience and a target watch the validation set: without one (none, or an empty one) bn_train refuses, and
 * changes neither the state nor the network. */
static void refused_without_validation(void)
{
    const bn_dataset empty = {.pixels = val_pixels, .labels = val_labels, .n = 0, .rows = ROWS, .cols = COLS,
                              .dim = ROWS * COLS};
    const bn_dataset *sets[2] = {NULL, &empty};
    for (int k = 0; k < 4; k++) {
        bn_train_state st = recipe(5, k < 2 ? 2 : 0, BN_MONITOR_LOSS, k < 2 ? 0.0f : 0.5f), before;
        memcpy(&before, &st, sizeof st);
        bn_net *net = new_net();
        int status = bn_train(net, &train, sets[k % 2], NULL, &st);
        CHECKF(status == BN_E_INVALID && strstr(bn_errmsg(), "validation"), "%s without validation data: status %d "
               "(%s)", k < 2 ? "patience" : "target", status, bn_errmsg());
        CHECK(memcmp(&before, &st, sizeof st) == 0);
        size_t n;
        const float *p = bn_net_params(net, &n);
        bool zero = true;
        for (size_t i = 0; i < n; i++)
            zero = zero && p[i] == 0.0f;
        CHECK(zero);
        bn_net_destroy(&net);
    }
}

/* Every block of a network, for before/after comparisons. */
typedef struct {
    float *blocks[4];
    size_t count;
} net_copy;

static net_copy copy_net(bn_net *net)
{
    float *(*const get[4])(bn_net *, size_t *) = {bn_net_params, bn_net_velocity, bn_net_moment2,
                                                  bn_net_best_params};
    net_copy c = {{NULL}, 0};
    for (int k = 0; k < 4; k++) {
        const float *b = get[k](net, &c.count);
        c.blocks[k] = malloc(c.count * sizeof(float));
        if (c.blocks[k])
            memcpy(c.blocks[k], b, c.count * sizeof(float));
    }
    return c;
}

static bool same_copy(const net_copy *a, const net_copy *b)
{
    bool same = a->count == b->count;
    for (int k = 0; k < 4 && same; k++)
        same = a->blocks[k] && b->blocks[k] && memcmp(a->blocks[k], b->blocks[k], a->count * sizeof(float)) == 0;
    return same;
}

static void free_copy(net_copy *c)
{
    for (int k = 0; k < 4; k++)
        free(c->blocks[k]);
}

/* A run that has ended (patience, target, or its epochs) given to bn_train again: BN_OK, no epoch trained,
 * and neither the state nor any block of the network changes. */
static void ended_run_trains_no_further(void)
{
    static const char *const names[3] = {"patience", "target", "epochs"};
    bn_train_state states[3] = {recipe(MAX_EPOCHS, 2, BN_MONITOR_LOSS, 0.0f),
                                recipe(MAX_EPOCHS, 0, BN_MONITOR_LOSS, 0.3f), recipe(3, 0, BN_MONITOR_LOSS, 0.0f)};
    static const bn_end ends[3] = {BN_END_PATIENCE, BN_END_TARGET, BN_END_EPOCHS};
    for (int k = 0; k < 3; k++) {
        history h;
        bn_net *net = run(&states[k], &h, BN_OK);
        CHECKF(states[k].end == ends[k], "%s: the run ended %d, want %d", names[k], (int)states[k].end, (int)ends[k]);
        bn_train_state before;
        memcpy(&before, &states[k], sizeof before);
        net_copy weights = copy_net(net);
        memset(&h, 0, sizeof h);
        const bn_train_hooks hooks = {.on_epoch = on_epoch, .ctx = &h};
        int status = bn_train(net, &train, &val, &hooks, &states[k]);
        CHECKF(status == BN_OK && h.epochs == 0, "%s: an ended run given again: status %d, %d epochs", names[k],
               status, h.epochs);
        CHECKF(memcmp(&before, &states[k], sizeof before) == 0, "%s: an ended run given again changed its state "
               "(end %d -> %d, epoch %d -> %d)", names[k], (int)before.end, (int)states[k].end, before.epoch,
               states[k].epoch);
        net_copy after = copy_net(net);
        CHECKF(same_copy(&weights, &after), "%s: an ended run given again changed the network", names[k]);
        free_copy(&weights);
        free_copy(&after);
        bn_net_destroy(&net);
    }
}

int main(void)
{
    make_data();
    bn_test_case("patience on the validation loss ends at the best epoch's weights", patience_on_loss);
    bn_test_case("patience on the validation accuracy ends at the best epoch's weights", patience_on_accuracy);
    bn_test_case("a target accuracy ends the run at the first epoch reaching it",
                 target_ends_at_first_epoch_reaching_it);
    bn_test_case("patience and target are refused without validation data", refused_without_validation);
    bn_test_case("an ended run trains no further", ended_run_trains_no_further);
    return bn_test_exit("early_stop");
}
