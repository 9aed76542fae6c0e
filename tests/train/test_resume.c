/* Checkpoint during training and resume exactly: a run stopped anywhere (mid-epoch, at an epoch boundary, by
 * SIGTERM, by SIGKILL between periodic checkpoints) and resumed must end with bitwise the same weights and
 * momentum as the run that was never stopped, at the same seed and thread count. Divergence must stop the
 * run with a message naming epoch and step, and must leave the last good checkpoint untouched. */
#include "harness.h"
#include "net.h"
#include "recipe_equal.h"
#include "idx_write.h"

#include "blasnet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROWS 8
#define COLS 8
#define CLASSES 4
#define SAMPLES 200 /* batch 16: 12 full steps and a partial one of 8 per epoch */
#define STEPS_PER_EPOCH 13

static char tmpdir[256];

typedef struct {
    float *params, *velocity;
    size_t count;
} snapshot;

static snapshot take(bn_net *net)
{
    snapshot s;
    size_t n;
    const float *p = bn_net_params(net, &n), *v = bn_net_velocity(net, &n);
    s.count = n;
    s.params = malloc(n * sizeof(float));
    s.velocity = malloc(n * sizeof(float));
    memcpy(s.params, p, n * sizeof(float));
    memcpy(s.velocity, v, n * sizeof(float));
    return s;
}

static bool same(const snapshot *a, const snapshot *b)
{
    return a->count == b->count && memcmp(a->params, b->params, a->count * sizeof(float)) == 0 &&
           memcmp(a->velocity, b->velocity, a->count * sizeof(float)) == 0;
}

static void drop(snapshot *s)
{
    free(s->params);
    free(s->velocity);
}

static bn_dataset make_data(size_t n, uint64_t seed)
{
    uint8_t *pixels = malloc(n * ROWS * COLS), *labels = malloc(n);
    idxw_synth(pixels, labels, n, ROWS, COLS, CLASSES, seed);
    return (bn_dataset){.pixels = pixels, .labels = labels, .n = n, .rows = ROWS, .cols = COLS, .dim = ROWS * COLS};
}

static void free_data(bn_dataset *d)
{
    free((void *)d->pixels);
    free((void *)d->labels);
}

/* A run that has not started: bn_train draws its weights from hp. */
static bn_train_state fresh_state(void)
{
    bn_train_state st;
    bn_train_state_init(&st);
    st.hp.epochs = 3;
    st.hp.batch = 16;
    st.hp.opt = (bn_optim){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f, .nesterov = true};
    st.hp.lr_decay = 0.9f;
    st.hp.seed = 7;
    st.hp.init = BN_INIT_XAVIER;
    return st;
}

static bn_net *fresh_net(const bn_train_state *st)
{
    bn_arch arch = {.act = BN_ACT_TANH};
    bn_arch_parse_sizes(&arch, "64,24,16,4");
    bn_net *net = NULL;
    CHECK(bn_net_create(&net, &arch, st->hp.batch, bn_backend_find("blas")) == BN_OK);
    return net;
}

/* ---- library level ----------------------------------------------------------------------------------- */
typedef struct {
    volatile int stop;
    uint64_t stop_at;   /* set stop at this global step (0: never) */
    const char *ck;     /* copy the checkpoint file aside at copy_at, as a SIGKILL there would leave it */
    uint64_t copy_at;
    char copy_path[512];
    bn_net *net;        /* poison the weights with NaN at poison_at */
    uint64_t poison_at;
} hooks;

static bool copy_file(const char *from, const char *to)
{
    size_t size;
    uint8_t *bytes = idxw_read_all(from, &size);
    bool ok = bytes && idxw_write_bytes(to, bytes, size) == 0;
    free(bytes);
    return ok;
}

static void on_progress(void *ctx, const bn_progress *p)
{
    hooks *h = ctx;
    if (h->stop_at && p->global_step == h->stop_at)
        h->stop = 1;
    if (h->copy_at && p->global_step == h->copy_at)
        CHECK(copy_file(h->ck, h->copy_path));
    if (h->poison_at && p->global_step == h->poison_at) {
        CHECK(copy_file(h->ck, h->copy_path));
        bn_net_weight(h->net, 1)[3] = NAN;
    }
}

static snapshot uninterrupted(const bn_dataset *train, const bn_dataset *val)
{
    bn_train_state st = fresh_state();
    bn_net *net = fresh_net(&st);
    CHECK(bn_train(net, train, val, NULL, &st) == BN_OK);
    CHECK(st.epoch == 3 && st.step == 0);
    snapshot s = take(net);
    bn_net_destroy(&net);
    return s;
}

