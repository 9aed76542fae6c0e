/* blasnet train: parse and range-check flags, load data, build the network, train with a live progress line
 * on a terminal, and end with the `test:` and `train:` lines that scripts parse. */
#include "cli.h"
#include "train_logs.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: blasnet train [options]\n"
    "\n"
    "data\n"
    DATA_FLAGS_USAGE
    "  --val N               validation samples taken from the end of the training file\n"
    "                        (default: 10000 for 60000 images, else a sixth)\n"
    "  --classes N           number of classes (default: largest training label + 1)\n"
    "model\n"
    "  --hidden LIST         hidden widths, e.g. 512,256 (default: 512); input and output sizes from the data\n"
    "  --layers LIST         the full architecture, e.g. 784,512,256,10 (instead of --hidden)\n"
    "  --act NAME            relu | leaky_relu | sigmoid | tanh | swish | selu (default: relu)\n"
    "  --leaky-slope F       slope of leaky_relu for negative inputs, [0, 1) (default: 0.01)\n"
    "  --init NAME           he | xavier | lecun | normal (default: he)\n"
    "  --init-std F          standard deviation for --init normal (default: 0.01)\n"
    "optimisation (defaults: the recipe in the README, reaching 98% on MNIST in 3 epochs)\n"
    "  --epochs N            passes over the training set (default: 3)\n"
    "  --batch N             minibatch size (default: 64)\n"
    "  --optimizer NAME      sgd | adam | adamw (default: adam)\n"
    "  --lr F                peak learning rate (default: 0.004 for adam and adamw, 0.05 for sgd)\n"
    "  --momentum F          sgd: momentum in [0, 1) (default: 0.9)\n"
    "  --nesterov            sgd: Nesterov momentum\n"
    "  --beta1 F, --beta2 F  adam, adamw: moment decay rates in [0, 1) (default: 0.9, 0.999)\n"
    "  --eps F               adam, adamw: added to the denominator (default: 1e-8)\n"
    "  --weight-decay F      lambda on weights, not biases: sgd and adam add lambda W to the gradient (L2,\n"
    "                        loss + lambda/2 ||W||^2); adamw shrinks W by lr lambda W apart from it (default: 0)\n"
    "  --clip-norm C         scale the batch gradient to global L2 norm C when it is larger (default: off)\n"
    "  --schedule NAME       constant | step | cosine | onecycle: the rate, moved every step (default: onecycle)\n"
    "  --warmup N            steps of linear warm-up; onecycle: its rising phase (default: 0; onecycle 30%)\n"
    "  --lr-decay F          constant: multiply the rate by F after each epoch; step: after every\n"
    "                        --step-epochs epochs, (0, 1] (default: 1)\n"
    "  --step-epochs N       step: epochs between decays (default: 1)\n"
    "  --lr-min F            cosine: the rate at the end (default: 0)\n"
    "  --dropout P           drop hidden units with probability P in training, [0, 1) (default: 0)\n"
    "  --patience N          stop after N epochs without a better validation --monitor; end with the best\n"
    "                        epoch's weights (default: off)\n"
    "  --monitor NAME        loss | acc: what --patience watches (default: loss)\n"
    "  --target-acc P        stop at the first epoch whose validation accuracy reaches P (0.98 or 98)\n"
    "  --seed N              seed for initialisation, shuffling and dropout (default: 1)\n"
    ;
static const char usage_more[] =
    "execution\n"
    "  --threads N           OpenMP and OpenBLAS threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "  --backend NAME        blas | naive | naive-omp (default: blas)\n"
    "  --blas-core CORE      default (keep OPENBLAS_CORETYPE when set, else the best kernel for this CPU) |\n"
    "                        env (keep what OpenBLAS loaded) | auto (best kernel for this CPU) | a core name\n"
    "                        such as Haswell or SkylakeX; re-executes blasnet with the variable set\n"
    "  --plan MODE           how each matrix product is spread over the threads: estimate (default: a cost\n"
    "                        model, the same on every run) | measure (time the candidates at start; may\n"
    "                        change the last bits between runs) | one | library | rows | cols | tiles | k\n"
    "                        (blasnet info --plan shows the plan)\n"
    "  --show-plan           print the run's plans before the test: line, with the batch sizes planned\n"
    "output\n"
    "  --log FILE            per-epoch metrics as CSV\n"
    "  --log-steps FILE      per-step metrics as CSV (every --log-every steps)\n"
    "  --log-every K         steps between progress updates and --log-steps rows (default: 10)\n"
    "  --save FILE           write the trained model (atomically)\n"
    "  --quiet               no progress line, even on a terminal\n"
    "checkpoints\n"
    "  --checkpoint FILE     write a checkpoint (weights, momentum, RNG, progress) atomically to FILE\n"
    "  --checkpoint-every N  ... every N epochs (default 1 with --checkpoint); SIGINT/SIGTERM also writes it\n"
    "  --checkpoint-steps N  ... and every N steps within an epoch (default: never)\n"
    "  --resume FILE         continue the run stored in FILE; only --epochs, --data, --threads, --backend,\n"
    "                        --plan, logs, --save and checkpoint flags may be given with it\n"
    "\n"
    "stdout: one line per epoch, then `test: loss=L acc=A% n=N` and `train: S s, R samples/s, E epochs` (with\n"
    "--target-acc reached: `, P% validation accuracy after T s`).\n"
    "exit status: 0 done, 1 runtime error (data, I/O, divergence), 2 usage error.\n";

