/* The training loop and evaluation. A step is: gather a shuffled batch into the network's staging, one
 * forward + backward pass with the optimizer update fused into it. The only allocation is the shuffle order,
 * made before the first step. What a run is lives in state->hp and where it is in the rest of the state,
 * so a checkpoint of the state resumes bitwise. */
#include "blasnet.h"
#include "rng.h"
#include "clock.h"
#include "comm.h"
#include "error.h"
#include "net.h"
#include "net_plan.h"
#include "net_share.h"
#include "recipe.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The shuffle draws from its own stream ("SHUFFLE" xor the seed): changing the initialisation never changes
 * the batch order, and the order does not depend on how many numbers the initialisation drew. */
#define SHUFFLE_STREAM 0x53485546464c45ull

static double now_seconds(void)
{
    return 1e-9 * (double)bn_clock_ns();
}

void bn_hparams_default(bn_hparams *hp)
{
    memset(hp, 0, sizeof *hp);
    hp->epochs = 3;
    hp->batch = 64;
    hp->opt = (bn_optim){.kind = BN_OPT_ADAM, .lr = BN_DEFAULT_ADAM_LR, .momentum = 0.9f, .beta1 = 0.9f,
                         .beta2 = 0.999f, .eps = 1e-8f};
    hp->lr_decay = 1.0f;
    hp->schedule = BN_SCHED_ONECYCLE;
    hp->step_epochs = 1;
    hp->monitor = BN_MONITOR_LOSS;
    hp->seed = 1;
    hp->init = BN_INIT_HE;
    hp->init_std = 0.01f;
}

void bn_train_state_init(bn_train_state *state)
{
    memset(state, 0, sizeof *state);
    bn_hparams_default(&state->hp);
    state->target_seconds = NAN;
}

/* train_n is recorded before the first step and never reset, and an empty training set is refused, so it is
 * non-zero exactly when the run has started: checkpoints written by any run carry it. */
bool bn_train_started(const bn_train_state *state)
{
    return state->train_n != 0;
}

static int check_data(const bn_net *net, const bn_dataset *ds, const char *what)
{
    const bn_arch *arch = bn_net_arch(net);
    if (ds->dim != arch->sizes[0])
        return bn_fail(BN_E_MISMATCH, "%s images have %d pixels but the network takes %d inputs", what, ds->dim,
                       arch->sizes[0]);
    int max_label = bn_dataset_max_label(ds);
    if (max_label >= arch->sizes[arch->depth])
        return bn_fail(BN_E_MISMATCH, "%s data has label %d but the network has only %d classes (0..%d)", what,
                       max_label, arch->sizes[arch->depth], arch->sizes[arch->depth] - 1);
    return BN_OK;
}

size_t bn_train_share(size_t count, int rank, int ranks, size_t *lo)
{
    *lo = count * (size_t)rank / (size_t)ranks;
    return count * (size_t)(rank + 1) / (size_t)ranks - *lo;
}

/* This rank's rows of a batch (or set) of `count` rows, [lo, hi); one process: all of it. */
static void share_of(const bn_comm *comm, size_t count, size_t *lo, size_t *hi)
{
    *hi = bn_train_share(count, comm ? comm->rank : 0, comm ? comm->size : 1, lo) + *lo;
}

/* Rows [lo, hi) of ds forward: sums[0] += their cross-entropy, sums[1] += their correct predictions, and
 * the confusion counts (may be NULL) added to. */
static int evaluate_rows(bn_net *net, const bn_dataset *ds, size_t lo, size_t hi, double sums[2],
                         uint64_t *confusion)
{
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    for (size_t start = lo; start < hi; start += (size_t)bn_net_max_batch(net)) {
        size_t count = hi - start < (size_t)bn_net_max_batch(net) ? hi - start : (size_t)bn_net_max_batch(net);
        bn_dataset_gather(ds, NULL, start, count, bn_net_input(net), bn_net_labels(net));
        int correct = 0;
        int status = bn_net_forward_loss(net, bn_net_input(net), bn_net_labels(net), (int)count, &sums[0], &correct);
        if (status)
            return status;
        sums[1] += correct;
        if (confusion) {
            const float *p = bn_net_probs(net);
            for (size_t i = 0; i < count; i++) {
                int best = 0;
                for (int j = 1; j < classes; j++)
                    best = p[i * classes + j] > p[i * classes + best] ? j : best;
                confusion[(size_t)bn_net_labels(net)[i] * classes + best]++;
            }
        }
    }
    return BN_OK;
}

