/* blasnet train: parse and range-check flags, load data, build the network, train with a live progress line
 * on a terminal, and end with the `test:` and `train:` lines that scripts parse. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: blasnet train [options]\n"
    "\n"
    "data\n"
    "  --data DIR            folder with the four MNIST IDX files (default: $BLASNET_DATA or data/mnist)\n"
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
    "optimisation\n"
    "  --epochs N            passes over the training set (default: 10)\n"
    "  --batch N             minibatch size (default: 64)\n"
    "  --lr F                learning rate (default: 0.05)\n"
    "  --momentum F          momentum in [0, 1) (default: 0.9)\n"
    "  --nesterov            Nesterov momentum\n"
    "  --weight-decay F      L2 penalty lambda on weights, not biases: loss + lambda/2 ||W||^2 (default: 0)\n"
    "  --lr-decay F          multiply the learning rate by F after each epoch, (0, 1] (default: 1)\n"
    "  --seed N              seed for initialisation and shuffling (default: 1)\n"
    "execution\n"
    "  --threads N           OpenMP and OpenBLAS threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "  --backend NAME        blas | naive | naive-omp (default: blas)\n"
    "  --blas-core CORE      env (default: keep OPENBLAS_CORETYPE) | auto (best kernel for this CPU) | a core\n"
    "                        name such as Haswell or SkylakeX; re-executes blasnet with the variable set\n"
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
    "                        logs, --save and checkpoint flags may be given with it\n"
    "\n"
    "stdout: one line per epoch, then `test: loss=L acc=A% n=N` and `train: S s, R samples/s, E epochs`.\n"
    "exit status: 0 done, 1 runtime error (data, I/O, divergence), 2 usage error.\n";


enum {
    OPT_DATA = 256, OPT_VAL, OPT_CLASSES, OPT_HIDDEN, OPT_LAYERS, OPT_ACT, OPT_LEAKY, OPT_INIT, OPT_INIT_STD,
    OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_WD, OPT_LR_DECAY, OPT_SEED, OPT_THREADS,
    OPT_BACKEND, OPT_BLAS_CORE, OPT_LOG, OPT_LOG_STEPS, OPT_LOG_EVERY, OPT_SAVE, OPT_QUIET, OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY, OPT_CHECKPOINT_STEPS, OPT_RESUME, OPT_HELP, OPT_END
};

typedef struct {
    const char *data_dir, *hidden, *layers, *act, *init, *backend, *blas_core, *log_path, *steps_path, *save_path;
    const char *checkpoint_path, *resume_path;
    const char *data_dir_resolved; /* --data, $BLASNET_DATA or the default */
    int classes, val, epochs, batch, threads, log_every, checkpoint_every;
    uint64_t checkpoint_steps;
    bool given[OPT_END - OPT_DATA]; /* which flags were on the command line */
    bool nesterov, quiet, val_set;
    float leaky_slope, init_std, lr, momentum, weight_decay, lr_decay;
    uint64_t seed;
} train_options;

static const struct option long_options[] = {
    {"data", required_argument, 0, OPT_DATA},
    {"val", required_argument, 0, OPT_VAL},
    {"classes", required_argument, 0, OPT_CLASSES},
    {"hidden", required_argument, 0, OPT_HIDDEN},
    {"layers", required_argument, 0, OPT_LAYERS},
    {"act", required_argument, 0, OPT_ACT},
    {"leaky-slope", required_argument, 0, OPT_LEAKY},
    {"init", required_argument, 0, OPT_INIT},
    {"init-std", required_argument, 0, OPT_INIT_STD},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"batch", required_argument, 0, OPT_BATCH},
    {"lr", required_argument, 0, OPT_LR},
    {"momentum", required_argument, 0, OPT_MOMENTUM},
    {"nesterov", no_argument, 0, OPT_NESTEROV},
    {"weight-decay", required_argument, 0, OPT_WD},
    {"lr-decay", required_argument, 0, OPT_LR_DECAY},
    {"seed", required_argument, 0, OPT_SEED},
    {"threads", required_argument, 0, OPT_THREADS},
    {"backend", required_argument, 0, OPT_BACKEND},
    {"blas-core", required_argument, 0, OPT_BLAS_CORE},
    {"log", required_argument, 0, OPT_LOG},
    {"log-steps", required_argument, 0, OPT_LOG_STEPS},
    {"log-every", required_argument, 0, OPT_LOG_EVERY},
    {"save", required_argument, 0, OPT_SAVE},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"checkpoint", required_argument, 0, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, 0, OPT_CHECKPOINT_EVERY},
    {"checkpoint-steps", required_argument, 0, OPT_CHECKPOINT_STEPS},
    {"resume", required_argument, 0, OPT_RESUME},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