/* Resumes from the checkpoint at path to the end; returns the final weights. */
static snapshot resume_from(const char *path, const bn_dataset *train, const bn_dataset *val, int want_epoch,
                            uint64_t want_step)
{
    bn_net *net = NULL;
    bn_train_state st;
    int status = bn_checkpoint_load(&net, &st, path, 0, bn_backend_find("blas"));
    CHECKF(status == BN_OK, "load '%s': %s", path, bn_errmsg());
    if (status)
        return (snapshot){0};
    CHECKF(st.epoch == want_epoch && st.step == want_step, "checkpoint at epoch %d step %llu, want %d step %llu",
           st.epoch, (unsigned long long)st.step, want_epoch, (unsigned long long)want_step);
    CHECK(bn_train(net, train, val, NULL, &st) == BN_OK);
    snapshot s = take(net);
    bn_net_destroy(&net);
    return s;
}

/* A run from st whose stop flag is raised after global step stop_at: bn_train writes the checkpoint ck and
 * returns BN_E_INTERRUPTED. */
static void train_until_stopped(const bn_dataset *train, const bn_dataset *val, bn_train_state st, const char *ck,
                                uint64_t stop_at, const char *what)
{
    hooks h = {.stop_at = stop_at};
    const bn_train_hooks cfg = {
        .on_progress = on_progress, .progress_every = 1, .ctx = &h, .stop = &h.stop, .checkpoint_path = ck};
    bn_net *net = fresh_net(&st);
    int status = bn_train(net, train, val, &cfg, &st);
    CHECKF(status == BN_E_INTERRUPTED, "%sstop at step %llu: status %d (%s)", what, (unsigned long long)stop_at,
           status, bn_errmsg());
    bn_net_destroy(&net);
}

static void stop_and_resume(const bn_dataset *train, const bn_dataset *val, const snapshot *want, uint64_t stop_at)
{
    char ck[512];
    snprintf(ck, sizeof ck, "%s/stop-%llu.ck", tmpdir, (unsigned long long)stop_at);
    train_until_stopped(train, val, fresh_state(), ck, stop_at, "");
    /* Stopping on an epoch's last step finishes that epoch, so the checkpoint says "epoch+1, step 0". */
    int epoch = (int)(stop_at / STEPS_PER_EPOCH);
    uint64_t step = stop_at % STEPS_PER_EPOCH;
    snapshot got = resume_from(ck, train, val, epoch, step);
    CHECKF(got.params && same(&got, want), "stopped at global step %llu and resumed: weights differ from the "
                                           "uninterrupted run", (unsigned long long)stop_at);
    drop(&got);
}

/* A resumed epoch's rate counts the samples trained since the resume, over the seconds since the resume: it
 * divided the whole epoch's samples by those seconds (263,571 samples/s on a run that trained 30,000). */
typedef struct {
    bn_progress first_progress;
    bn_epoch_stats first_epoch;
    int progress_calls, epoch_calls;
} rate_seen;

static void on_rate_progress(void *ctx, const bn_progress *p)
{
    rate_seen *r = ctx;
    if (!r->progress_calls++)
        r->first_progress = *p;
}

static void on_rate_epoch(void *ctx, const bn_epoch_stats *s)
{
    rate_seen *r = ctx;
    if (!r->epoch_calls++)
        r->first_epoch = *s;
}

static void resumed_rate_counts_its_own_samples(const bn_dataset *train, const bn_dataset *val)
{
    enum { STOP_STEP = 5, BATCH = 16 };
    char ck[512];
    snprintf(ck, sizeof ck, "%s/rate.ck", tmpdir);
    train_until_stopped(train, val, fresh_state(), ck, STEPS_PER_EPOCH + STOP_STEP, "rate, ");
    bn_net *net = NULL;
    bn_train_state st;
    CHECK(bn_checkpoint_load(&net, &st, ck, 0, bn_backend_find("blas")) == BN_OK);
    if (!net)
        return;
    CHECK(st.hp.batch == BATCH && st.step == STOP_STEP);
    rate_seen seen = {0};
    const bn_train_hooks cfg = {.on_progress = on_rate_progress, .progress_every = 1, .on_epoch = on_rate_epoch,
                                .ctx = &seen};
    CHECK(bn_train(net, train, val, &cfg, &st) == BN_OK);
    const bn_progress *p = &seen.first_progress;
    const bn_epoch_stats *e = &seen.first_epoch;
    double since = (double)(p->step - STOP_STEP) * BATCH, epoch_since = SAMPLES - STOP_STEP * BATCH;
    CHECKF(p->step == STOP_STEP + 1 && fabs(p->samples_per_s * p->elapsed_s - since) <= 1e-9 * since,
           "the first step after the resume: %g samples/s over %g s is %g samples, want %g", p->samples_per_s,
           p->elapsed_s, p->samples_per_s * p->elapsed_s, since);
    CHECKF(e->epoch == 2 && fabs(e->samples_per_s * e->seconds - epoch_since) <= 1e-9 * epoch_since,
           "the resumed epoch: %g samples/s over %g s is %g samples, want the %g trained since the resume",
           e->samples_per_s, e->seconds, e->samples_per_s * e->seconds, epoch_since);
    bn_net_destroy(&net);
}