/* Plans for the chunks evaluate_rows runs over `rows` rows: the max batch, and what is left at the end. */
static int plan_chunks(bn_net *net, size_t rows)
{
    const size_t max = (size_t)bn_net_max_batch(net);
    int status = rows >= max ? bn_net_plan_rows(net, (int)max) : BN_OK;
    return !status && rows % max ? bn_net_plan_rows(net, (int)(rows % max)) : status;
}

int bn_evaluate(bn_net *net, const bn_dataset *ds, bn_eval *out, uint64_t *confusion)
{
    memset(out, 0, sizeof *out);
    int status = check_data(net, ds, "evaluation");
    if (status)
        return status;
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    if (confusion)
        memset(confusion, 0, (size_t)classes * classes * sizeof *confusion);
    size_t lo, hi;
    share_of(bn_net_comm(net), ds->n, &lo, &hi);
    double sums[2] = {0.0, 0.0}; /* loss, correct: exact in a double up to 2^53 samples */
    status = plan_chunks(net, hi - lo);
    if (!status)
        status = evaluate_rows(net, ds, lo, hi, sums, confusion);
    if (!status && bn_net_comm(net))
        status = bn_comm_combine(bn_net_comm(net), sums, 2, BN_COMM_SUM_DOUBLE);
    if (!status && bn_net_comm(net) && confusion)
        status = bn_comm_combine(bn_net_comm(net), confusion, (size_t)classes * classes, BN_COMM_SUM_U64);
    if (status)
        return status;
    out->n = ds->n;
    out->loss = ds->n ? sums[0] / (double)ds->n : NAN;
    out->accuracy = ds->n ? sums[1] / (double)ds->n : NAN;
    return BN_OK;
}

/* The rules a run's hyperparameters must meet to train: each field's range from the recipe's table
 * (stricter than what a checkpoint may store, which also admits the zeros a model saved without a run
 * stores), then the rules that tie two fields together. */
static int check_trainable_hparams(const bn_net *net, const bn_hparams *hp)
{
    int status = bn_recipe_check(hp, true, BN_E_INVALID, "");
    if (status)
        return status;
    if (hp->batch > bn_net_max_batch(net))
        return bn_fail(BN_E_INVALID, "batch %d is outside 1..%d (the network's workspace)", hp->batch,
                       bn_net_max_batch(net));
    if (!(hp->lr_min <= hp->opt.lr))
        return bn_fail(BN_E_INVALID, "final rate %g is outside [0, lr %g]", (double)hp->lr_min, (double)hp->opt.lr);
    return BN_OK;
}

static uint64_t steps_per_epoch(const bn_train_state *st)
{
    return (st->train_n + (uint64_t)st->hp.batch - 1) / (uint64_t)st->hp.batch; /* the last may be partial */
}

/* Everything checked before a run touches the network, so a refused call changes nothing. */
static int check_run(const bn_net *net, const bn_dataset *train, const bn_dataset *val, const bn_train_state *st)
{
    int status = check_trainable_hparams(net, &st->hp);
    if (!status)
        status = check_data(net, train, "training");
    if (!status && val && val->n)
        status = check_data(net, val, "validation");
    if (status)
        return status;
    if (train->n == 0)
        return bn_fail(BN_E_INVALID, "the training set is empty");
    if (train->n > UINT32_MAX)
        return bn_fail(BN_E_INVALID, "training sets above %u samples are not supported", UINT32_MAX);
    if ((st->hp.patience > 0 || st->hp.target_acc > 0.0f) && !(val && val->n))
        return bn_fail(BN_E_INVALID, "early stopping and a target accuracy watch the validation set, and there "
                                     "is none: keep some training data for validation");
    if (!bn_train_started(st))
        return BN_OK;
    /* A resumed run must see the same samples in the same order, or it is a different run. */
    if (st->train_n != train->n)
        return bn_fail(BN_E_MISMATCH, "the run was trained on %llu samples but this training set has %zu: resume "
                                      "with the same data and validation split",
                       (unsigned long long)st->train_n, train->n);
    if (st->step > steps_per_epoch(st) || st->epoch > st->hp.epochs)
        return bn_fail(BN_E_MISMATCH, "resume point epoch %d step %llu lies beyond %d epochs of %llu steps",
                       st->epoch, (unsigned long long)st->step, st->hp.epochs,
                       (unsigned long long)steps_per_epoch(st));
    return BN_OK;
}