/* The options a checkpoint fixes are numbered together, OPT_VAL..OPT_SEED, so --resume refuses them as a
 * range. */
enum {
    OPT_VAL = OPT_COMMAND_FIRST, OPT_CLASSES, OPT_HIDDEN, OPT_LAYERS, OPT_ACT, OPT_LEAKY, OPT_INIT, OPT_INIT_STD,
    OPT_BATCH, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_WD, OPT_CLIP,
    OPT_SCHEDULE, OPT_WARMUP, OPT_LR_DECAY, OPT_STEP_EPOCHS, OPT_LR_MIN, OPT_DROPOUT, OPT_PATIENCE, OPT_MONITOR,
    OPT_TARGET, OPT_SEED,
    OPT_EPOCHS, OPT_LOG, OPT_LOG_STEPS, OPT_LOG_EVERY, OPT_SAVE, OPT_QUIET, OPT_CHECKPOINT, OPT_CHECKPOINT_EVERY,
    OPT_CHECKPOINT_STEPS, OPT_RESUME, OPT_SHOW_PLAN
};

typedef struct {
    cli_args common; /* --data, --threads, --backend, --blas-core, and which flags were given */
    const char *hidden, *layers, *act, *init_name, *log_path, *steps_path, *save_path, *checkpoint_path;
    const char *resume_path, *optimizer, *schedule, *monitor;
    int classes, val, log_every, checkpoint_every;
    uint64_t checkpoint_steps;
    bool quiet, show_plan;
    float leaky_slope;
    bn_hparams hp; /* the run's recipe: flags write into it, names are parsed into it by check_options */
} train_options;

#define MAX_BATCH (1 << 20)
/* Step counts a flag may give (--warmup, --checkpoint-steps): 2^40 steps is decades of training. */
#define MAX_STEP_COUNT ((uint64_t)1 << 40)

/* arch <- inputs, the widths in `hidden`, classes; or a usage line naming --hidden. */
static cli_exit hidden_sizes(const char *hidden, int inputs, int classes, bn_arch *arch)
{
    char list[4096];
    if ((size_t)snprintf(list, sizeof list, "%d,%s,%d", inputs, hidden, classes) >= sizeof list)
        return cli_error(EXIT_USAGE, "train",
                         "--hidden: the list is %zu characters long; write the widths without padding", strlen(hidden));
    if (bn_arch_parse_sizes(arch, list))
        return cli_error(EXIT_USAGE, "train", "--hidden: %s", bn_errmsg());
    return EXIT_OK;
}

static void set_defaults(train_options *o)
{
    *o = (train_options){.act = "relu", .leaky_slope = 0.01f, .log_every = 10};
    bn_hparams_default(&o->hp);
    o->init_name = bn_init_name(o->hp.init);
    o->optimizer = bn_optimizer_name(o->hp.opt.kind);
    o->schedule = bn_schedule_name(o->hp.schedule);
    o->monitor = bn_monitor_name(o->hp.monitor);
}

/* The flags that mean something for one optimizer or schedule only: given with another, they would be
 * silently ignored, so they are refused. */