#define MAX_BATCH (1 << 20)

/* arch <- inputs, the widths in `hidden`, classes. */
static int hidden_sizes(const char *hidden, int inputs, int classes, bn_arch *arch)
{
    size_t size = strlen(hidden) + 32;
    char *list = malloc(size);
    if (!list) {
        fputs("blasnet train: out of memory\n", stderr);
        exit(EXIT_RUNTIME);
    }
    snprintf(list, size, "%d,%s,%d", inputs, hidden, classes);
    int status = bn_arch_parse_sizes(arch, list);
    free(list);
    return status;
}

static int parse_options(int argc, char **argv, train_options *o)
{
    bn_hparams defaults;
    bn_hparams_default(&defaults);
    *o = (train_options){.hidden = NULL, .act = "relu", .init = "he", .backend = "blas", .blas_core = "env",
                         .classes = 0, .epochs = defaults.epochs, .batch = defaults.batch,
                         .threads = bn_default_threads(), .leaky_slope = 0.01f, .init_std = defaults.init_std,
                         .lr = defaults.sgd.lr, .momentum = defaults.sgd.momentum, .weight_decay = 0.0f,
                         .lr_decay = defaults.lr_decay, .seed = defaults.seed, .log_every = 10};
    const char *cmd = "train";
    int c, rc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1 && rc == 0) {
        switch (c) {
        case OPT_DATA: o->data_dir = optarg; break;
        case OPT_VAL: rc = parse_int(cmd, "--val", optarg, 0, 1L << 31, &o->val), o->val_set = true; break;
        case OPT_CLASSES: rc = parse_int(cmd, "--classes", optarg, 2, BN_MAX_WIDTH, &o->classes); break;
        case OPT_HIDDEN: o->hidden = optarg; break;
        case OPT_LAYERS: o->layers = optarg; break;
        case OPT_ACT: o->act = optarg; break;
        case OPT_LEAKY: rc = parse_float(cmd, "--leaky-slope", optarg, 0, false, 1, true, &o->leaky_slope); break;
        case OPT_INIT: o->init = optarg; break;
        case OPT_INIT_STD: rc = parse_float(cmd, "--init-std", optarg, 0, true, 100, false, &o->init_std); break;
        case OPT_EPOCHS: rc = parse_int(cmd, "--epochs", optarg, 1, 1000000, &o->epochs); break;
        case OPT_BATCH: rc = parse_int(cmd, "--batch", optarg, 1, MAX_BATCH, &o->batch); break;
        case OPT_LR: rc = parse_float(cmd, "--lr", optarg, 0, true, 1e6, false, &o->lr); break;
        case OPT_MOMENTUM: rc = parse_float(cmd, "--momentum", optarg, 0, false, 1, true, &o->momentum); break;
        case OPT_NESTEROV: o->nesterov = true; break;
        case OPT_WD: rc = parse_float(cmd, "--weight-decay", optarg, 0, false, 1e6, false, &o->weight_decay); break;
        case OPT_LR_DECAY: rc = parse_float(cmd, "--lr-decay", optarg, 0, true, 1, false, &o->lr_decay); break;
        case OPT_SEED: rc = parse_u64(cmd, "--seed", optarg, &o->seed); break;
        case OPT_THREADS: rc = parse_int(cmd, "--threads", optarg, 1, 4096, &o->threads); break;
        case OPT_BACKEND: o->backend = optarg; break;
        case OPT_BLAS_CORE: o->blas_core = optarg; break;
        case OPT_LOG: o->log_path = optarg; break;
        case OPT_LOG_STEPS: o->steps_path = optarg; break;
        case OPT_LOG_EVERY: rc = parse_int(cmd, "--log-every", optarg, 1, 1 << 30, &o->log_every); break;
        case OPT_SAVE: o->save_path = optarg; break;
        case OPT_QUIET: o->quiet = true; break;
        case OPT_CHECKPOINT: o->checkpoint_path = optarg; break;
        case OPT_CHECKPOINT_EVERY: rc = parse_int(cmd, "--checkpoint-every", optarg, 1, 1000000, &o->checkpoint_every); break;
        case OPT_CHECKPOINT_STEPS: rc = parse_u64(cmd, "--checkpoint-steps", optarg, &o->checkpoint_steps); break;
        case OPT_RESUME: o->resume_path = optarg; break;
        case OPT_HELP: fputs(usage_text, stdout); return -1;
        case ':': rc = usage_error(cmd, "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error(cmd, "unknown option '%s'", argv[optind - 1]); break;
        }
        if (c >= OPT_DATA && c < OPT_END)
            o->given[c - OPT_DATA] = true;
    }
    if (rc)
        return rc;
    if (optind < argc)
        return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (o->hidden && o->layers)
        return usage_error(cmd, "give --hidden or --layers, not both");
    if (!bn_backend_find(o->backend))
        return usage_error(cmd, "--backend '%s' is not one of blas, naive, naive-omp", o->backend);
    /* Check what can be checked before any data is read, so a usage error is reported as one. */
    bn_arch probe;
    if (bn_act_parse(&probe.act, o->act))
        return usage_error(cmd, "--act: %s", bn_errmsg());
    if (o->layers && bn_arch_parse_sizes(&probe, o->layers))
        return usage_error(cmd, "--layers: %s", bn_errmsg());
    if (o->hidden && hidden_sizes(o->hidden, 1, 2, &probe))
        return usage_error(cmd, "--hidden: %s", bn_errmsg());
    if ((o->given[OPT_CHECKPOINT_EVERY - OPT_DATA] || o->given[OPT_CHECKPOINT_STEPS - OPT_DATA]) &&
        !o->checkpoint_path && !o->resume_path)
        return usage_error(cmd, "--checkpoint-every and --checkpoint-steps need --checkpoint FILE");
    if (o->resume_path) {
        /* The file holds the architecture and hyperparameters; silently ignoring a flag would be a lie. */
        static const int fixed[] = {OPT_VAL, OPT_CLASSES, OPT_HIDDEN, OPT_LAYERS, OPT_ACT, OPT_LEAKY, OPT_INIT,
                                    OPT_INIT_STD, OPT_BATCH, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_WD,
                                    OPT_LR_DECAY, OPT_SEED};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (o->given[fixed[i] - OPT_DATA]) {
                const char *name = "?";
                for (const struct option *lo = long_options; lo->name; lo++)
                    if (lo->val == fixed[i])
                        name = lo->name;
                return usage_error(cmd, "--%s cannot be combined with --resume: the checkpoint fixes it", name);
            }
    }
    return 0;
}