/* Resuming on a training set of another size would silently change the run: it must be refused. */
static void resume_on_other_data_is_refused(const bn_dataset *train, const bn_dataset *val)
{
    char ck[512];
    snprintf(ck, sizeof ck, "%s/stop-5.ck", tmpdir); /* written by stop_and_resume(..., 5) */
    bn_net *net = NULL;
    bn_train_state st;
    CHECK(bn_checkpoint_load(&net, &st, ck, 0, bn_backend_find("blas")) == BN_OK);
    CHECK(st.train_n == SAMPLES);
    bn_dataset fewer = bn_dataset_slice(train, 0, SAMPLES - 1);
    int status = bn_train(net, &fewer, val, NULL, &st);
    CHECKF(status == BN_E_MISMATCH && strstr(bn_errmsg(), "same data"), "resume on 199 samples: status %d (%s)",
           status, bn_errmsg());
    bn_net_destroy(&net);
}

/* A SIGKILL between periodic checkpoints leaves the last one: resuming from it must still end identically. */
static void killed_between_checkpoints(const bn_dataset *train, const bn_dataset *val, const snapshot *want)
{
    char ck[512];
    snprintf(ck, sizeof ck, "%s/periodic.ck", tmpdir);
    hooks h = {.ck = ck, .copy_at = 22}; /* epoch 2, two steps after its step-8 checkpoint */
    snprintf(h.copy_path, sizeof h.copy_path, "%s/as-killed.ck", tmpdir);
    const bn_train_hooks cfg = {.on_progress = on_progress, .progress_every = 1, .ctx = &h, .checkpoint_path = ck,
                                .checkpoint_every = 1, .checkpoint_every_steps = 4};
    bn_train_state st = fresh_state();
    bn_net *net = fresh_net(&st);
    CHECK(bn_train(net, train, val, &cfg, &st) == BN_OK);
    snapshot full = take(net);
    CHECKF(same(&full, want), "checkpointing every 4 steps changed the run");
    drop(&full);
    bn_net_destroy(&net);
    snapshot got = resume_from(h.copy_path, train, val, 1, 8);
    CHECKF(got.params && same(&got, want), "resumed from the checkpoint a SIGKILL would leave: weights differ");
    drop(&got);
}

static void divergence_keeps_last_good(const bn_dataset *train, const bn_dataset *val)
{
    char ck[512];
    snprintf(ck, sizeof ck, "%s/diverge.ck", tmpdir);
    bn_train_state st = fresh_state();
    bn_net *net = fresh_net(&st);
    hooks h = {.ck = ck, .net = net, .poison_at = STEPS_PER_EPOCH + 5};
    snprintf(h.copy_path, sizeof h.copy_path, "%s/diverge-before.ck", tmpdir);
    const bn_train_hooks cfg = {.on_progress = on_progress, .progress_every = 1, .ctx = &h, .checkpoint_path = ck,
                                .checkpoint_every = 1};
    int status = bn_train(net, train, val, &cfg, &st);
    CHECKF(status == BN_E_DIVERGED, "NaN weights: status %d (%s)", status, bn_errmsg());
    const char *msg = bn_errmsg();
    CHECKF(strstr(msg, "NaN") && strstr(msg, "epoch 2") && strstr(msg, "step 6") && strstr(msg, "--lr"),
           "divergence message: %s", msg);
    bn_net_destroy(&net);
    size_t a_size, b_size;
    uint8_t *a = idxw_read_all(ck, &a_size), *b = idxw_read_all(h.copy_path, &b_size);
    CHECKF(a && b && a_size == b_size && memcmp(a, b, a_size) == 0,
           "the last good checkpoint changed after the run diverged");
    free(a);
    free(b);
    bn_train_state back;
    CHECK(bn_checkpoint_load(&net, &back, ck, 0, bn_backend_find("blas")) == BN_OK && back.epoch == 1);
    bn_net_destroy(&net);
}