static cli_exit check_recipe_flags(train_options *o)
{
    const char *cmd = "train";
    const cli_args *a = &o->common;
    bn_hparams *hp = &o->hp;
    const bool sgd = hp->opt.kind == BN_OPT_SGD;
    static const int sgd_only[] = {OPT_MOMENTUM, OPT_NESTEROV}, adam_only[] = {OPT_BETA1, OPT_BETA2, OPT_EPS};
    for (size_t i = 0; !sgd && i < ARRAY_LEN(sgd_only); i++)
        if (args_given(a, sgd_only[i]))
            return cli_error(EXIT_USAGE, cmd, "--%s applies to --optimizer sgd only", args_option_name(a, sgd_only[i]));
    for (size_t i = 0; sgd && i < ARRAY_LEN(adam_only); i++)
        if (args_given(a, adam_only[i]))
            return cli_error(EXIT_USAGE, cmd, "--%s applies to --optimizer adam or adamw only",
                             args_option_name(a, adam_only[i]));
    const bool decays = hp->schedule == BN_SCHED_CONSTANT || hp->schedule == BN_SCHED_STEP;
    if (!decays && args_given(a, OPT_LR_DECAY))
        return cli_error(EXIT_USAGE, cmd, "--lr-decay applies to --schedule constant or step; %s sets its own decay",
                         o->schedule);
    if (hp->schedule != BN_SCHED_STEP && args_given(a, OPT_STEP_EPOCHS))
        return cli_error(EXIT_USAGE, cmd, "--step-epochs applies to --schedule step only");
    if (hp->schedule != BN_SCHED_COSINE && args_given(a, OPT_LR_MIN))
        return cli_error(EXIT_USAGE, cmd, "--lr-min applies to --schedule cosine only");
    if (!hp->patience && args_given(a, OPT_MONITOR))
        return cli_error(EXIT_USAGE, cmd, "--monitor says what --patience watches: give --patience N too");
    if (!args_given(a, OPT_LR)) /* each optimizer's own rate: one's default would make the other crawl or diverge */
        hp->opt.lr = sgd ? BN_DEFAULT_SGD_LR : BN_DEFAULT_ADAM_LR;
    if (hp->lr_min > hp->opt.lr)
        return cli_error(EXIT_USAGE, cmd, "--lr-min %g is above the peak rate --lr %g", (double)hp->lr_min,
                         (double)hp->opt.lr);
    if (hp->target_acc > 1.0f)
        hp->target_acc /= 100.0f; /* 98 means 98% */
    return EXIT_OK;
}

/* The names of the recipe, parsed into it. */
static cli_exit parse_recipe_names(train_options *o)
{
    const char *cmd = "train";
    if (bn_init_parse(&o->hp.init, o->init_name))
        return cli_error(EXIT_USAGE, cmd, "--init: %s", bn_errmsg());
    if (bn_optimizer_parse(&o->hp.opt.kind, o->optimizer))
        return cli_error(EXIT_USAGE, cmd, "--optimizer: %s", bn_errmsg());
    if (bn_schedule_parse(&o->hp.schedule, o->schedule))
        return cli_error(EXIT_USAGE, cmd, "--schedule: %s", bn_errmsg());
    if (bn_monitor_parse(&o->hp.monitor, o->monitor))
        return cli_error(EXIT_USAGE, cmd, "--monitor: %s", bn_errmsg());
    return check_recipe_flags(o);
}

/* Flags that the other flags make meaningless, refused rather than ignored (the recipe's are refused by
 * check_recipe_flags). */
static cli_exit refuse_ignored(const train_options *o, const bn_arch *probe)
{
    const cli_args *a = &o->common;
    if (args_given(a, OPT_LEAKY) && probe->act != BN_ACT_LEAKY_RELU)
        return cli_error(EXIT_USAGE, "train", "--leaky-slope applies to --act leaky_relu only");
    if (args_given(a, OPT_INIT_STD) && o->hp.init != BN_INIT_NORMAL)
        return cli_error(EXIT_USAGE, "train", "--init-std applies to --init normal only");
    if (a->plan_name && strcmp(a->backend_name, "blas") != 0)
        return cli_error(EXIT_USAGE, "train", "--plan spreads the blas backend's products over the threads; --backend "
                                              "%s has none to spread", a->backend_name);
    if (args_given(a, OPT_LOG_EVERY) && o->quiet && !o->steps_path)
        return cli_error(EXIT_USAGE, "train", "--log-every sets how often the progress line and --log-steps rows come; "
                                              "with --quiet and no --log-steps there are none");
    return EXIT_OK;
}

/* What can be checked before any data is read, so that a usage error is reported as one. */
static cli_exit check_options(void *ctx)
{
    train_options *o = ctx;
    const char *cmd = "train";
    if (o->hidden && o->layers)
        return cli_error(EXIT_USAGE, cmd, "give --hidden or --layers, not both");
    bn_arch probe;
    if (bn_act_parse(&probe.act, o->act))
        return cli_error(EXIT_USAGE, cmd, "--act: %s", bn_errmsg());
    if (o->layers && bn_arch_parse_sizes(&probe, o->layers))
        return cli_error(EXIT_USAGE, cmd, "--layers: %s", bn_errmsg());
    if (o->hidden && hidden_sizes(o->hidden, 1, 2, &probe))
        return EXIT_USAGE;
    cli_exit rc = parse_recipe_names(o);
    if (rc)
        return rc;
    bool cadence = args_given(&o->common, OPT_CHECKPOINT_EVERY) || args_given(&o->common, OPT_CHECKPOINT_STEPS);
    if (cadence && !o->checkpoint_path && !o->resume_path)
        return cli_error(EXIT_USAGE, cmd, "--checkpoint-every and --checkpoint-steps need --checkpoint FILE");
    /* The checkpoint holds the architecture and hyperparameters; silently ignoring a flag would be a lie. */
    for (int id = OPT_VAL; o->resume_path && id <= OPT_SEED; id++)
        if (args_given(&o->common, id))
            return cli_error(EXIT_USAGE, cmd, "--%s cannot be combined with --resume: the checkpoint fixes it",
                             args_option_name(&o->common, id));
    return refuse_ignored(o, &probe);
}