/* A run's first call: weights and shuffle stream from hp, read now, so any hp change made before this
 * call is the one that counts. */
static int start_run(bn_net *net, bn_train_state *st, size_t train_n)
{
    bn_rng init_rng;
    bn_rng_seed(&init_rng, st->hp.seed);
    int status = bn_net_init_once(net, st->hp.init, st->hp.init_std, &init_rng);
    bn_rng_seed(&st->rng, st->hp.seed ^ SHUFFLE_STREAM);
    st->train_n = train_n;
    return status ? bn_fail(status, "starting the ranks' weights failed (%s)", bn_strerror(status)) : BN_OK;
}

/* One bn_train call: what the loop needs besides the state. */
typedef struct {
    bn_net *net;
    const bn_dataset *train, *val;
    const bn_train_hooks *hooks;
    bn_train_state *st;
    uint32_t *order;         /* this epoch's shuffle of 0..n-1 */
    uint64_t steps;          /* per epoch */
    bn_optim opt;            /* the hyperparameters with this epoch's rate */
    double t0;               /* when the clock last started */
    double seconds_before;   /* this epoch's time before a mid-epoch checkpoint stopped the clock */
    uint64_t seen_before;    /* samples the epoch had seen before this call's clock started (a resume's) */
    bool stopping;           /* several ranks: the stop flag of any rank, as the last step's sums carried it */
} run;

/* On several ranks rank 0 alone writes, and every rank learns whether that worked, so that all go on or
 * all stop together. */
static int save_checkpoint(const run *r)
{
    const char *path = r->hooks->checkpoint_path;
    const bn_comm *comm = bn_net_comm(r->net);
    if (!path)
        return BN_OK;
    if (r->hooks->before_checkpoint)
        r->hooks->before_checkpoint(r->hooks->ctx);
    if (!comm)
        return bn_checkpoint_save(r->net, r->st, path);
    int status = comm->rank == 0 ? bn_checkpoint_save(r->net, r->st, path) : BN_OK;
    uint64_t failed = (uint64_t)-status; /* statuses are negative */
    int comm_status = bn_comm_combine(comm, &failed, 1, BN_COMM_MAX_U64);
    if (status || (comm_status == BN_OK && failed == 0))
        return status;
    if (comm_status)
        return bn_fail(comm_status, "telling the ranks how the checkpoint went failed (%s)",
                       bn_strerror(comm_status));
    return bn_fail(-(int)failed, "rank 0 could not write the checkpoint %s", path);
}

/* Whether the caller asked to stop, on any rank: every rank must stop at the same step. */
static int agree_stop(const run *r, bool *stop)
{
    const bn_train_hooks *h = r->hooks;
    double flag = h->stop && *h->stop;
    int status = bn_net_comm(r->net) ? bn_comm_combine(bn_net_comm(r->net), &flag, 1, BN_COMM_SUM_DOUBLE) : BN_OK;
    *stop = flag > 0.0;
    return status;
}