/* ---- progress and per-epoch output ---------------------------------------------------------------------- */
typedef struct {
    bool live; /* stderr is a terminal and --quiet was not given */
    FILE *log, *steps;
} train_output;

static void on_progress(void *ctx, const bn_progress *p)
{
    const train_output *out = ctx;
    if (out->steps) {
        fprintf(out->steps, "%d,%zu,%llu,%.6f,%.6g,%.6g\n", p->epoch, p->step, (unsigned long long)p->global_step,
                p->step_loss, p->grad_norm_w1, p->lr);
        if (p->step == p->steps)
            fflush(out->steps);
    }
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
    const train_output *out = ctx;
    printf("epoch %3d: train loss=%.4f acc=%.2f%%", s->epoch, s->train_loss, 100.0 * s->train_acc);
    if (!isnan(s->val_acc))
        printf("  val loss=%.4f acc=%.2f%%", s->val_loss, 100.0 * s->val_acc);
    printf("  lr=%.4g  %.2f s  %.0f samples/s\n", s->lr, s->seconds, s->samples_per_s);
    fflush(stdout);
    if (out->log) {
        fprintf(out->log, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.4f,%.1f,%.6g\n", s->epoch, s->train_loss, s->train_acc,
                s->val_loss, s->val_acc, s->lr, s->seconds, s->samples_per_s, s->grad_norm_w1);
        fflush(out->log);
    }
}

