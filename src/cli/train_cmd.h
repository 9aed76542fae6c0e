/* blasnet train, in three files: its flags (cmd_train.c), what it prints and logs (train_report.c), and the
 * run itself (train_run.c). What they share: the option ids, the options, the output and the run's state. */
#ifndef BN_CLI_TRAIN_CMD_H
#define BN_CLI_TRAIN_CMD_H

#include "cli.h"
#include "train_logs.h"

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

typedef struct {
    bool live; /* stderr is a terminal and --quiet was not given */
    train_logs logs;
} train_output;

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
    cli_plans plans;    /* where the plans came from, and their digest */
} train_run;

/* train_run.c: the command's run, after the flags are read and checked; and the architecture from --hidden
 * (inputs, the widths, classes), or a usage line naming --hidden, which the flags' check uses too. */
cli_exit run_train(void *ctx);
cli_exit hidden_sizes(const char *hidden, int inputs, int classes, bn_arch *arch);

/* train_report.c: bn_train's hooks that print and log, the run's header, the recipe line logs and plots
 * carry, an early end, the stop hint, and the last two lines. */
void train_on_progress(void *ctx, const bn_progress *p);
void train_on_epoch(void *ctx, const bn_epoch_stats *s);
void train_before_checkpoint(void *ctx);
void format_recipe(const bn_hparams *hp, char *buf, size_t cap);
void format_run_line(const train_run *r, char *buf, size_t size);
void print_run_header(const train_options *o, const train_run *r);
void report_early_end(const bn_train_state *s);
void format_resume_command(const train_options *o, const char *ck, char *buf, size_t size);
cli_exit report_test(train_run *r, bool show_plan);

#endif