/* ---- progress and per-epoch output ---------------------------------------------------------------------- */
typedef struct {
    bool live; /* stderr is a terminal and --quiet was not given */
    train_logs logs;
} train_output;

static void on_progress(void *ctx, const bn_progress *p)
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

static void on_epoch(void *ctx, const bn_epoch_stats *s)
{
    train_output *out = ctx;
    printf("epoch %3d: train loss=%.4f acc=%.2f%%", s->epoch, s->train_loss, 100.0 * s->train_acc);
    if (!isnan(s->val_acc))
        printf("  val loss=%.4f acc=%.2f%%", s->val_loss, 100.0 * s->val_acc);
    printf("  lr=%.4g  %.2f s  %.0f samples/s%s\n", s->lr, s->seconds, s->samples_per_s, s->best ? "  best" : "");
    fflush(stdout);
    train_logs_epoch(&out->logs, s);
}

static void before_checkpoint(void *ctx)
{
    train_output *out = ctx;
    train_logs_commit(&out->logs);
}

/* ---- the run ------------------------------------------------------------------------------------------ */
/* What the steps of run_train hand on to each other, and what its one cleanup releases. */
typedef struct {
    bn_data_files files;   /* where all and test came from */
    bn_dataset all, test;  /* owned */
    bn_dataset train, val; /* views of all: its first part and its last --val images */
    bn_net *net;
    bn_train_hooks hooks;
    bn_train_state state;
    train_output out;
    comm_launch launch; /* the ranks under mpirun; one process otherwise */
} train_run;

/* Every file the run reads and writes, checked before any is read: --checkpoint may be the --resume file
 * (which it then also is when not given), --save may not. */
static cli_exit check_files(const train_options *o, const train_run *r)
{
    struct stat st;
    if (o->resume_path && !o->checkpoint_path && stat(o->resume_path, &st) == 0 && !S_ISREG(st.st_mode))
        return cli_error(EXIT_USAGE, "train", "--resume '%s' is not a regular file, and checkpoints go back into the "
                                              "--resume file: give --checkpoint FILE for them", o->resume_path);
    cli_files f = {0};
    data_declare(&f, &r->files);
    files_reads(&f, "--resume", o->resume_path);
    files_writes(&f, "--save", o->save_path);
    if (o->checkpoint_path)
        files_writes_over(&f, "--checkpoint", o->checkpoint_path, "--resume");
    else
        files_writes_over(&f, "--resume (checkpoints go back into it)", o->resume_path, "--resume");
    files_writes(&f, "--log", o->log_path);
    files_writes(&f, "--log-steps", o->steps_path);
    cli_exit rc = files_check("train", &f);
    files_free(&f);
    return rc;
}

/* The data, laid out as layout says; the validation part taken from the training part's end. */
static cli_exit load_data(const train_options *o, const bn_data_layout *layout, train_run *r)
{
    cli_exit rc = data_load(&o->common, &r->files, layout, false, &r->all, &r->test);
    if (rc)
        return rc;
    if (r->all.n == 0)
        return data_empty("train", &r->files.train, "training");
    bool has_test = r->files.test.csv[0] || r->files.test.images[0]; /* none: the validation split estimates */
    if (has_test && r->test.n == 0)
        return data_empty("train", &r->files.test, "the test at the end");
    int max_label = bn_dataset_max_label(&r->all);
    if (o->classes && max_label >= o->classes)
        return cli_error(EXIT_RUNTIME, "train",
                         "'%s' has label %d, which does not fit --classes %d; raise --classes or fix the data",
                         data_labels_path(&r->files.train), max_label, o->classes);
    size_t val_n = args_given(&o->common, OPT_VAL) ? (size_t)o->val : r->all.n == 60000 ? 10000 : r->all.n / 6;
    if (val_n >= r->all.n)
        return cli_error(EXIT_USAGE, "train", "--val %zu leaves no training data ('%s' holds %zu images)", val_n,
                         data_name(&o->common), r->all.n);
    const bn_hparams *hp = o->resume_path ? &r->state.hp : &o->hp; /* a resume's recipe is its checkpoint's */
    if (val_n == 0 && (hp->patience || hp->target_acc > 0.0f))
        return cli_error(EXIT_USAGE, "train", "%s watches the validation set, and %s: give --val N", hp->patience
                         ? "--patience" : "--target-acc", args_given(&o->common, OPT_VAL) ? "--val 0 leaves none"
                         : "this training set is too small to leave one by default");
    r->train = bn_dataset_slice(&r->all, 0, r->all.n - val_n);
    r->val = bn_dataset_slice(&r->all, r->all.n - val_n, val_n);
    return EXIT_OK;
}

