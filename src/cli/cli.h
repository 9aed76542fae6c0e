/* Shared pieces of the command-line tool: exit codes, the one option parser every command declares its
 * flags to, and the one-line errors. Only the CLI prints and exits; the library returns BN_E_* statuses,
 * which stay `int status` here and never travel as exit codes. */
#ifndef BN_CLI_H
#define BN_CLI_H

#include "blasnet.h"
#include "comm_launch.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* What the process exits with. A CLI function that can end the run returns one of these (EXIT_OK: go on). */
typedef enum cli_exit {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1, /* data, I/O, divergence: the line names the file or the step */
    EXIT_USAGE = 2,   /* a flag or argument is wrong: the line names it */
    EXIT_SIGINT = 130,
    EXIT_SIGTERM = 143,
} cli_exit;

#define DEFAULT_DATA_DIR "data/mnist"
/* Elements in an array (not a pointer): the option tables are sized by their initialisers. */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* ---- options -------------------------------------------------------------------------------------------
 * A command lists its own options in a table of cli_option (made with the opt_* constructors, which point
 * straight at the command's variables), names the shared ones it takes (COMMON_*) and hands both to
 * args_run. That reads the command line once (ranges are checked as each value is stored, --help prints the
 * usage, every mistake becomes one usage line), runs the command's checks, applies --blas-core and
 * --threads, and runs the command. */

/* Ids of the shared options; a command numbers its own from OPT_COMMAND_FIRST. Ids stay below 64. */
enum {
    OPT_HELP = 1, OPT_DATA, OPT_THREADS, OPT_BACKEND, OPT_BLAS_CORE, OPT_PLAN,
    OPT_SET, OPT_TRAIN_IMAGES, OPT_TRAIN_LABELS, OPT_TEST_IMAGES, OPT_TEST_LABELS, OPT_TRAIN_CSV, OPT_TEST_CSV,
    OPT_IMAGE_SIZE, OPT_TRANSPOSE, OPT_LABEL_OFFSET, /* COMMON_DATA's, beside --data */
    OPT_COMMAND_FIRST
};

/* The shared options a command may take (--help is always there). */
enum {
    COMMON_DATA = 1u << 0,
    COMMON_THREADS = 1u << 1,
    COMMON_BACKEND = 1u << 2,
    COMMON_BLAS_CORE = 1u << 3,
    COMMON_PLAN = 1u << 4,
};

typedef enum { ARG_FLAG, ARG_TEXT, ARG_INT, ARG_U64, ARG_FLOAT, ARG_SHAPE } arg_kind;
typedef enum { CLOSED, OPEN } range_end; /* OPEN: the bound itself is not accepted */

typedef struct cli_option {
    const char *name; /* the long name, without "--" */
    char short_name;  /* 'o' for -o, or 0 */
    int id;
    arg_kind kind;
    union {
        bool *flag;
        const char **text;
        int *i;
        uint64_t *u64;
        float *f;
        int *shape; /* [0] R, [1] C of RxC */
    } to; /* where the value goes */
    double min, max; /* ARG_INT, ARG_U64, ARG_FLOAT, each side of ARG_SHAPE: the accepted range */
    range_end min_end, max_end;
    uint64_t max_u64;    /* ARG_U64: the largest value */
    double max_area;     /* ARG_SHAPE: the most R*C may be */
    const char *example; /* ARG_SHAPE: a valid value, for the message */
} cli_option;

cli_option opt_flag(const char *name, int id, bool *to);
cli_option opt_text(const char *name, int id, const char **to);
cli_option opt_int(const char *name, int id, int *to, long min, long max);
/* A decimal integer in [0, max]: no sign, no other base, no wrap. */
cli_option opt_u64(const char *name, int id, uint64_t *to, uint64_t max);
/* RxC (or R x C), R and C integers in [min, max] and R*C at most max_area, into to[0] and to[1]; example is
 * a valid value for the message. */
cli_option opt_shape(const char *name, int id, int *to, long min, long max, long max_area, const char *example);
/* A float in [min, max], either end open: opt_float("lr", OPT_LR, &lr, OPEN, 0, 1e6, CLOSED) is (0, 1e6]. */
cli_option opt_float(const char *name, int id, float *to, range_end min_end, double min, double max,
                     range_end max_end);
/* The same option, also spelled -c. */
cli_option with_short(char c, cli_option opt);

typedef struct cli_command {
    const char *name;  /* "train": the messages say "blasnet train: ..." */
    const char *usage; /* printed by --help */
    unsigned common;   /* COMMON_* */
    const cli_option *options;
    size_t n_options;
    int max_operands; /* arguments that are not options; -1: any number */
    /* Both get ctx, the command's options (where the table's variables live). check, which may be NULL,
     * runs before --blas-core and --threads take effect and returns EXIT_OK or cli_error(EXIT_USAGE, ...). */
    cli_exit (*check)(void *ctx);
    cli_exit (*run)(void *ctx);
    void *ctx;
    const char *usage_more; /* printed after usage; NULL: none (C caps one string literal at 4095 bytes) */
} cli_command;

/* COMMON_DATA's flags besides --data: which set, explicit files, and how the images are stored. */
typedef struct cli_data_flags {
    const char *set, *train_images, *train_labels, *test_images, *test_labels, *train_csv, *test_csv;
    int image_size[2];       /* --image-size RxC, copied into layout */
    bn_data_layout layout;   /* rows, cols, transpose, label_offset */
} cli_data_flags;

/* The usage lines of COMMON_DATA's flags, for a command's --help. */
#define DATA_FLAGS_USAGE                                                                                        \
    "  --data DIR|FILE       a folder of IDX files (plain or .gz, any prefix) or of train/test CSV files, or a\n" \
    "                        .csv file (default: $BLASNET_DATA or data/mnist)\n"                                   \
    "  --set NAME            which set, where the folder holds several (the prefix, e.g. emnist-letters)\n"       \
    "  --train-images FILE, --train-labels FILE, --test-images FILE, --test-labels FILE\n"                       \
    "                        IDX files (plain or .gz) by name, instead of --data\n"                                \
    "  --train-csv FILE, --test-csv FILE  CSV files (label, then pixels 0..255) by name, instead of --data\n"      \
    "  --image-size RxC      CSV images' shape (default: square)\n"                                               \
    "  --transpose           images are stored transposed (EMNIST): turn them the right way up\n"                 \
    "  --label-offset K      subtract K from every label (EMNIST letters: 1, for labels 1..26)\n"

/* The shared options and what the parser found, in one place. */
typedef struct cli_args {
    const cli_command *command; /* while args_run runs */
    const char *data_dir;       /* --data, else $BLASNET_DATA, else data/mnist */
    cli_data_flags data;        /* the other data flags */
    int threads;                /* --threads, else bn_default_threads() */
    const char *backend_name;   /* --backend, else blas */
    const bn_backend *backend;  /* the table it names */
    const char *blas_core;      /* --blas-core: default, env, auto or a core name */
    const char *plan_name;      /* --plan, else NULL: tuned, or BLASNET_PLAN (plans.c) */
    bn_plan_mode plan;          /* what --plan names, when given */
    char **operands;            /* the arguments that are not options, in order */
    int n_operands;
    uint64_t given; /* bit id: that option was on the command line */
} cli_args;

/* Parses argv into the command's variables and args, checks, applies the shared options and runs the
 * command: what a cmd_* function returns. */
cli_exit args_run(const cli_command *command, int argc, char **argv, cli_args *args);
bool args_given(const cli_args *args, int id);
/* The long name (without "--") of option id of the running command. */
const char *args_option_name(const cli_args *args, int id);

/* ---- plans (plans.c): where a run's plans come from ------------------------------------------------------ */
typedef struct {
    bool tuned;                 /* from wisdom kept in a file: the default */
    bool quiet;                 /* a rank other than 0: it says nothing */
    bool keep_off;              /* the file exists but was not read as blasnet's: never replaced */
    bool unsaved;               /* something measured could not be written: kept in memory only */
    int measured;               /* wisdom entries measured by this process so far */
    uint64_t digest;            /* of the network's plans, after plans_keep */
    char path[PATH_MAX];        /* the wisdom file; "" when there is none */
    char source[PATH_MAX + 64]; /* for a header: "tuned, from FILE", "estimate (BLASNET_WISDOM=off)" */
} cli_plans;
/* Sets net's plans for batches of `rows` (0: its max batch) as the flags and environment say: --plan or
 * BLASNET_PLAN as given, the cost model under BLASNET_WISDOM=off, else tuned from the wisdom file
 * (BLASNET_WISDOM=FILE, else $XDG_CACHE_HOME/blasnet/wisdom), measuring what it lacks when `measure` and
 * not under mpirun (comm of several ranks: rank 0 reads the file and sends it; collective). A damaged or
 * unreadable file is said in one line and planned without. */
cli_exit plans_open(const char *cmd, const cli_args *a, bn_net *net, const bn_comm *comm, int rows, bool measure,
                    cli_plans *p);
/* After the run's sizes are planned: the digest into p, and, unless quiet, one line for what was measured
 * (kept in the file, atomically) and one for products the wisdom lacked, with tune_hint, the command that
 * measures them. */
void plans_keep(const char *cmd, bn_net *net, cli_plans *p, const char *tune_hint);

/* ---- messages ----------------------------------------------------------------------------------------- */
/* "blasnet CMD: message" on stderr, and for EXIT_USAGE " (see: blasnet CMD --help)"; returns code. */
cli_exit cli_error(cli_exit code, const char *cmd, const char *fmt, ...) CLI_PRINTF(3, 4);
/* "blasnet CMD: <library detail>; <hint>" for a failed library call; without a hint, advice chosen by the
 * status. Returns EXIT_RUNTIME. */
cli_exit runtime_error(const char *cmd, int status, const char *hint);

const char *data_hint(void);
/* "1 epoch", "3 epochs": n and word, which gets an s unless n is 1, into buf; returns buf. */
const char *cli_count(char *buf, size_t size, long long n, const char *word);
/* The most probable class of a row of probabilities, the first of equals: eval's and predict's answer. */
static inline int cli_most_probable(const float *p, int classes)
{
    int best = 0;
    for (int j = 1; j < classes; j++)
        best = p[j] > p[best] ? j : best;
    return best;
}
/* Under mpirun: the messages of ranks other than 0 say "(rank R of K)" after the command. */
void cli_set_rank(int rank, int size);

/* ---- ranks (ranks.c): train as one of several processes under mpirun ------------------------------------- */
/* Joins the ranks when mpirun started this process (else stays one process, at no cost): rank 0 keeps stdout,
 * threads default to the node's cores over its ranks, and oversubscription is warned about once. */
cli_exit ranks_start(const char *cmd, const cli_args *args, comm_launch *launch);
bool ranks_speak(const comm_launch *launch); /* rank 0, or the only process */
/* Collective: every rank's rc compared; a rank whose own rc is EXIT_OK gets the worst of the others' (having
 * printed nothing: the failed rank's line says why). */
cli_exit ranks_agree(const char *cmd, const comm_launch *launch, cli_exit rc);

/* ---- files (files.c): what a command reads and writes, checked before it reads or runs anything -------- */
typedef struct cli_file {
    char *what;              /* the flag or role that names it, as messages say it: "--save", "the test images" */
    char *path;
    const char *may_replace; /* outputs: the `what` of the one input this output may be (--checkpoint may be
                                the --resume file: the atomic replace keeps the input whole until it is read) */
} cli_file;
typedef struct cli_files {
    cli_file *in, *out;
    int n_in, n_out;
    bool failed; /* an allocation failed while declaring: the check says so */
} cli_files;
/* Declare an input or an output (a NULL path declares nothing). */
void files_reads(cli_files *files, const char *what, const char *path);
void files_writes(cli_files *files, const char *what, const char *path);
void files_writes_over(cli_files *files, const char *what, const char *path, const char *input_what);
/* Exit 2 with one line, before anything is read or run, for an output that is an input (same device and
 * inode), two outputs that are one file, an output whose folder is missing or not writable, and an existing
 * output that is not a regular file (a device, pipe or folder) or a dangling link. */
cli_exit files_check(const char *cmd, const cli_files *files);
/* files_check for a command that reads at most one file and writes one (a NULL input: none). */
cli_exit files_check_pair(const char *cmd, const char *in_what, const char *in, const char *out_what, const char *out);
/* The same folder check for a folder that a command writes files into (what: "--out 'DIR'"). */
cli_exit files_check_folder(const char *cmd, const char *what, const char *folder);
void files_free(cli_files *files);

/* ---- data (data_args.c) --------------------------------------------------------------------------------- */
/* The parts a command needs; DATA_TEST_IF_ANY keeps a test part where there is one without needing it. */
enum { DATA_TRAIN = 1u << 0, DATA_TEST = 1u << 1, DATA_TEST_IF_ANY = 1u << 2 };
/* Finds the files the data flags name (explicit files, else --data), reading names only, and checks that the
 * parts `need` asks for are there; the others are dropped (with need 0: whatever is there is kept). */
cli_exit data_find(const cli_args *args, unsigned need, bn_data_files *files);
/* Declares the files found as inputs. */
void data_declare(cli_files *declared, const bn_data_files *files);
/* The one line for a part that holds no images, which needed_for ("training") cannot do without. */
cli_exit data_empty(const char *cmd, const bn_data_source *part, const char *needed_for);
/* Loads the parts found, laid out as layout says, and says which files in one line on stdout unless quiet. A
 * layout the data refuses (a label below the offset, a shape that does not fit) is a usage error. */
cli_exit data_load(const cli_args *args, const bn_data_files *files, const bn_data_layout *layout, bool quiet,
                   bn_dataset *train, bn_dataset *test);
/* The layout data is read with for a model that records its own (format 3): transposition, label offset and
 * CSV shape as it was trained, a data flag that contradicts them refused (exit 2), one that agrees allowed.
 * A model that records none (formats 1 and 2) takes the flags as given. */
cli_exit data_recorded_layout(const cli_args *args, const bn_hparams *hp, const char *model, bn_data_layout *layout);
/* Kaggle's layout: a train.csv with labels and a test.csv without (one column fewer). Such a test part is
 * dropped from files, with a note that says so and how to label it: the run has no test set. */
cli_exit data_drop_unlabelled_test(const char *cmd, bn_data_files *files);
/* A test CSV with no label column (as many fields as the model has inputs) cannot be evaluated: one line
 * that says how to label it instead (exit 1). */
cli_exit data_refuse_unlabelled(const char *cmd, const bn_data_source *test, int inputs, const char *model);
/* Images of another shape than the model recorded are refused, naming both (exit 1). */
cli_exit data_check_shape(const char *cmd, const bn_hparams *hp, const char *model, const bn_dataset *ds,
                          const char *data);
/* The file that holds a part's labels: its IDX label file or its CSV file. */
const char *data_labels_path(const bn_data_source *part);
/* What the data is called in messages: --data, or the explicit training (else test) file. */
const char *data_name(const cli_args *args);
/* One warning line when the training and test labels are not the same set of labels. */
void data_warn_label_sets(const char *cmd, const bn_data_files *files, const bn_dataset *train,
                          const bn_dataset *test);

cli_exit cmd_train(int argc, char **argv);
cli_exit cmd_eval(int argc, char **argv);
cli_exit cmd_info(int argc, char **argv);
cli_exit cmd_plot(int argc, char **argv);
cli_exit cmd_weights(int argc, char **argv);
cli_exit cmd_predict(int argc, char **argv);
cli_exit cmd_moons(int argc, char **argv);
cli_exit cmd_data(int argc, char **argv);
cli_exit cmd_tune(int argc, char **argv);

/* OpenBLAS kernel choice: warns when OPENBLAS_CORETYPE holds back this CPU, and with --blas-core re-executes
 * the program with the variable set (the kernel is chosen when OpenBLAS loads, so there is no other way). */
/* wait_policy.c: re-executes once with GOMP_SPINCOUNT=1000 (a bounded spin before sleeping) unless
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT is set; returns only when it does not re-execute. */
void wait_policy_apply(char **argv);
void blas_core_notice(void);
cli_exit blas_core_apply(const char *cmd, const char *choice, char **argv);

#endif