static void report_progress(const run *r, double step_loss)
{
    const bn_train_hooks *h = r->hooks;
    const bn_train_state *st = r->st;
    if (h->progress_every <= 0 || (st->step % (uint64_t)h->progress_every != 0 && st->step != r->steps))
        return;
    /* before the rank-dependent test: on a node-sharing comm every rank takes part in the norm */
    const double grad_norm_w1 = h->progress_grad_norm ? bn_net_first_grad_norm(r->net) : NAN;
    if (!h->on_progress)
        return;
    double elapsed = now_seconds() - r->t0 + r->seconds_before;
    bn_progress p = {.epoch = st->epoch + 1,
                     .epochs = st->hp.epochs,
                     .step = (size_t)st->step,
                     .steps = (size_t)r->steps,
                     .global_step = (uint64_t)st->epoch * r->steps + st->step,
                     .elapsed_s = elapsed,
                     .samples_per_s = elapsed > 0 ? (double)(st->seen - r->seen_before) / elapsed : 0.0,
                     .running_loss = st->loss_sum / (double)st->seen,
                     .step_loss = step_loss,
                     .grad_norm_w1 = grad_norm_w1,
                     .grad_norm = bn_net_grad_norm(r->net),
                     .lr = r->opt.lr};
    h->on_progress(h->ctx, &p);
}

/* Mid-epoch: a periodic checkpoint, or a stop the caller asked for. The clock stops while the file is
 * written, so the epoch's time stays the training loop's alone. */
static int checkpoint_or_stop(run *r)
{
    const bn_train_hooks *h = r->hooks;
    bn_train_state *st = r->st;
    /* Several ranks stop at the step whose sums first carried a rank's flag: all at the same step. */
    bool asked = bn_net_comm(r->net) ? r->stopping : h->stop && *h->stop;
    bool stopping = asked && st->step < r->steps;
    bool periodic = h->checkpoint_every_steps && st->step % h->checkpoint_every_steps == 0 && st->step < r->steps;
    if (!stopping && !periodic)
        return BN_OK;
    double t = now_seconds();
    st->train_seconds += t - r->t0;
    r->seconds_before += t - r->t0;
    int status = save_checkpoint(r);
    r->t0 = now_seconds();
    if (status || !stopping)
        return status;
    return bn_fail(BN_E_INTERRUPTED, "stopped at epoch %d, step %llu of %llu", st->epoch + 1,
                   (unsigned long long)st->step, (unsigned long long)r->steps);
}

/* One step: this rank's share of the batch (all of it on one process) gathered, trained, the sums over the
 * ranks recorded. */
static int run_step(run *r)
{
    bn_train_state *st = r->st;
    const bn_comm *comm = bn_net_comm(r->net);
    const size_t B = (size_t)st->hp.batch, start = (size_t)st->step * B;
    const size_t count = r->train->n - start < B ? r->train->n - start : B;
    size_t lo, hi;
    share_of(comm, count, &lo, &hi);
    bn_dataset_gather(r->train, r->order, start + lo, hi - lo, bn_net_input(r->net), bn_net_labels(r->net));
    /* The rate, Adam's count and the dropout masks follow the global step alone: a resume needs no more.
     * The masks are keyed by the row's place in the whole batch, so any split draws the same ones. */
    const uint64_t global = (uint64_t)st->epoch * r->steps + st->step;
    r->opt.lr = bn_schedule_lr(&st->hp, global, r->steps);
    r->opt.t = global + 1;
    bn_net_set_dropout(r->net, st->hp.dropout, st->hp.seed, global, lo);
    const bn_train_hooks *h = r->hooks;
    bn_share share = {.rows = (int)(hi - lo), .batch_rows = (int)count, .comm = comm,
                      .sums = {0.0, 0.0, h->stop && *h->stop}};
    double weight_sq = 0.0;
    int status = bn_net_train_share(r->net, bn_net_input(r->net), bn_net_labels(r->net), &share, &r->opt,
                                    r->opt.weight_decay > 0.0f && r->opt.kind != BN_OPT_ADAMW ? &weight_sq : NULL);
    double loss = share.sums[0] / (double)count;
    if (status == BN_E_DIVERGED)
        return bn_fail(BN_E_DIVERGED, "loss became %s at epoch %d, step %llu (lr %g): lower the learning rate (--lr)",
                       isnan(loss) ? "NaN" : "infinite", st->epoch + 1, (unsigned long long)st->step + 1,
                       (double)r->opt.lr);
    if (status)
        return status;
    if (r->opt.kind != BN_OPT_ADAMW) /* the L2 term, from the norm the update read anyway; AdamW has none */
        loss += 0.5 * r->opt.weight_decay * weight_sq;
    r->stopping = share.sums[2] > 0.0;
    st->loss_sum += loss * (double)count;
    st->correct += (uint64_t)share.sums[1];
    st->seen += count;
    st->samples += count;
    st->step++;
    report_progress(r, loss);
    return checkpoint_or_stop(r);
}

