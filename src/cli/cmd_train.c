/* blasnet train: its flags, each range-checked, the recipe's names parsed, and the flags it would ignore
 * refused; the run is train_run.c's, what it prints train_report.c's. */
#include "train_cmd.h"

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
    "  --plan MODE           how each matrix product is spread over the threads: tuned (default: measured\n"
    "                        once on this machine and kept) | estimate (a cost model, the same everywhere)\n"
    "                        | measure (time the candidates at start; may change the last bits between\n"
    "                        runs) | owned (each thread keeps its band of every layer's weights) | one |\n"
    "                        library | rows | cols | tiles | k\n"
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
        opt_text("schedule", OPT_SCHEDULE, &o.schedule),
        opt_u64("warmup", OPT_WARMUP, &hp->warmup_steps, MAX_STEP_COUNT),
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
        opt_flag("quiet", OPT_QUIET, &o.quiet), opt_flag("show-plan", OPT_SHOW_PLAN, &o.show_plan),
        opt_text("checkpoint", OPT_CHECKPOINT, &o.checkpoint_path),
        opt_int("checkpoint-every", OPT_CHECKPOINT_EVERY, &o.checkpoint_every, 1, 1000000),
        opt_u64("checkpoint-steps", OPT_CHECKPOINT_STEPS, &o.checkpoint_steps, MAX_STEP_COUNT),
        opt_text("resume", OPT_RESUME, &o.resume_path),
    };
    const unsigned common = COMMON_DATA | COMMON_THREADS | COMMON_BACKEND | COMMON_BLAS_CORE | COMMON_PLAN;
    const cli_command command = {"train", usage_text, common,
                                 own, ARRAY_LEN(own), 0, check_options, run_train, &o, usage_more};
    return args_run(&command, argc, argv, &o.common);
}
