/* The training loop and evaluation. A step is: gather a shuffled batch into the network's staging, one
 * forward + backward pass, one fused optimizer pass. The only allocation is the shuffle order, made before
 * the first step. Everything a resumed run needs lives in bn_train_state. */
#include "blasnet.h"
#include "error.h"
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double norm(const float *v, size_t n)
{
    double sq = 0.0;
    for (size_t i = 0; i < n; i++)
        sq += (double)v[i] * v[i];
    return sqrt(sq);
}

void bn_train_config_default(bn_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 10;
    cfg->batch = 64;
    cfg->sgd.lr = 0.05f;
    cfg->sgd.momentum = 0.9f;
    cfg->lr_decay = 1.0f;
    cfg->seed = 1;
    cfg->init = BN_INIT_HE;
    cfg->init_std = 0.01f;
}

void bn_train_state_init(bn_train_state *state, const bn_train_config *cfg)
{
    memset(state, 0, sizeof *state);
    state->epochs = cfg->epochs;
    state->batch = cfg->batch;
    state->sgd = cfg->sgd;
    state->lr_decay = cfg->lr_decay;
    state->seed = cfg->seed;
    state->init = cfg->init;
    state->init_std = cfg->init_std;
    /* Shuffling draws from its own stream, so changing the initialisation never changes the batch order. */
    bn_rng_seed(&state->rng, cfg->seed ^ 0x53485546464c45ull);
}

static int check_data(const bn_net *net, const bn_dataset *ds, const char *what)
{
    const bn_arch *arch = &net->arch;
    if (ds->dim != arch->sizes[0])
        return bn_fail(BN_E_MISMATCH, "%s images have %d pixels but the network takes %d inputs", what, ds->dim,
                       arch->sizes[0]);
    int max_label = bn_dataset_max_label(ds);
    if (max_label >= arch->sizes[arch->depth])
        return bn_fail(BN_E_MISMATCH, "%s data has label %d but the network has only %d classes (0..%d)", what,
                       max_label, arch->sizes[arch->depth], arch->sizes[arch->depth] - 1);
    return BN_OK;
}

int bn_evaluate(bn_net *net, const bn_dataset *ds, bn_eval *out, uint64_t *confusion)
{
    memset(out, 0, sizeof *out);
    int status = check_data(net, ds, "evaluation");
    if (status)
        return status;
    const int classes = net->arch.sizes[net->arch.depth];
    if (confusion)
        memset(confusion, 0, (size_t)classes * classes * sizeof *confusion);
    double loss = 0.0;
    int correct = 0;
    uint64_t correct_total = 0;
    for (size_t start = 0; start < ds->n; start += (size_t)net->max_batch) {
        size_t count = ds->n - start < (size_t)net->max_batch ? ds->n - start : (size_t)net->max_batch;
        bn_dataset_gather(ds, NULL, start, count, net->x, net->labels);
        correct = 0;
        status = bn_net_forward_loss(net, net->x, net->labels, (int)count, &loss, &correct);
        if (status)
            return status;
        correct_total += (uint64_t)correct;
        if (confusion) {
            const float *p = bn_net_probs(net);
            for (size_t i = 0; i < count; i++) {
                int best = 0;
                for (int j = 1; j < classes; j++)
                    best = p[i * classes + j] > p[i * classes + best] ? j : best;
                confusion[(size_t)net->labels[i] * classes + best]++;
            }
        }
    }
    out->n = ds->n;
    out->loss = ds->n ? loss / (double)ds->n : NAN;
    out->accuracy = ds->n ? (double)correct_total / (double)ds->n : NAN;
    return BN_OK;
}

static int check_state(const bn_net *net, const bn_train_state *st)
{
    if (st->epochs < 1)
        return bn_fail(BN_E_INVALID, "epochs %d must be at least 1", st->epochs);
    if (st->batch < 1 || st->batch > net->max_batch)
        return bn_fail(BN_E_INVALID, "batch %d is outside 1..%d (the network's workspace)", st->batch,
                       net->max_batch);
    if (!(st->sgd.lr > 0.0f) || !isfinite(st->sgd.lr))
        return bn_fail(BN_E_INVALID, "learning rate %g must be positive and finite", (double)st->sgd.lr);
    if (!(st->sgd.momentum >= 0.0f && st->sgd.momentum < 1.0f))
        return bn_fail(BN_E_INVALID, "momentum %g is outside [0, 1)", (double)st->sgd.momentum);
    if (!(st->sgd.weight_decay >= 0.0f) || !isfinite(st->sgd.weight_decay))
        return bn_fail(BN_E_INVALID, "weight decay %g must be >= 0", (double)st->sgd.weight_decay);
    if (!(st->lr_decay > 0.0f && st->lr_decay <= 1.0f))
        return bn_fail(BN_E_INVALID, "learning-rate decay %g is outside (0, 1]", (double)st->lr_decay);
    return BN_OK;
}

static int save_checkpoint(const bn_net *net, const bn_train_config *cfg, const bn_train_state *st)
{
    if (!cfg->checkpoint_path)
        return BN_OK;
    return bn_checkpoint_save(net, st, cfg->checkpoint_path);
}