/* The last epoch is done: with early stopping the network ends with the best epoch's weights, so a model
 * saved now is the best one; except when the target ended the run: then the weights that reached it stay. */
static int end_run(run *r)
{
    bn_train_state *st = r->st;
    if (st->end == BN_END_NONE)
        st->end = BN_END_EPOCHS;
    if (st->end != BN_END_TARGET && st->hp.patience > 0 && st->best_epoch > 0 && st->best_epoch != st->epoch)
        return bn_net_restore_best(r->net);
    return BN_OK;
}

/* The epoch's summary, before the state moves on to the next epoch. */
static bn_epoch_stats epoch_stats(const run *r, double seconds)
{
    const bn_train_state *st = r->st;
    return (bn_epoch_stats){
        .epoch = st->epoch + 1,
        .train_loss = st->seen ? st->loss_sum / (double)st->seen : NAN,
        .train_acc = st->seen ? (double)st->correct / (double)st->seen : NAN,
        .val_loss = NAN,
        .val_acc = NAN,
        .lr = r->opt.lr,
        .seconds = seconds,
        .samples_per_s = seconds > 0 ? (double)(st->seen - r->seen_before) / seconds : 0.0,
        .grad_norm_w1 = bn_net_first_grad_norm(r->net),
    };
}

/* Early stopping and the target, after the epoch's validation: keeps the best weights so far, and says
 * when the run is over. Only validation figures are read. */
static void watch_validation(run *r, bn_epoch_stats *stats)
{
    bn_train_state *st = r->st;
    const bn_hparams *hp = &st->hp;
    if (hp->patience > 0) {
        double metric = hp->monitor == BN_MONITOR_ACC ? stats->val_acc : stats->val_loss;
        bool better = hp->monitor == BN_MONITOR_ACC ? metric > st->best_metric : metric < st->best_metric;
        if (st->best_epoch == 0 || better) {
            size_t count;
            const float *params = bn_net_params_const(r->net, &count);
            memcpy(bn_net_best_params(r->net, &count), params, count * sizeof(float));
            st->best_epoch = st->epoch;
            st->best_metric = metric;
            st->bad_epochs = 0;
            stats->best = true;
        } else if (++st->bad_epochs >= hp->patience) {
            st->end = BN_END_PATIENCE;
        }
    }
    if (hp->target_acc > 0.0f && stats->val_acc >= hp->target_acc) {
        st->end = BN_END_TARGET;
        st->target_seconds = st->train_seconds;
    }
}

/* Closes an epoch: moves the state to the next one (the rng after this epoch's shuffle is where the next
 * shuffle starts), evaluates, watches the validation figures, reports, checkpoints, and honours a stop. */
static int finish_epoch(run *r, const bn_rng *rng_after_shuffle)
{
    bn_train_state *st = r->st;
    double seconds = now_seconds() - r->t0;
    st->train_seconds += seconds;
    bn_epoch_stats stats = epoch_stats(r, seconds + r->seconds_before);
    st->epoch++;
    st->step = 0;
    st->rng = *rng_after_shuffle;
    st->loss_sum = 0.0;
    st->correct = st->seen = 0;

    int status = BN_OK;
    if (r->val && r->val->n) {
        bn_eval ev;
        status = bn_evaluate(r->net, r->val, &ev, NULL);
        if (status)
            return status;
        stats.val_loss = ev.loss;
        stats.val_acc = ev.accuracy;
        watch_validation(r, &stats);
    }
    const bn_train_hooks *h = r->hooks;
    if (h->on_epoch)
        h->on_epoch(h->ctx, &stats);
    bool last = st->epoch == st->hp.epochs || st->end != BN_END_NONE;
    status = last ? end_run(r) : BN_OK;
    if (!status && h->checkpoint_every > 0 && (st->epoch % h->checkpoint_every == 0 || last))
        status = save_checkpoint(r);
    bool stop = false;
    if (!status && !last)
        status = agree_stop(r, &stop);
    if (status || !stop || last)
        return status;
    status = save_checkpoint(r);
    return status ? status : bn_fail(BN_E_INTERRUPTED, "stopped after epoch %d", st->epoch);
}