/* ---- the command -------------------------------------------------------------------------------------------- */
static int build_arch(const train_options *o, const bn_dataset *train, bn_arch *arch)
{
    memset(arch, 0, sizeof *arch);
    int max_label = bn_dataset_max_label(train);
    int classes = o->classes ? o->classes : max_label + 1;
    if (max_label >= classes) {
        fprintf(stderr, "blasnet train: '%s/train-labels-idx1-ubyte' has label %d, which does not fit --classes %d; "
                        "raise --classes or fix the data\n",
                o->data_dir_resolved, max_label, classes);
        return EXIT_RUNTIME;
    }
    if (o->layers) {
        if (bn_arch_parse_sizes(arch, o->layers))
            return usage_error("train", "--layers: %s", bn_errmsg());
        if (arch->sizes[0] != train->dim) {
            fprintf(stderr, "blasnet train: --layers starts with %d inputs but the images have %d pixels (%dx%d)\n",
                    arch->sizes[0], train->dim, train->rows, train->cols);
            return EXIT_RUNTIME;
        }
        if (o->classes && arch->sizes[arch->depth] != classes)
            return usage_error("train", "--layers ends with %d outputs but --classes is %d",
                               arch->sizes[arch->depth], classes);
        if (arch->sizes[arch->depth] < classes) {
            fprintf(stderr, "blasnet train: --layers ends with %d outputs but the labels need %d classes\n",
                    arch->sizes[arch->depth], classes);
            return EXIT_RUNTIME;
        }
    } else {
        if (hidden_sizes(o->hidden ? o->hidden : "512", train->dim, classes, arch))
            return usage_error("train", "--hidden: %s", bn_errmsg());
    }
    if (bn_act_parse(&arch->act, o->act))
        return usage_error("train", "--act: %s", bn_errmsg());
    arch->leaky_slope = o->leaky_slope;
    return 0;
}

static volatile int stop_requested;
static volatile sig_atomic_t stop_signal;

static void handle_stop(int sig)
{
    stop_requested = 1;
    stop_signal = sig;
}

static void format_arch(const bn_arch *arch, char *buf, size_t size)
{
    size_t used = 0;
    for (int l = 0; l <= arch->depth && used < size; l++)
        used += (size_t)snprintf(buf + used, size - used, l ? "-%d" : "%d", arch->sizes[l]);
}