/* The architecture: --layers, or --hidden between the image size and the class count. */
static cli_exit build_arch(const train_options *o, const bn_dataset *train, bn_arch *arch)
{
    memset(arch, 0, sizeof *arch);
    int classes = o->classes ? o->classes : bn_dataset_max_label(train) + 1; /* load_data checked the labels fit */
    if (!o->layers) {
        cli_exit rc = hidden_sizes(o->hidden ? o->hidden : "512", train->dim, classes, arch);
        if (rc)
            return rc;
    } else {
        if (bn_arch_parse_sizes(arch, o->layers))
            return cli_error(EXIT_USAGE, "train", "--layers: %s", bn_errmsg());
        int inputs = arch->sizes[0], outputs = arch->sizes[arch->depth];
        if (inputs != train->dim)
            return cli_error(EXIT_RUNTIME, "train",
                             "--layers starts with %d inputs but the images have %d pixels (%dx%d); start it with %d",
                             inputs, train->dim, train->rows, train->cols, train->dim);
        if (o->classes && outputs != classes)
            return cli_error(EXIT_USAGE, "train", "--layers ends with %d outputs but --classes is %d", outputs,
                             classes);
        if (outputs < classes)
            return cli_error(EXIT_RUNTIME, "train",
                             "--layers ends with %d outputs but the labels need %d classes; end it with %d", outputs,
                             classes, classes);
    }
    if (bn_act_parse(&arch->act, o->act))
        return cli_error(EXIT_USAGE, "train", "--act: %s", bn_errmsg());
    arch->leaky_slope = o->leaky_slope;
    return EXIT_OK;
}

/* A fresh run: architecture from flags and data; bn_train fills the weights from state->hp when it starts. */
static cli_exit start_fresh(const train_options *o, const bn_dataset *train, bn_net **net, bn_train_state *state)
{
    bn_arch arch;
    cli_exit rc = build_arch(o, train, &arch);
    if (rc)
        return rc;
    int status = bn_net_create(net, &arch, o->hp.batch, o->common.backend);
    if (status)
        return runtime_error("train", status,
                             status == BN_E_NOMEM ? "choose a smaller --batch or narrower layers" : NULL);
    bn_train_state_init(state);
    state->hp = o->hp;
    return EXIT_OK;
}

static cli_exit resume(const train_options *o, bn_net **net, bn_train_state *state)
{
    int status = bn_checkpoint_load(net, state, o->resume_path, 0, o->common.backend);
    if (status)
        return runtime_error("train", status, "give a checkpoint written by blasnet train --checkpoint");
    if (!args_given(&o->common, OPT_EPOCHS))
        return EXIT_OK;
    char done[32];
    if (o->hp.epochs < state->epoch)
        return cli_error(EXIT_USAGE, "train", "--epochs %d is fewer than the %s '%s' has done", o->hp.epochs,
                         cli_count(done, sizeof done, state->epoch, "epoch"), o->resume_path);
    state->hp.epochs = o->hp.epochs;
    return EXIT_OK;
}

/* The validation and test labels must fit the model's classes too. */
static cli_exit check_labels_fit(const train_run *r)
{
    const bn_arch *arch = bn_net_arch(r->net);
    int classes = arch->sizes[arch->depth];
    int test_max = bn_dataset_max_label(&r->test), val_max = bn_dataset_max_label(&r->val);
    if (test_max >= classes)
        return cli_error(EXIT_RUNTIME, "train",
                         "'%s' has label %d, but the model has %d classes (training labels reach %d): check --classes "
                         "or the data files",
                         data_labels_path(&r->files.test), test_max, classes, bn_dataset_max_label(&r->train));
    if (val_max >= classes)
        return cli_error(EXIT_RUNTIME, "train",
                         "'%s' has label %d in its validation part, but the model has %d classes; raise --classes",
                         data_labels_path(&r->files.train), val_max, classes);
    return EXIT_OK;
}

/* Labels that leave classes empty (one stray 200 among the digits makes 201 classes) build outputs that no
 * sample ever trains. When the labels chose the class count, say so once; true if it did. */
static bool warn_empty_classes(const train_options *o, const train_run *r)
{
    const bn_dataset *train = &r->train;
    if (o->classes || o->resume_path)
        return false;
    bool seen[256] = {false};
    for (size_t i = 0; i < train->n; i++)
        seen[train->labels[i]] = true;
    int classes = bn_dataset_max_label(train) + 1, empty = 0;
    for (int k = 0; k < classes; k++)
        empty += !seen[k];
    if (empty)
        fprintf(stderr, "blasnet train: warning: %d of %d classes have no training sample (labels run 0..%d); "
                        "check '%s' for stray labels, or give --classes %d if the empty classes are meant\n",
                empty, classes, classes - 1, data_labels_path(&r->files.train), classes);
    return empty > 0;
}

static volatile int stop_requested;
static volatile sig_atomic_t stop_signal;

static void handle_stop(int sig)
{
    stop_requested = 1;
    stop_signal = sig;
}