static int run_epoch(run *r)
{
    bn_train_state *st = r->st;
    const size_t n = r->train->n;
    r->opt = st->hp.opt; /* run_step sets each step's rate and count */
    /* The epoch's order is replayed from the rng saved at its start, so a mid-epoch resume sees it again. */
    bn_rng rng = st->rng;
    for (size_t i = 0; i < n; i++)
        r->order[i] = (uint32_t)i;
    bn_rng_shuffle(&rng, r->order, n);
    r->seconds_before = 0.0;
    r->seen_before = st->seen; /* 0, or the samples a resumed epoch saw before its stop: not timed here */
    r->t0 = now_seconds();
    int status = BN_OK;
    while (!status && st->step < r->steps)
        status = run_step(r);
    return status ? status : finish_epoch(r, &rng);
}

/* The rows rank `rank` of `ranks` runs of `count`. */
static size_t share_rows(size_t count, int rank, int ranks)
{
    size_t lo;
    return bn_train_share(count, rank, ranks, &lo);
}

/* Every batch size a rank's steps will run, planned before the first: its share of a full batch and of the
 * epoch's last, shorter one, and the validation set's chunks. Under mpirun a rank runs B/K rows, which the
 * network's own plan (for its max batch) does not fit; planned on the spot, every product of every step was
 * planned again, and --plan measure silently became estimate. */
int bn_train_plan(bn_net *net, size_t train_n, size_t val_n, int batch, int rank, int ranks)
{
    const size_t B = (size_t)batch, sizes[2] = {train_n < B ? train_n : B, train_n % B};
    int status = BN_OK;
    for (int i = 0; i < 2 && !status; i++) {
        size_t rows = share_rows(sizes[i], rank, ranks);
        status = rows ? bn_net_plan_rows(net, (int)rows) : BN_OK;
    }
    return !status && val_n ? plan_chunks(net, share_rows(val_n, rank, ranks)) : status;
}

static int plan_run(bn_net *net, const bn_dataset *train, const bn_dataset *val, const bn_train_state *st)
{
    const bn_comm *comm = bn_net_comm(net);
    int status = bn_train_plan(net, train->n, val ? val->n : 0, st->hp.batch, comm ? comm->rank : 0,
                               comm ? comm->size : 1);
    /* Ranks that plan from different sources would sum gradients of differently rounded products. */
    return !status && comm ? bn_comm_agree_plans(comm, bn_net_plan_source(net)) : status;
}

int bn_train(bn_net *net, const bn_dataset *train, const bn_dataset *val, const bn_train_hooks *hooks,
             bn_train_state *st)
{
    static const bn_train_hooks no_hooks;
    /* Several ranks: the same run everywhere first, so that every check below decides alike on all. */
    int status = bn_net_comm(net) ? bn_comm_agree_run(bn_net_comm(net), net, train, val, st) : BN_OK;
    if (!status)
        status = check_run(net, train, val, st);
    if (status)
        return status;
    if (st->end == BN_END_PATIENCE || st->end == BN_END_TARGET)
        return BN_OK; /* a run that stopped early is over; its weights are the ones it ended with */
    uint32_t *order = malloc(train->n * sizeof *order);
    if (!order)
        return bn_fail(BN_E_NOMEM, "cannot allocate the shuffle order for %zu samples", train->n);
    if (!bn_train_started(st))
        status = start_run(net, st, train->n);
    if (!status)
        status = plan_run(net, train, val, st);
    if (!status)
        st->plan_digest = bn_net_plan_digest(net); /* checkpoints carry it: a resume can tell other plans */
    if (st->epoch < st->hp.epochs)
        st->end = BN_END_NONE; /* a finished run given more epochs goes on */
    run r = {.net = net, .train = train, .val = val, .hooks = hooks ? hooks : &no_hooks, .st = st,
             .order = order, .steps = steps_per_epoch(st)};
    while (!status && st->epoch < st->hp.epochs && st->end == BN_END_NONE)
        status = run_epoch(&r);
    free(order);
    return status;
}