/* ---- library level: the whole recipe ------------------------------------------------------------------
 * Adam with decay, dropout 0.2, a cosine schedule after a warm-up, a clip that bites on some steps, and
 * patience on a validation set with a third of its labels wrong (so the run ends early): stopped anywhere and
 * resumed, it must end with the same weights, both moments, best weights and state as the run never stopped. */
typedef struct {
    float *blocks[4]; /* params, velocity (first moment), second moment, best weights */
    size_t count;
    bn_train_state st;
    int clipped, unclipped; /* steps whose gradient norm was above, below the clip */
} recipe_end;

static bn_train_state recipe_state(void)
{
    bn_train_state st = fresh_state();
    st.hp.epochs = 8;
    st.hp.opt = (bn_optim){.kind = BN_OPT_ADAM, .lr = 0.001f, .weight_decay = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f,
                           .eps = 1e-8f, .clip_norm = 1.0f};
    st.hp.lr_decay = 1.0f;
    st.hp.schedule = BN_SCHED_COSINE;
    st.hp.warmup_steps = 8;
    st.hp.lr_min = 1e-4f;
    st.hp.dropout = 0.2f;
    st.hp.patience = 2;
    return st;
}

static recipe_end take_end(bn_net *net, const bn_train_state *st)
{
    float *(*const get[4])(bn_net *, size_t *) = {bn_net_params, bn_net_velocity, bn_net_moment2,
                                                  bn_net_best_params};
    recipe_end e = {.st = *st};
    for (int k = 0; k < 4; k++) {
        const float *b = get[k](net, &e.count);
        e.blocks[k] = malloc(e.count * sizeof(float));
        if (e.blocks[k])
            memcpy(e.blocks[k], b, e.count * sizeof(float));
    }
    return e;
}

/* The blocks and every field of the state but the clock's (train_seconds, target_seconds). */
static bool same_end(const recipe_end *a, const recipe_end *b)
{
    bool same = a->count == b->count;
    for (int k = 0; k < 4 && same; k++)
        same = a->blocks[k] && b->blocks[k] && memcmp(a->blocks[k], b->blocks[k], a->count * sizeof(float)) == 0;
    const bn_train_state *x = &a->st, *y = &b->st;
    return same && recipe_difference(&x->hp, &y->hp) == NULL && x->epoch == y->epoch && x->step == y->step &&
           memcmp(&x->rng, &y->rng, sizeof x->rng) == 0 && x->loss_sum == y->loss_sum && x->correct == y->correct &&
           x->seen == y->seen && x->samples == y->samples && x->train_n == y->train_n &&
           x->best_epoch == y->best_epoch && x->best_metric == y->best_metric && x->bad_epochs == y->bad_epochs &&
           x->end == y->end;
}

static void drop_end(recipe_end *e)
{
    for (int k = 0; k < 4; k++)
        free(e->blocks[k]);
}

static void count_clipping(void *ctx, const bn_progress *p)
{
    recipe_end *e = ctx;
    const float clip = recipe_state().hp.opt.clip_norm;
    e->clipped += p->grad_norm > clip;
    e->unclipped += p->grad_norm <= clip;
}

static recipe_end recipe_uninterrupted(const bn_dataset *train, const bn_dataset *val)
{
    bn_train_state st = recipe_state();
    bn_net *net = fresh_net(&st);
    recipe_end counts = {.count = 0};
    const bn_train_hooks cfg = {.on_progress = count_clipping, .progress_every = 1, .ctx = &counts};
    CHECKF(bn_train(net, train, val, &cfg, &st) == BN_OK, "%s", bn_errmsg());
    /* The recipe exercises what it says: patience ends the run after a best epoch, and the clip bites on some
     * steps and not on others. */
    CHECKF(st.end == BN_END_PATIENCE && st.best_epoch > 1 && st.epoch < st.hp.epochs, "recipe run: end %d after "
           "%d epochs, best %d", (int)st.end, st.epoch, st.best_epoch);
    CHECKF(counts.clipped > 0 && counts.unclipped > 0, "recipe run: %d steps clipped, %d not", counts.clipped,
           counts.unclipped);
    recipe_end e = take_end(net, &st);
    bn_net_destroy(&net);
    return e;
}

