/* blasnet train's output: the live progress line and the epoch lines (bn_train's hooks, which also write the
 * logs), the run's header and recipe line, an early end, the stop hint that is the whole command to go on
 * with, and the `test:` and `train:` lines that scripts parse, last on stdout. */
#include "train_cmd.h"
#include "blasnet_comm.h"
#include "platform.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void train_on_progress(void *ctx, const bn_progress *p)
{
    train_output *out = ctx;
    train_logs_step(&out->logs, p);
    if (!out->live)
        return;
    double eta = p->step ? p->elapsed_s * (double)(p->steps - p->step) / (double)p->step : 0.0;
    fprintf(stderr, "\r\033[K  epoch %d/%d  batch %zu/%zu  %.1fs  ETA %.1fs  %.0f samples/s  loss %.4f",
            p->epoch, p->epochs, p->step, p->steps, p->elapsed_s, eta, p->samples_per_s, p->running_loss);
    if (p->step == p->steps)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

void train_on_epoch(void *ctx, const bn_epoch_stats *s)
{
    train_output *out = ctx;
    printf("epoch %3d: train loss=%.4f acc=%.2f%%", s->epoch, s->train_loss, 100.0 * s->train_acc);
    if (!isnan(s->val_acc))
        printf("  val loss=%.4f acc=%.2f%%", s->val_loss, 100.0 * s->val_acc);
    printf("  lr=%.4g  %.2f s  %.0f samples/s%s\n", s->lr, s->seconds, s->samples_per_s, s->best ? "  best" : "");
    fflush(stdout);
    train_logs_epoch(&out->logs, s);
}

void train_before_checkpoint(void *ctx)
{
    train_output *out = ctx;
    train_logs_commit(&out->logs);
}

/* The recipe in words: optimizer, schedule and regularisers, only what differs from "none". */
void format_recipe(const bn_hparams *hp, char *buf, size_t cap)
{
    size_t n = 0;
#define ADD(...) (n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__))
    ADD("%s lr %g", bn_optimizer_name(hp->opt.kind), (double)hp->opt.lr);
    if (hp->opt.kind == BN_OPT_SGD)
        ADD(", momentum %g%s", (double)hp->opt.momentum, hp->opt.nesterov ? " (nesterov)" : "");
    else
        ADD(", betas %g %g, eps %g", (double)hp->opt.beta1, (double)hp->opt.beta2, (double)hp->opt.eps);
    ADD(", weight decay %g, %s schedule", (double)hp->opt.weight_decay, bn_schedule_name(hp->schedule));
    if (hp->lr_decay != 1.0f)
        ADD(" (decay %g)", (double)hp->lr_decay);
    if (hp->warmup_steps)
        ADD(", warm-up %llu steps", (unsigned long long)hp->warmup_steps);
    if (hp->opt.clip_norm > 0.0f)
        ADD(", clip norm %g", (double)hp->opt.clip_norm);
    if (hp->dropout > 0.0f)
        ADD(", dropout %g", (double)hp->dropout);
    if (hp->patience)
        ADD(", patience %d (validation %s)", hp->patience, bn_monitor_name(hp->monitor));
    if (hp->target_acc > 0.0f)
        ADD(", target %.2f%%", 100.0 * hp->target_acc);
#undef ADD
}

/* The run in one line: the first line of stdout, and of the logs (plot's title). */
void format_run_line(const train_run *r, char *buf, size_t size)
{
    const bn_arch *arch = bn_net_arch(r->net);
    const bn_hparams *hp = &r->state.hp;
    char arch_text[256], recipe[512], epochs[32];
    bn_arch_format(arch, arch_text, sizeof arch_text);
    format_recipe(hp, recipe, sizeof recipe);
    snprintf(buf, size, "blasnet %s: %s %s, %s init, batch %d, %s, %s, seed %llu", BLASNET_VERSION, arch_text,
             bn_act_name(arch->act), bn_init_name(hp->init), hp->batch,
             cli_count(epochs, sizeof epochs, hp->epochs, "epoch"), recipe, (unsigned long long)hp->seed);
}

void print_run_header(const train_options *o, const train_run *r)
{
    const bn_train_state *s = &r->state;
    const bn_hparams *hp = &s->hp;
    char line[1024], threads[32];
    format_run_line(r, line, sizeof line);
    printf("%s\n", line);
    printf("data: %s: %zu train, %zu validation, %zu test; backend %s, %s, OpenBLAS %s kernel (%s)\n",
           data_name(&o->common), r->train.n, r->val.n, r->test.n, o->common.backend_name,
           cli_count(threads, sizeof threads, bn_get_threads(), "thread"), bn_blas_corename(),
           bn_blas_parallel() == 2 ? "OpenMP" : bn_blas_parallel() == 1 ? "pthreads" : "serial");
    printf("plans: %s; digest %016llx\n", r->plans.source, (unsigned long long)r->plans.digest);
    if (o->resume_path)
        printf("resumed from %s at epoch %d, step %llu\n", o->resume_path, s->epoch + 1,
               (unsigned long long)s->step);
    const comm_launch *l = &r->launch;
    if (l->launched)
        printf("ranks: %d (%d on this node) x %d threads, each batch of %d split into shares of %d-%d rows; %s, "
               "gradients summed %s\n",
               l->comm.size, l->local_ranks, bn_get_threads(), hp->batch, hp->batch / l->comm.size,
               (hp->batch + l->comm.size - 1) / l->comm.size, comm_launch_library(),
               l->comm.node_size <= 1                ? "by MPI_Iallreduce"
               : l->comm.size > l->comm.node_size ? "in each node's shared memory, then across nodes by MPI_Iallreduce"
                                                  : "in the node's shared memory");
    fflush(stdout);
}

/* How early stopping and the target ended the run, when they did. */
void report_early_end(const bn_train_state *s)
{
    const bn_hparams *hp = &s->hp;
    char epochs[32];
    if (s->end == BN_END_PATIENCE)
        printf("early stop: no better validation %s for %s\n", bn_monitor_name(hp->monitor),
               cli_count(epochs, sizeof epochs, hp->patience, "epoch"));
    if (s->end == BN_END_TARGET)
        printf("target: validation accuracy reached %.2f%% at epoch %d\n", 100.0 * hp->target_acc, s->epoch);
    if (hp->patience && s->best_epoch)
        printf("best: epoch %d, validation %s %.4f%s; the model has its weights\n", s->best_epoch,
               bn_monitor_name(hp->monitor), hp->monitor == BN_MONITOR_ACC ? 100.0 * s->best_metric : s->best_metric,
               hp->monitor == BN_MONITOR_ACC ? "%" : "");
}

/* bn_train's status as the line and exit code a user sees. On several ranks the status is the same on all
 * (bn_train makes every failure collective), so rank 0 alone says it. */
/* text, quoted for a shell where it needs to be, appended at buf[*at]. */
static void append_arg(char *buf, size_t size, size_t *at, const char *flag, const char *text)
{
    const char *safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=+,-@%";
    bool plain = text && text[0] && strspn(text, safe) == strlen(text);
    *at += (size_t)snprintf(buf + *at, *at < size ? size - *at : 0, " %s", flag);
    if (!text)
        return;
    *at += (size_t)snprintf(buf + *at, *at < size ? size - *at : 0, plain ? " %s" : " '", plain ? text : "");
    for (const char *c = text; !plain && *c; c++) /* ' becomes '\'' inside single quotes */
        *at += (size_t)snprintf(buf + *at, *at < size ? size - *at : 0, *c == '\'' ? "'\\''" : "%c", *c);
    if (!plain)
        *at += (size_t)snprintf(buf + *at, *at < size ? size - *at : 0, "'");
}

/* The command that continues a stopped run as it was asked for: the checkpoint, the data's files (its
 * layout is recorded), the outputs and the execution flags the user gave, which --resume all accepts. */
void format_resume_command(const train_options *o, const char *ck, char *buf, size_t size)
{
    const cli_args *a = &o->common;
    const cli_data_flags *d = &a->data;
    size_t at = (size_t)snprintf(buf, size, "blasnet train");
    append_arg(buf, size, &at, "--resume", ck);
    const struct {
        int id;
        const char *flag, *value;
    } args[] = {{OPT_DATA, "--data", a->data_dir}, {OPT_SET, "--set", d->set},
                {OPT_TRAIN_IMAGES, "--train-images", d->train_images},
                {OPT_TRAIN_LABELS, "--train-labels", d->train_labels},
                {OPT_TEST_IMAGES, "--test-images", d->test_images}, {OPT_TEST_LABELS, "--test-labels", d->test_labels},
                {OPT_TRAIN_CSV, "--train-csv", d->train_csv}, {OPT_TEST_CSV, "--test-csv", d->test_csv},
                {OPT_THREADS, "--threads", NULL}, {OPT_BACKEND, "--backend", a->backend_name},
                {OPT_PLAN, "--plan", a->plan_name}, {OPT_BLAS_CORE, "--blas-core", a->blas_core},
                {OPT_SAVE, "--save", o->save_path}, {OPT_LOG, "--log", o->log_path},
                {OPT_LOG_STEPS, "--log-steps", o->steps_path}, {OPT_QUIET, "--quiet", NULL}};
    char threads[16];
    snprintf(threads, sizeof threads, "%d", a->threads);
    for (size_t i = 0; i < ARRAY_LEN(args); i++)
        if (args_given(a, args[i].id))
            append_arg(buf, size, &at, args[i].flag, args[i].id == OPT_THREADS ? threads : args[i].value);
}

/* The last two lines of stdout, which scripts parse. */
cli_exit report_test(train_run *r, bool show_plan)
{
    bn_eval ev;
    int status = r->test.n ? bn_evaluate(r->net, &r->test, &ev, NULL) : BN_OK;
    if (status)
        return runtime_error("train", status, NULL);
    char plan[8192];
    if (show_plan && bn_net_plan_format(r->net, plan, sizeof plan))
        fputs(plan, stdout);
    const bn_train_state *s = &r->state;
    char epochs[32];
    if (r->test.n)
        printf("test: loss=%.4f acc=%.2f%% n=%zu\n", ev.loss, 100.0 * ev.accuracy, ev.n);
    else
        printf("test: none (no labelled test set: the validation figures above are the estimate)\n");
    printf("train: %.1f s, %.0f samples/s, %s", s->train_seconds,
           s->train_seconds > 0 ? (double)s->samples / s->train_seconds : 0.0,
           cli_count(epochs, sizeof epochs, s->epoch, "epoch"));
    if (s->end == BN_END_TARGET)
        printf(", %.2f%% validation accuracy after %.1f s", 100.0 * s->hp.target_acc, s->target_seconds);
    printf("\n");
    return EXIT_OK;
}