static void catch_stop_signals(void)
{
    /* SA_RESTART: a system call the signal interrupts (inside a GEMM engine's threads or a checkpoint
     * write) resumes instead of failing with EINTR in code that does not expect it. */
    struct sigaction sa = {.sa_handler = handle_stop, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* What bn_train reports back to: progress, epochs, the stop flag and checkpoints. */
static void set_hooks(const train_options *o, train_output *out, bool speaks, bn_train_hooks *hooks)
{
    out->live = !o->quiet && isatty(STDERR_FILENO);
    *hooks = (bn_train_hooks){0};
    hooks->on_progress = speaks ? on_progress : NULL;
    hooks->on_epoch = speaks ? on_epoch : NULL;
    hooks->before_checkpoint = speaks ? before_checkpoint : NULL;
    hooks->ctx = out;
    hooks->progress_every = o->log_every;
    hooks->progress_grad_norm = o->steps_path != NULL; /* the same on every rank: a collective under mpirun */
    /* Every rank gets the checkpoint path: bn_train has rank 0 write and tells the others how it went. */
    hooks->stop = &stop_requested;
    /* --resume keeps checkpointing into its own file unless told otherwise. */
    hooks->checkpoint_path = o->checkpoint_path ? o->checkpoint_path : o->resume_path;
    hooks->checkpoint_every = hooks->checkpoint_path ? (o->checkpoint_every ? o->checkpoint_every : 1) : 0;
    hooks->checkpoint_every_steps = o->checkpoint_steps;
}

/* The recipe in words: optimizer, schedule and regularisers, only what differs from "none". */
static void format_recipe(const bn_hparams *hp, char *buf, size_t cap)
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
static void format_run_line(const train_run *r, char *buf, size_t size)
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

static void print_run_header(const train_options *o, const train_run *r)
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
static void report_early_end(const bn_train_state *s)
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
    bool plain = text && text[0] && strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=+,-@%")
                                   == strlen(text);
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
static void format_resume_command(const train_options *o, const char *ck, char *buf, size_t size)
{
    const cli_args *a = &o->common;
    const cli_data_flags *d = &a->data;
    size_t at = (size_t)snprintf(buf, size, "blasnet train");
    append_arg(buf, size, &at, "--resume", ck);
    const struct {
        int id;
        const char *flag, *value;
    } args[] = {{OPT_DATA, "--data", a->data_dir}, {OPT_SET, "--set", d->set},
                {OPT_TRAIN_IMAGES, "--train-images", d->train_images}, {OPT_TRAIN_LABELS, "--train-labels", d->train_labels},
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

static cli_exit training_outcome(const train_options *o, const train_run *r, int status)
{
    const char *ck = r->hooks.checkpoint_path;
    if (status && !ranks_speak(&r->launch))
        return status == BN_E_INTERRUPTED ? (stop_signal == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT) : EXIT_RUNTIME;
    if (status == BN_E_INTERRUPTED) {
        char command[8192];
        if (ck)
            format_resume_command(o, ck, command, sizeof command);
        if (ck)
            fprintf(stderr, "blasnet train: %s; checkpoint written to %s: continue with %s\n", bn_errmsg(), ck,
                    command);
        else
            fprintf(stderr, "blasnet train: %s; no --checkpoint was given, so the progress is not saved\n",
                    bn_errmsg());
        return stop_signal == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT;
    }
    if (status == BN_E_DIVERGED)
        return runtime_error("train", status, ck ? "the last good checkpoint was kept" : "nothing was saved");
    if (status == BN_E_MISMATCH && r->launch.launched)
        return runtime_error("train", status, "under mpirun every rank needs the same flags, data and checkpoint");
    return status ? runtime_error("train", status, NULL) : EXIT_OK;
}

static cli_exit save_model(const train_options *o, const train_run *r)
{
    if (!o->save_path || !ranks_speak(&r->launch))
        return EXIT_OK;
    int status = bn_checkpoint_save(r->net, &r->state, o->save_path);
    if (status)
        return runtime_error("train", status, "the model was not saved; any earlier file at that path is intact");
    fprintf(stderr, "blasnet train: model saved to %s\n", o->save_path);
    return EXIT_OK;
}

/* The last two lines of stdout, which scripts parse. */
static cli_exit report_test(train_run *r, bool show_plan)
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

/* Everything before training: data, network, plan, logs. Under mpirun every rank runs it and the ranks then
 * compare outcomes, so one rank's failure ends them all. */
/* What the network sees goes into the run, so that its checkpoints and model carry it (format 3): recorded
 * now for a fresh run or a resume of a file that recorded none (formats 1 and 2), else checked against the
 * data. */
static cli_exit record_layout(const train_options *o, const bn_data_layout *layout, train_run *r)
{
    bn_hparams *hp = &r->state.hp;
    if (hp->image_rows)
        return data_check_shape("train", hp, o->resume_path, &r->all, data_name(&o->common));
    hp->image_rows = r->all.rows, hp->image_cols = r->all.cols;
    hp->transpose = layout->transpose, hp->label_offset = layout->label_offset;
    return EXIT_OK;
}

/* A resume's checkpoint first, as it says how its data is laid out; then the data; then a fresh run's network,
 * whose input and output sizes come from the data. */
static cli_exit load_run(const train_options *o, train_run *r)
{
    bn_data_layout layout = o->common.data.layout;
    cli_exit rc = o->resume_path ? resume(o, &r->net, &r->state) : EXIT_OK;
    if (!rc && o->resume_path)
        rc = data_recorded_layout(&o->common, &r->state.hp, o->resume_path, &layout);
    if (!rc)
        rc = load_data(o, &layout, r);
    if (!rc && !o->resume_path)
        rc = start_fresh(o, &r->train, &r->net, &r->state);
    return rc ? rc : record_layout(o, &layout, r);
}

/* A resumed run that has nothing left to train is refused before its logs or the header: it says why and
 * how to train on. */
static cli_exit refuse_finished(const train_options *o, const bn_train_state *s)
{
    const bn_hparams *hp = &s->hp;
    char epochs[32];
    bool ended_early = s->end == BN_END_PATIENCE || s->end == BN_END_TARGET; /* BN_END_EPOCHS: until --epochs */
    if (!o->resume_path || (!ended_early && s->epoch < hp->epochs))
        return EXIT_OK;
    if (ended_early)
        return cli_error(EXIT_USAGE, "train", "'%s' ended at epoch %d of %d, by %s: it trains no further (eval and "
                                              "predict take it as it is)", o->resume_path, s->epoch, hp->epochs,
                         s->end == BN_END_PATIENCE ? "early stopping" : "reaching its target accuracy");
    return cli_error(EXIT_USAGE, "train", "'%s' is a finished run (%d/%s): give --epochs N, with N above %d, to train "
                                          "on", o->resume_path, s->epoch, cli_count(epochs, sizeof epochs, hp->epochs,
                                                                                     "epoch"), s->epoch);
}

/* Rank 0 alone writes the logs; a resume continues them. */
static cli_exit open_logs(const train_options *o, train_run *r)
{
    char line[1024];
    if (!ranks_speak(&r->launch))
        return EXIT_OK;
    format_run_line(r, line, sizeof line);
    return train_logs_open(&r->out.logs, o->log_path, o->steps_path, line, o->resume_path ? &r->state : NULL);
}

static cli_exit set_up(const train_options *o, train_run *r)
{
    cli_exit rc = data_find(&o->common, DATA_TRAIN | DATA_TEST_IF_ANY, &r->files);
    if (!rc)
        rc = data_drop_unlabelled_test("train", &r->files);
    if (!rc && !(rc = check_files(o, r)) && !(rc = load_run(o, r)))
        rc = refuse_finished(o, &r->state);
    if (!rc && !(rc = args_apply_plan(&o->common, r->net)) && !(rc = check_labels_fit(r)))
        rc = open_logs(o, r);
    rc = ranks_agree("train", &r->launch, rc);
    int status = !rc && r->launch.launched ? bn_net_set_comm(r->net, &r->launch.comm) : BN_OK;
    if (!status)
        return rc;
    if (r->launch.comm.rank > 0 && comm_launch_node_problem()[0]) /* every rank knows: rank 0 says it */
        return EXIT_RUNTIME;
    char hint[400];
    snprintf(hint, sizeof hint, "%s%smake room there (a container's /dev/shm: docker run --shm-size) or set "
             "BLASNET_MPI_SUM=allreduce", comm_launch_node_problem(), comm_launch_node_problem()[0] ? ": " : "");
    return runtime_error("train", status, hint);
}

/* The notes before training, once. */
static void warn_once(const train_options *o, const train_run *r)
{
    if (!ranks_speak(&r->launch))
        return;
    blas_core_notice(); /* after every check: an error stays a single line */
    if (!warn_empty_classes(o, r) && r->test.n) /* one warning about the labels: stray ones explain both */
        data_warn_label_sets("train", &r->files, &r->all, &r->test);
}

/* The steps of a run, in order; every failure leaves by the one cleanup at the end. */
static cli_exit run_train(void *ctx)
{
    const train_options *o = ctx;
    train_run r = {0};
    cli_exit rc = ranks_start("train", &o->common, &r.launch);
    if (rc || (rc = set_up(o, &r)))
        goto out;
    set_hooks(o, &r.out, ranks_speak(&r.launch), &r.hooks);
    print_run_header(o, &r);
    warn_once(o, &r);
    catch_stop_signals();
    rc = training_outcome(o, &r, bn_train(r.net, &r.train, &r.val, &r.hooks, &r.state));
    if (!rc)
        report_early_end(&r.state);
    rc = train_logs_close(&r.out.logs, rc);
    if (!rc) /* rank 0 saves; every rank learns how that went, as the test below is evaluated by all */
        rc = ranks_agree("train", &r.launch, save_model(o, &r));
    if (!rc)
        rc = report_test(&r, o->show_plan);
out:
    rc = train_logs_close(&r.out.logs, rc);
    bn_net_destroy(&r.net);
    bn_dataset_free(&r.all);
    bn_dataset_free(&r.test);
    comm_launch_end(&r.launch, rc);
    return rc;
}

cli_exit cmd_train(int argc, char **argv)
{
    train_options o;
    set_defaults(&o);
    bn_hparams *hp = &o.hp;
    const cli_option own[] = {
        opt_int("val", OPT_VAL, &o.val, 0, INT_MAX), opt_int("classes", OPT_CLASSES, &o.classes, 2, BN_MAX_WIDTH),
        opt_text("hidden", OPT_HIDDEN, &o.hidden), opt_text("layers", OPT_LAYERS, &o.layers),
        opt_text("act", OPT_ACT, &o.act), opt_float("leaky-slope", OPT_LEAKY, &o.leaky_slope, CLOSED, 0, 1, OPEN),
        opt_text("init", OPT_INIT, &o.init_name),
        opt_float("init-std", OPT_INIT_STD, &hp->init_std, OPEN, 0, 100, CLOSED),
        opt_int("batch", OPT_BATCH, &hp->batch, 1, MAX_BATCH), opt_text("optimizer", OPT_OPTIMIZER, &o.optimizer),
        opt_float("lr", OPT_LR, &hp->opt.lr, OPEN, 0, 1e6, CLOSED),
        opt_float("momentum", OPT_MOMENTUM, &hp->opt.momentum, CLOSED, 0, 1, OPEN),
        opt_flag("nesterov", OPT_NESTEROV, &hp->opt.nesterov),
        opt_float("beta1", OPT_BETA1, &hp->opt.beta1, CLOSED, 0, 1, OPEN),
        opt_float("beta2", OPT_BETA2, &hp->opt.beta2, CLOSED, 0, 1, OPEN),
        opt_float("eps", OPT_EPS, &hp->opt.eps, OPEN, 0, 1, CLOSED),
        opt_float("weight-decay", OPT_WD, &hp->opt.weight_decay, CLOSED, 0, 1e6, CLOSED),
        opt_float("clip-norm", OPT_CLIP, &hp->opt.clip_norm, OPEN, 0, 1e30, CLOSED),
        opt_text("schedule", OPT_SCHEDULE, &o.schedule), opt_u64("warmup", OPT_WARMUP, &hp->warmup_steps, MAX_STEP_COUNT),
        opt_float("lr-decay", OPT_LR_DECAY, &hp->lr_decay, OPEN, 0, 1, CLOSED),
        opt_int("step-epochs", OPT_STEP_EPOCHS, &hp->step_epochs, 1, 1000000),
        opt_float("lr-min", OPT_LR_MIN, &hp->lr_min, CLOSED, 0, 1e6, CLOSED),
        opt_float("dropout", OPT_DROPOUT, &hp->dropout, CLOSED, 0, 1, OPEN),
        opt_int("patience", OPT_PATIENCE, &hp->patience, 1, 1000000), opt_text("monitor", OPT_MONITOR, &o.monitor),
        opt_float("target-acc", OPT_TARGET, &hp->target_acc, OPEN, 0, 100, CLOSED),
        opt_u64("seed", OPT_SEED, &hp->seed, UINT64_MAX),
        opt_int("epochs", OPT_EPOCHS, &hp->epochs, 1, 1000000), opt_text("log", OPT_LOG, &o.log_path),
        opt_text("log-steps", OPT_LOG_STEPS, &o.steps_path),
        opt_int("log-every", OPT_LOG_EVERY, &o.log_every, 1, 1 << 30), opt_text("save", OPT_SAVE, &o.save_path),
        opt_flag("quiet", OPT_QUIET, &o.quiet), opt_flag("show-plan", OPT_SHOW_PLAN, &o.show_plan), opt_text("checkpoint", OPT_CHECKPOINT, &o.checkpoint_path),
        opt_int("checkpoint-every", OPT_CHECKPOINT_EVERY, &o.checkpoint_every, 1, 1000000),
        opt_u64("checkpoint-steps", OPT_CHECKPOINT_STEPS, &o.checkpoint_steps, MAX_STEP_COUNT),
        opt_text("resume", OPT_RESUME, &o.resume_path),
    };
    const unsigned common = COMMON_DATA | COMMON_THREADS | COMMON_BACKEND | COMMON_BLAS_CORE | COMMON_PLAN;
    const cli_command command = {"train", usage_text, common,
                                 own, ARRAY_LEN(own), 0, check_options, run_train, &o, usage_more};
    return args_run(&command, argc, argv, &o.common);
}