static void recipe_stop_and_resume(const bn_dataset *train, const bn_dataset *val, const recipe_end *want,
                                   uint64_t stop_at)
{
    char ck[512];
    snprintf(ck, sizeof ck, "%s/recipe-%llu.ck", tmpdir, (unsigned long long)stop_at);
    train_until_stopped(train, val, recipe_state(), ck, stop_at, "recipe, ");
    bn_net *net = NULL;
    bn_train_state st;
    int status = bn_checkpoint_load(&net, &st, ck, 0, bn_backend_find("blas"));
    CHECKF(status == BN_OK, "load '%s': %s", ck, bn_errmsg());
    if (status)
        return;
    CHECK(st.epoch == (int)(stop_at / STEPS_PER_EPOCH) && st.step == stop_at % STEPS_PER_EPOCH);
    CHECKF(bn_train(net, train, val, NULL, &st) == BN_OK, "%s", bn_errmsg());
    recipe_end got = take_end(net, &st);
    CHECKF(same_end(&got, want), "recipe stopped at global step %llu and resumed: weights, moments, best weights "
           "or state differ from the uninterrupted run", (unsigned long long)stop_at);
    drop_end(&got);
    bn_net_destroy(&net);
}

static void recipe_resumes_exactly(const bn_dataset *train, const bn_dataset *val)
{
    bn_dataset noisy = make_data(val->n, 4);
    for (size_t i = 0; i < noisy.n; i += 3)
        ((uint8_t *)noisy.labels)[i] = (uint8_t)((noisy.labels[i] + 1) % CLASSES);
    recipe_end want = recipe_uninterrupted(train, &noisy);
    const uint64_t last = (uint64_t)want.st.epoch * STEPS_PER_EPOCH;
    /* in the warm-up, mid-epoch before and after the first best epoch, an epoch's last step, the last epoch */
    const uint64_t stops[] = {3, 9, STEPS_PER_EPOCH + 6, 2 * STEPS_PER_EPOCH, 3 * STEPS_PER_EPOCH + 2, last - 4};
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++)
        if (stops[k] < last)
            recipe_stop_and_resume(train, &noisy, &want, stops[k]);
    drop_end(&want);
    free_data(&noisy);
}