int bn_train(bn_net *net, const bn_dataset *train, const bn_dataset *val, const bn_train_config *cfg,
             bn_train_state *st)
{
    int status = check_state(net, st);
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

    if (st->train_n && st->train_n != train->n)
        return bn_fail(BN_E_MISMATCH, "the run was trained on %llu samples but this training set has %zu: resume "
                                      "with the same data and validation split",
                       (unsigned long long)st->train_n, train->n);
    st->train_n = train->n;
    const size_t n = train->n, B = (size_t)st->batch;
    const uint64_t steps = (n + B - 1) / B; /* the last batch may be partial */
    if (st->step > steps || st->epoch > st->epochs)
        return bn_fail(BN_E_MISMATCH, "resume point epoch %d step %llu lies beyond %d epochs of %llu steps",
                       st->epoch, (unsigned long long)st->step, st->epochs, (unsigned long long)steps);
    uint32_t *order = malloc(n * sizeof *order);
    if (!order)
        return bn_fail(BN_E_NOMEM, "cannot allocate the shuffle order for %zu samples", n);

    const size_t first_w = (size_t)net->arch.sizes[0] * (size_t)net->arch.sizes[1];
    const float *dw1 = bn_net_dweight(net, 0);
    while (st->epoch < st->epochs) {
        /* The rate of epoch e is lr * decay^e, recomputed rather than carried, so a resume needs no extra state. */
        bn_sgd sgd = st->sgd;
        sgd.lr = (float)(st->sgd.lr * pow(st->lr_decay, st->epoch));
        bn_rng rng = st->rng;
        for (size_t i = 0; i < n; i++)
            order[i] = (uint32_t)i;
        bn_rng_shuffle(&rng, order, n);

        double epoch_seconds_before = 0.0; /* this epoch's time before a mid-epoch checkpoint or stop */
        double t0 = now_seconds();
        while (st->step < steps) {
            size_t start = (size_t)st->step * B;
            size_t count = n - start < B ? n - start : B;
            bn_dataset_gather(train, order, start, count, net->x, net->labels);
            double loss = 0.0, weight_sq = 0.0;
            int correct = 0;
            status = bn_net_train_step(net, net->x, net->labels, (int)count, &sgd, &loss, &correct,
                                       sgd.weight_decay > 0.0f ? &weight_sq : NULL);
            if (status) {
                free(order);
                return status;
            }
            if (!isfinite(loss)) {
                free(order);
                return bn_fail(BN_E_DIVERGED,
                               "loss became %s at epoch %d, step %llu (lr %g): lower the learning rate (--lr)",
                               isnan(loss) ? "NaN" : "infinite", st->epoch + 1,
                               (unsigned long long)st->step + 1, (double)sgd.lr);
            }
            loss += 0.5 * sgd.weight_decay * weight_sq;
            st->loss_sum += loss * (double)count;
            st->correct += (uint64_t)correct;
            st->seen += count;
            st->samples += count;
            st->step++;

            if (cfg->on_progress && cfg->progress_every > 0 &&
                (st->step % (uint64_t)cfg->progress_every == 0 || st->step == steps)) {
                double elapsed = now_seconds() - t0 + epoch_seconds_before;
                bn_progress p = {.epoch = st->epoch + 1,
                                 .epochs = st->epochs,
                                 .step = (size_t)st->step,
                                 .steps = (size_t)steps,
                                 .global_step = (uint64_t)st->epoch * steps + st->step,
                                 .elapsed_s = elapsed,
                                 .samples_per_s = elapsed > 0 ? (double)st->seen / elapsed : 0.0,
                                 .running_loss = st->loss_sum / (double)st->seen,
                                 .step_loss = loss,
                                 .grad_norm_w1 = cfg->progress_grad_norm ? norm(dw1, first_w) : NAN,
                                 .lr = sgd.lr};
                cfg->on_progress(cfg->ctx, &p);
            }
            bool stopping = cfg->stop && *cfg->stop && st->step < steps;
            bool periodic = cfg->checkpoint_every_steps && st->step % cfg->checkpoint_every_steps == 0 &&
                            st->step < steps;
            if (stopping || periodic) {
                double t = now_seconds();
                st->train_seconds += t - t0;
                epoch_seconds_before += t - t0;
                status = save_checkpoint(net, cfg, st);
                t0 = now_seconds();
                if (status || stopping) {
                    free(order);
                    return status ? status
                                  : bn_fail(BN_E_INTERRUPTED, "stopped at epoch %d, step %llu of %llu",
                                            st->epoch + 1, (unsigned long long)st->step,
                                            (unsigned long long)steps);
                }
            }
        }
        double seconds = now_seconds() - t0;
        st->train_seconds += seconds;
        seconds += epoch_seconds_before;

        bn_epoch_stats stats = {
            .epoch = st->epoch + 1,
            .train_loss = st->seen ? st->loss_sum / (double)st->seen : NAN,
            .train_acc = st->seen ? (double)st->correct / (double)st->seen : NAN,
            .val_loss = NAN,
            .val_acc = NAN,
            .lr = sgd.lr,
            .seconds = seconds,
            .samples_per_s = seconds > 0 ? (double)st->seen / seconds : 0.0,
        };
        stats.grad_norm_w1 = norm(dw1, first_w);

        st->epoch++;
        st->step = 0;
        st->rng = rng;
        st->loss_sum = 0.0;
        st->correct = st->seen = 0;

        if (val && val->n) {
            bn_eval ev;
            status = bn_evaluate(net, val, &ev, NULL);
            if (status) {
                free(order);
                return status;
            }
            stats.val_loss = ev.loss;
            stats.val_acc = ev.accuracy;
        }
        if (cfg->on_epoch)
            cfg->on_epoch(cfg->ctx, &stats);
        if (cfg->checkpoint_every > 0 && (st->epoch % cfg->checkpoint_every == 0 || st->epoch == st->epochs)) {
            status = save_checkpoint(net, cfg, st);
            if (status) {
                free(order);
                return status;
            }
        }
        if (cfg->stop && *cfg->stop) {
            free(order);
            if (st->epoch < st->epochs) {
                status = save_checkpoint(net, cfg, st);
                return status ? status : bn_fail(BN_E_INTERRUPTED, "stopped after epoch %d", st->epoch);
            }
            return BN_OK;
        }
    }
    free(order);
    return BN_OK;
}