/* Opens a CSV log and writes its header; NULL path means no log. */
static int open_log(FILE **f, const char *path, const char *header)
{
    *f = NULL;
    if (!path)
        return 0;
    *f = fopen(path, "w");
    if (!*f) {
        fprintf(stderr, "blasnet train: cannot write log '%s': %s; check the folder exists and is writable\n", path,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    fputs(header, *f);
    return 0;
}

static int close_log(FILE *f, const char *path)
{
    if (f && fclose(f) != 0) {
        fprintf(stderr, "blasnet train: writing log '%s' failed: %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* A fresh run: architecture from flags and data; bn_train fills the weights from the seed. */
static int start_fresh(const train_options *o, bn_init init, const bn_dataset *train, bn_net **net,
                       bn_train_state *state)
{
    bn_arch arch;
    int rc = build_arch(o, train, &arch);
    if (rc)
        return rc;
    int status = bn_net_create(net, &arch, o->batch, bn_backend_find(o->backend));
    if (status)
        return runtime_error("train", status, "choose a smaller --batch or narrower layers");
    bn_train_state_init(state);
    state->hp = (bn_hparams){.epochs = o->epochs, .batch = o->batch,
                             .sgd = {.lr = o->lr, .momentum = o->momentum, .weight_decay = o->weight_decay,
                                     .nesterov = o->nesterov},
                             .lr_decay = o->lr_decay, .seed = o->seed, .init = init, .init_std = o->init_std};
    return 0;
}

static int resume(const train_options *o, bn_net **net, bn_train_state *state)
{
    int status = bn_checkpoint_load(net, state, o->resume_path, 0, bn_backend_find(o->backend));
    if (status)
        return runtime_error("train", status, "give a checkpoint written by blasnet train --checkpoint");
    if (o->given[OPT_EPOCHS - OPT_DATA]) {
        if (o->epochs < state->epoch) {
            bn_net_destroy(net);
            return usage_error("train", "--epochs %d is fewer than the %d epochs '%s' has done", o->epochs,
                               state->epoch, o->resume_path);
        }
        state->hp.epochs = o->epochs;
    }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    bn_init init;
    if (bn_init_parse(&init, o.init))
        return usage_error("train", "--init: %s", bn_errmsg());
    rc = blas_core_apply("train", o.blas_core, argv - 1);
    if (rc)
        return rc;
    bn_set_threads(o.threads);

    const char *dir = data_dir_or_default(o.data_dir);
    bn_dataset all, test;
    int status = bn_mnist_load(dir, &all, &test);
    if (status)
        return runtime_error("train", status, data_hint());

    size_t val_n = o.val_set ? (size_t)o.val : (all.n == 60000 ? 10000 : all.n / 6);
    bn_dataset train = bn_dataset_slice(&all, 0, all.n - (val_n < all.n ? val_n : 0));
    bn_dataset val = bn_dataset_slice(&all, all.n - val_n, val_n);
    bn_net *net = NULL;
    bn_train_state state;
    bn_train_hooks cfg = {0};
    o.data_dir_resolved = dir;
    if (all.n == 0 || test.n == 0) {
        fprintf(stderr, "blasnet train: '%s/%s' holds no images; fetch the data again (./data/fetch-mnist.sh)\n",
                dir, all.n == 0 ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
        rc = EXIT_RUNTIME;
    } else if (val_n >= all.n) {
        rc = usage_error("train", "--val %zu leaves no training data ('%s/train-images-idx3-ubyte' holds %zu images)",
                         val_n, dir, all.n);
    } else if (o.resume_path) {
        rc = resume(&o, &net, &state);
    } else {
        rc = start_fresh(&o, init, &train, &net, &state);
    }

    if (!rc) {
        const bn_arch *arch = bn_net_arch(net);
        int classes = arch->sizes[arch->depth];
        int test_max = bn_dataset_max_label(&test), val_max = bn_dataset_max_label(&val);
        if (test_max >= classes) {
            fprintf(stderr, "blasnet train: '%s/t10k-labels-idx1-ubyte' has label %d, but the model has %d classes "
                            "(training labels reach %d): check --classes or the data files\n",
                    dir, test_max, classes, bn_dataset_max_label(&train));
            rc = EXIT_RUNTIME;
        } else if (val_max >= classes) {
            fprintf(stderr, "blasnet train: '%s/train-labels-idx1-ubyte' has label %d in its validation part, but "
                            "the model has %d classes; raise --classes\n",
                    dir, val_max, classes);
            rc = EXIT_RUNTIME;
        }
    }
    FILE *log = NULL, *steps = NULL;
    if (!rc)
        rc = open_log(&log, o.log_path,
                      "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s,grad_norm_w1\n");
    if (!rc)
        rc = open_log(&steps, o.steps_path, "epoch,step,global_step,loss,grad_norm_w1,lr\n");
    if (rc) {
        close_log(log, o.log_path);
        bn_net_destroy(&net);
        bn_dataset_free(&all);
        bn_dataset_free(&test);
        return rc;
    }

    train_output out = {.live = !o.quiet && isatty(STDERR_FILENO), .log = log, .steps = steps};
    cfg.on_progress = on_progress;
    cfg.on_epoch = on_epoch;
    cfg.ctx = &out;
    cfg.progress_every = o.log_every;
    cfg.progress_grad_norm = steps != NULL;
    cfg.stop = &stop_requested;
    /* --resume keeps checkpointing into its own file unless told otherwise. */
    cfg.checkpoint_path = o.checkpoint_path ? o.checkpoint_path : o.resume_path;
    cfg.checkpoint_every = cfg.checkpoint_path ? (o.checkpoint_every ? o.checkpoint_every : 1) : 0;
    cfg.checkpoint_every_steps = o.checkpoint_steps;

    const bn_arch *arch = bn_net_arch(net);
    char arch_text[256];
    format_arch(arch, arch_text, sizeof arch_text);
    printf("blasnet %s: %s %s, %s init, batch %d, lr %g, momentum %g%s, weight decay %g, lr decay %g, seed %llu\n",
           BLASNET_VERSION, arch_text, bn_act_name(arch->act), bn_init_name(state.hp.init),
           state.hp.batch, (double)state.hp.sgd.lr, (double)state.hp.sgd.momentum,
           state.hp.sgd.nesterov ? " (nesterov)" : "", (double)state.hp.sgd.weight_decay, (double)state.hp.lr_decay,
           (unsigned long long)state.hp.seed);
    printf("data: %s: %zu train, %zu validation, %zu test; backend %s, %d threads, OpenBLAS %s kernel (%s)\n", dir,
           train.n, val.n, test.n, o.backend, bn_get_threads(), bn_blas_corename(),
           bn_blas_parallel() == 2 ? "OpenMP" : bn_blas_parallel() == 1 ? "pthreads" : "serial");
    if (o.resume_path)
        printf("resumed from %s at epoch %d, step %llu\n", o.resume_path, state.epoch + 1,
               (unsigned long long)state.step);
    fflush(stdout);
    blas_core_notice(); /* after every check: an error stays a single line */

    struct sigaction sa = {.sa_handler = handle_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    status = bn_train(net, &train, &val, &cfg, &state);
    rc = close_log(log, o.log_path);
    rc = close_log(steps, o.steps_path) ? EXIT_RUNTIME : rc;
    if (status == BN_E_INTERRUPTED) {
        if (cfg.checkpoint_path)
            fprintf(stderr, "blasnet train: %s; checkpoint written to %s: continue with blasnet train --resume %s\n",
                    bn_errmsg(), cfg.checkpoint_path, cfg.checkpoint_path);
        else
            fprintf(stderr, "blasnet train: %s; no --checkpoint was given, so the progress is not saved\n",
                    bn_errmsg());
        rc = stop_signal == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT;
    } else if (status == BN_E_DIVERGED) {
        rc = runtime_error("train", status,
                           cfg.checkpoint_path ? "the last good checkpoint was kept" : "nothing was saved");
    } else if (status) {
        rc = runtime_error("train", status, NULL);
    }
    if (!rc && o.save_path) {
        status = bn_checkpoint_save(net, &state, o.save_path);
        if (status)
            rc = runtime_error("train", status, "the model was not saved; any earlier file at that path is intact");
        else
            fprintf(stderr, "blasnet train: model saved to %s\n", o.save_path);
    }
    if (!rc) {
        bn_eval ev;
        status = bn_evaluate(net, &test, &ev, NULL);
        if (status) {
            rc = runtime_error("train", status, NULL);
        } else {
            printf("test: loss=%.4f acc=%.2f%% n=%zu\n", ev.loss, 100.0 * ev.accuracy, ev.n);
            printf("train: %.1f s, %.0f samples/s, %d epochs\n", state.train_seconds,
                   state.train_seconds > 0 ? (double)state.samples / state.train_seconds : 0.0, state.epoch);
        }
    }
    bn_net_destroy(&net);
    bn_dataset_free(&all);
    bn_dataset_free(&test);
    return rc;
}