/* ---- CLI level: real signals --------------------------------------------------------------------------- */
static int run_cli(char *const argv[], int kill_signal, int kill_after_ms, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execv(BN_BLASNET_EXE, argv);
        _exit(127);
    }
    if (kill_signal) {
        struct timespec ts = {.tv_sec = kill_after_ms / 1000, .tv_nsec = (long)(kill_after_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, kill_signal);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static snapshot load_weights(const char *path)
{
    bn_net *net = NULL;
    if (bn_checkpoint_load(&net, NULL, path, 1, bn_backend_find("blas")) != BN_OK) {
        CHECKF(false, "cannot load '%s': %s", path, bn_errmsg());
        return (snapshot){0};
    }
    snapshot s = take(net);
    bn_net_destroy(&net);
    return s;
}

static bool file_contains(const char *path, const char *needle)
{
    size_t size;
    uint8_t *text = idxw_read_all(path, &size);
    if (!text)
        return false;
    char *z = realloc(text, size + 1);
    if (!z) {
        free(text);
        return false;
    }
    z[size] = '\0';
    bool found = strstr(z, needle) != NULL;
    free(z);
    return found;
}

static void cli_signals(void)
{
    char data[512], ck[600], full[600], resumed[600], err[600];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    mkdir(data, 0755);
    CHECK(idxw_write_synth_pair(data, "train", 1200, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 100, 28, 28, 10, 2) == 0);
    snprintf(ck, sizeof ck, "%s/cli.ck", tmpdir);
    snprintf(full, sizeof full, "%s/full.model", tmpdir);
    snprintf(resumed, sizeof resumed, "%s/resumed.model", tmpdir);
    snprintf(err, sizeof err, "%s/stderr.txt", tmpdir);

    char *uninterrupted_argv[] = {"blasnet", "train", "--data", data, "--epochs", "40", "--hidden", "24",
                                  "--batch", "32", "--threads", "1", "--quiet", "--save", full, NULL};
    CHECK(run_cli(uninterrupted_argv, 0, 0, err) == 0);
    snapshot want = load_weights(full);

    /* SIGTERM: finish the step, write the checkpoint, say where, exit 143; --resume ends identically. */
    char *interrupted_argv[] = {"blasnet", "train", "--data", data, "--epochs", "40", "--hidden", "24", "--batch",
                                "32", "--threads", "1", "--quiet", "--checkpoint", ck, "--checkpoint-steps", "5",
                                NULL};
    int rc = run_cli(interrupted_argv, SIGTERM, 300, err);
    CHECKF(rc == 143, "SIGTERM: exit %d, want 143", rc);
    CHECKF(file_contains(err, "checkpoint written to") && file_contains(err, "--resume"),
           "SIGTERM message does not say where the checkpoint is");
    char *resume_argv[] = {"blasnet", "train", "--data", data, "--resume", ck, "--threads", "1", "--quiet",
                           "--save", resumed, NULL};
    rc = run_cli(resume_argv, 0, 0, err);
    CHECKF(rc == 0, "--resume after SIGTERM: exit %d", rc);
    snapshot got = load_weights(resumed);
    CHECKF(got.params && want.params && same(&got, &want), "SIGTERM + --resume: weights differ from the "
                                                           "uninterrupted run");
    drop(&got);

    /* SIGINT: exit 130. */
    rc = run_cli(interrupted_argv, SIGINT, 300, err);
    CHECKF(rc == 130, "SIGINT: exit %d, want 130", rc);

    /* SIGKILL at an arbitrary moment: whatever checkpoint is on disk loads, and resuming from it ends
     * identically. Several moments, so some land inside a checkpoint write. */
    for (int ms = 150; ms <= 750; ms += 150) {
        unlink(ck);
        rc = run_cli(interrupted_argv, SIGKILL, ms, err);
        if (rc == 0) /* finished before the kill: nothing to check at this moment */
            continue;
        CHECKF(rc == 128 + SIGKILL, "SIGKILL run exited %d", rc);
        if (access(ck, F_OK) != 0)
            continue; /* killed before the first checkpoint */
        rc = run_cli(resume_argv, 0, 0, err);
        /* Killed after the last epoch's checkpoint, before exit: the run is finished, and a resume is refused
         * by design (exit 2, "finished run"); the checkpoint itself holds the uninterrupted run's weights. */
        bool finished = rc == 2 && file_contains(err, "finished run");
        CHECKF(rc == 0 || finished, "--resume after SIGKILL at %d ms: exit %d", ms, rc);
        got = load_weights(finished ? ck : resumed);
        CHECKF(got.params && same(&got, &want), "SIGKILL at %d ms + --resume: weights differ", ms);
        drop(&got);
    }
    drop(&want);

    /* Divergence through the CLI: exit 1 with one line naming epoch and step. SGD: Adam's step is bounded by
     * its rate whatever the gradient, so a huge rate does not make its loss NaN as fast. */
    char *diverge_argv[] = {"blasnet", "train", "--data", data, "--epochs", "2", "--hidden", "24", "--optimizer", "sgd",
                            "--lr", "1e6", "--act", "leaky_relu", "--threads", "1", "--quiet", NULL};
    rc = run_cli(diverge_argv, 0, 0, err);
    CHECKF(rc == 1, "--lr 1e6: exit %d, want 1", rc);
    CHECKF(file_contains(err, "epoch") && file_contains(err, "step") && file_contains(err, "lower the learning rate"),
           "divergence message lacks epoch, step or advice");
}

int main(void)
{
    if (!bn_test_tmpdir(tmpdir, sizeof tmpdir, "resume"))
        return 1;
    bn_dataset train = make_data(SAMPLES, 3), val = make_data(40, 4);
    snapshot want = uninterrupted(&train, &val);
    for (uint64_t at = 1; at <= 3 * STEPS_PER_EPOCH - 1; at += 4) /* mid-epoch, both epochs' edges */
        stop_and_resume(&train, &val, &want, at);
    stop_and_resume(&train, &val, &want, STEPS_PER_EPOCH);     /* an epoch's last step */
    stop_and_resume(&train, &val, &want, STEPS_PER_EPOCH + 1); /* the first step of the next */
    resume_on_other_data_is_refused(&train, &val);
    resumed_rate_counts_its_own_samples(&train, &val);
    killed_between_checkpoints(&train, &val, &want);
    divergence_keeps_last_good(&train, &val);
    recipe_resumes_exactly(&train, &val);
    drop(&want);
    free_data(&train);
    free_data(&val);
    bn_test_case("through the CLI: SIGTERM, SIGINT and SIGKILL, then --resume", cli_signals);
    bn_test_remove_tree(tmpdir);
    return bn_test_exit("resume");
}
