/* blasnet: multi-layer perceptrons trained with batched sgemm passes.
 * The only public header. Library functions return BN_OK (0) or a negative BN_E_* status and never print;
 * bn_errmsg() gives the detail of the last failure on the calling thread (file, offset, expected vs got).
 * Matrices are row-major; a batch of B samples is a (B, n) matrix; layer weights are (in, out). */
#ifndef BLASNET_H
#define BLASNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BLASNET_BUILDING) && defined(__GNUC__)
#define BN_API __attribute__((visibility("default")))
#else
#define BN_API
#endif

#define BLASNET_VERSION "0.4.1"
#define BN_MAX_LAYERS 16 /* weight layers in one network */
#define BN_MAX_WIDTH (1 << 24)

/* ---- status ---------------------------------------------------------------------------------------- */
enum {
    BN_OK = 0,
    BN_E_NOMEM = -1,       /* allocation failed, or a size would overflow */
    BN_E_IO = -2,          /* open/read/write/fsync/rename failed; the message carries errno's text */
    BN_E_FORMAT = -3,      /* a file's content is malformed (magic, size, checksum, ...) */
    BN_E_INVALID = -4,     /* an argument is out of range */
    BN_E_MISMATCH = -5,    /* data and model (or two files) disagree */
    BN_E_DIVERGED = -6,    /* loss became NaN or infinite */
    BN_E_INTERRUPTED = -7, /* stopped by the caller's stop flag */
};
BN_API const char *bn_strerror(int status);
BN_API const char *bn_errmsg(void);

/* ---- activations and initialisation ---------------------------------------------------------------- */
typedef enum {
    BN_ACT_RELU,
    BN_ACT_LEAKY_RELU,
    BN_ACT_SIGMOID,
    BN_ACT_TANH,
    BN_ACT_SWISH,
    BN_ACT_SELU,
    BN_ACT_COUNT
} bn_act;
BN_API const char *bn_act_name(bn_act act);
BN_API int bn_act_parse(bn_act *act, const char *name);

typedef enum { BN_INIT_HE, BN_INIT_XAVIER, BN_INIT_NORMAL, BN_INIT_LECUN, BN_INIT_COUNT } bn_init;
BN_API const char *bn_init_name(bn_init init);
BN_API int bn_init_parse(bn_init *init, const char *name);

/* ---- random numbers: xoshiro256** seeded by splitmix64; state is plain data so it can be saved ------- */
typedef struct bn_rng {
    uint64_t s[4];
} bn_rng;
BN_API void bn_rng_seed(bn_rng *rng, uint64_t seed);

/* ---- architecture ---------------------------------------------------------------------------------- */
typedef struct bn_arch {
    int depth;                    /* weight layers, 1..BN_MAX_LAYERS */
    int sizes[BN_MAX_LAYERS + 1]; /* sizes[0] inputs, sizes[depth] classes, hidden widths between */
    bn_act act;                   /* every hidden layer; the output layer is softmax */
    float leaky_slope;            /* leaky_relu only */
} bn_arch;
/* "784,512,10" -> sizes; depth from the count. Widths must lie in 1..BN_MAX_WIDTH. */
BN_API int bn_arch_parse_sizes(bn_arch *arch, const char *list);
BN_API int bn_arch_check(const bn_arch *arch);
BN_API uint64_t bn_arch_param_count(const bn_arch *arch); /* weights and biases, no padding */
/* "784-512-10" into buf (truncated to cap bytes, always terminated); returns buf. */
BN_API const char *bn_arch_format(const bn_arch *arch, char *buf, size_t cap);

/* ---- backends: the same contract filled by textbook loops, threaded loops, and sgemm + fused kernels - */
typedef struct bn_backend bn_backend;
BN_API const bn_backend *bn_backend_find(const char *name); /* "blas", "naive", "naive-omp"; NULL if none */
BN_API const char *bn_backend_name(const bn_backend *backend);
BN_API const bn_backend *bn_backend_at(int index); /* NULL past the last: lists every backend */

/* ---- network ----------------------------------------------------------------------------------------
 * One allocation holds parameters, gradients, the optimizer's moments, the best weights of early stopping,
 * activations and scratch for batches up to max_batch, so nothing below allocates. Parameters: every layer's
 * W then every layer's b, each view 64-byte aligned; gradients, moments and best weights mirror that
 * layout. */
typedef struct bn_net bn_net;
BN_API int bn_net_create(bn_net **net, const bn_arch *arch, int max_batch, const bn_backend *backend);
BN_API void bn_net_destroy(bn_net **net);
BN_API const bn_arch *bn_net_arch(const bn_net *net);
BN_API int bn_net_max_batch(const bn_net *net);
BN_API const bn_backend *bn_net_backend(const bn_net *net);
BN_API void bn_net_set_backend(bn_net *net, const bn_backend *backend);
/* How the blas backend spreads each product of a step over the threads (the others ignore it). A plan is
 * made for the net's max batch and the current omp_get_max_threads() when the net is created (ESTIMATE: a
 * cost model, the same plan on every run) and again by bn_net_plan; bn_train and bn_evaluate add plans of
 * the same mode for every other batch size they run before they start (a rank's share of a batch, the
 * epoch's last batch, an evaluation's chunks). A size or thread count without plans gets a plan on the spot
 * (ESTIMATE for MEASURE), which bn_net_plan_format counts. MEASURE times the
 * candidates on the net's own buffers (tens of ms; parameters untouched, gradients overwritten): faster
 * where the model is wrong, but it may pick other tile boundaries on another run, and the engine's last
 * bits depend on them. The other modes force one partition wherever the shape allows it (tests and the
 * benchmark use them). The environment variable BLASNET_PLAN=MODE sets the mode new networks start with
 * (bn_net_create fails on a name it does not know). */
typedef enum {
    BN_PLAN_ESTIMATE,
    BN_PLAN_MEASURE,
    BN_PLAN_ONE,     /* every product one serial call */
    BN_PLAN_LIBRARY, /* every product one call threaded by the engine (blasnet before it scheduled its own) */
    BN_PLAN_ROWS,
    BN_PLAN_COLS,
    BN_PLAN_TILES,
    BN_PLAN_K,     /* the inner dimension split, partial sums added in a fixed order */
    BN_PLAN_TUNED, /* from measured times kept as wisdom (bn_net_wisdom_import): the CLI's default */
    BN_PLAN_OWNED, /* each thread owns the same band of every layer's output columns in forward, dW and dA
                      (its K band), so its slice of W, b and their optimizer state stays in its cache */
    BN_PLAN_MODES
} bn_plan_mode;
BN_API const char *bn_plan_mode_name(bn_plan_mode mode);
BN_API int bn_plan_mode_parse(const char *name, bn_plan_mode *mode); /* BN_E_INVALID on an unknown name */
/* Plans for batches of `batch` rows (0: the max batch) on the current thread count. */
BN_API int bn_net_plan(bn_net *net, bn_plan_mode mode, int batch);
BN_API bn_plan_mode bn_net_plan_mode(const bn_net *net);
/* The plan as text, one line per product ("dW L2  1024x1024x64  cols 2  41 us"); returns the length the
 * whole text needs, like snprintf. */
BN_API size_t bn_net_plan_format(const bn_net *net, char *buf, size_t size);
/* Wisdom: the times of every candidate plan of the products a network ran, measured on this machine, kept
 * by the caller between runs (the CLI keeps them in the user's cache folder) so that TUNED plans measure
 * nothing a second time; the same wisdom gives the same plans. Import adds the entries of `text` (len bytes,
 * as bn_net_wisdom_export wrote them; NULL and 0 for none) to the network's, and sets how TUNED plans treat
 * a product the wisdom lacks: measured (tens of ms each, on the net's own buffers) and added, or, with
 * BN_WISDOM_NO_MEASURE (ranks that share cores would measure each other), planned by the model. A damaged
 * text is refused whole (BN_E_FORMAT, naming its line), the network's wisdom left as it was. Entries are
 * keyed by machine (CPU, OpenBLAS build and kernel, GEMM engine), thread count and shape; those of other
 * machines are kept and never used. Export writes all of them; it returns the length it needs, like
 * snprintf. Call bn_net_plan(net, BN_PLAN_TUNED, 0) after an import to plan from it. */
#define BN_WISDOM_NO_MEASURE 1u
BN_API int bn_net_wisdom_import(bn_net *net, const char *text, size_t len, unsigned flags);
BN_API size_t bn_net_wisdom_export(const bn_net *net, char *buf, size_t size);
/* Fills weights from rng (He: N(0, 2/in), Xavier: U(+-sqrt(6/(in+out))), normal: N(0, std^2), LeCun:
 * N(0, 1/in), the one SELU's self-normalisation assumes); biases and velocity to zero. */
BN_API void bn_net_init(bn_net *net, bn_init init, float std, bn_rng *rng);

BN_API float *bn_net_weight(bn_net *net, int layer);  /* (in, out) */
BN_API float *bn_net_bias(bn_net *net, int layer);    /* (out) */
/* Every weight and bias as one block (with alignment padding, which stays zero); count in floats. */
BN_API float *bn_net_params(bn_net *net, size_t *count);
BN_API const float *bn_net_params_const(const bn_net *net, size_t *count);
/* Offsets of layer l's W and b within each block (the same in params, grads and velocity). */
BN_API size_t bn_net_weight_offset(const bn_net *net, int layer);
BN_API size_t bn_net_bias_offset(const bn_net *net, int layer);

/* Input staging the caller may fill: x (max_batch, inputs) and labels (max_batch). */
BN_API float *bn_net_input(bn_net *net);
BN_API int32_t *bn_net_labels(bn_net *net);

/* Forward pass over x (B, inputs); class probabilities (B, classes) are then at bn_net_probs. */
BN_API int bn_net_forward(bn_net *net, const float *x, int batch);
BN_API const float *bn_net_probs(const bn_net *net);
/* Forward and backward with the mean cross-entropy over the batch. Overwrites every dW and db (it does not
 * accumulate); the first layer's input gradient is not computed. *loss = mean data loss (no L2 term);
 * *correct = samples whose argmax equals the label (either may be NULL). Labels must be < classes. */
BN_API int bn_net_backprop(bn_net *net, const float *x, const int32_t *labels, int batch, double *loss,
                           int *correct);

/* The optimizers. sgd: v = mu*v - lr*(g + lambda*W); W += v (Nesterov: W += mu*v - lr*(g + lambda*W)).
 * adam: g' = g + lambda*W; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2; W -= lr/(1-b1^t) * m /
 * (sqrt(v)/sqrt(1-b2^t) + eps), as PyTorch's Adam. adamw: the same moments of g alone, and the decay taken
 * apart from them: W -= lr*lambda*W first (Loshchilov & Hutter). Biases never decay. */
typedef enum { BN_OPT_SGD, BN_OPT_ADAM, BN_OPT_ADAMW, BN_OPT_COUNT } bn_optimizer;
BN_API const char *bn_optimizer_name(bn_optimizer kind);
BN_API int bn_optimizer_parse(bn_optimizer *kind, const char *name);

/* ---- the recipe, described once -------------------------------------------------------------------------
 * Every field of a run's recipe (bn_optim's, then bn_hparams's) is one X(type, name, label, kind, lo, hi,
 * range, since, pos, resume) line below. The structs are generated from these lists, so no field exists
 * outside them, and libblasnet's one table of them drives the checkpoint's read and write, the ranks'
 * agreement check, the range checks and the tests' equality.
 *   kind   how it is stored (4 or 8 bytes, little-endian): BN_FIELD_INT, _U64, _F32, _BOOL, _ENUM
 *   lo, hi the range a run may train with (an enum: 0 .. hi - 1); range adds: BN_RANGE_LO_OPEN,
 *          BN_RANGE_HI_OPEN, BN_RANGE_ANY (no bound: seeds, counts of steps), BN_RANGE_STORED_ZERO (a
 *          model saved without a run may store 0 where a run needs more), BN_RANGE_ADAM (checked only for
 *          adam and adamw), BN_RANGE_NORMAL (only for the normal initialisation), BN_RANGE_UNCHECKED (not
 *          read by a run: the data settings, which the checkpoint checks against the network)
 *   since  the checkpoint format that first stored it; pos its place among the recipe's fields in the file
 *   resume BN_RESUME_MAY_CHANGE (--epochs) or BN_RESUME_FIXED: what a resume may set again */
#define BN_RANGE_LO_OPEN 1u
#define BN_RANGE_HI_OPEN 2u
#define BN_RANGE_ANY 4u
#define BN_RANGE_STORED_ZERO 8u
#define BN_RANGE_ADAM 16u
#define BN_RANGE_NORMAL 32u
#define BN_RANGE_UNCHECKED 64u
#define BN_RANGE_LIMIT 3.4e38 /* no upper bound but finiteness */
typedef enum { BN_FIELD_INT, BN_FIELD_U64, BN_FIELD_F32, BN_FIELD_BOOL, BN_FIELD_ENUM } bn_field_kind;
typedef enum { BN_RESUME_FIXED, BN_RESUME_MAY_CHANGE } bn_resume_rule;

/* bn_optim's recipe fields. sgd: momentum in [0, 1); adam, adamw: betas in [0, 1), eps > 0. weight_decay is
 * lambda, weights only: L2 for sgd and adam, decoupled for adamw. clip_norm > 0: when the global L2 norm of
 * the batch's loss gradient (every W and b, the decay term excluded) exceeds it, every gradient is scaled to
 * that norm before the update; 0: no clipping. */
#define BN_OPTIM_RECIPE(X)                                                                                        \
    X(bn_optimizer, kind, "optimizer", BN_FIELD_ENUM, 0, BN_OPT_COUNT, 0, 2, 10, BN_RESUME_FIXED)               \
    X(float, lr, "learning rate", BN_FIELD_F32, 0, BN_RANGE_LIMIT, BN_RANGE_LO_OPEN | BN_RANGE_STORED_ZERO, 1, 2, \
      BN_RESUME_FIXED)                                                                                            \
    X(float, momentum, "momentum", BN_FIELD_F32, 0, 1, BN_RANGE_HI_OPEN, 1, 3, BN_RESUME_FIXED)                  \
    X(float, weight_decay, "weight decay", BN_FIELD_F32, 0, BN_RANGE_LIMIT, 0, 1, 4, BN_RESUME_FIXED)            \
    X(bool, nesterov, "nesterov", BN_FIELD_BOOL, 0, 1, 0, 1, 5, BN_RESUME_FIXED)                                 \
    X(float, beta1, "beta1", BN_FIELD_F32, 0, 1, BN_RANGE_HI_OPEN | BN_RANGE_ADAM, 2, 11, BN_RESUME_FIXED)       \
    X(float, beta2, "beta2", BN_FIELD_F32, 0, 1, BN_RANGE_HI_OPEN | BN_RANGE_ADAM, 2, 12, BN_RESUME_FIXED)       \
    X(float, eps, "eps", BN_FIELD_F32, 0, BN_RANGE_LIMIT, BN_RANGE_LO_OPEN | BN_RANGE_ADAM, 2, 13, BN_RESUME_FIXED) \
    X(float, clip_norm, "clip norm", BN_FIELD_F32, 0, BN_RANGE_LIMIT, 0, 2, 14, BN_RESUME_FIXED)

#define BN_RECIPE_DECLARE_FIELD(type, name, ...) type name;

/* One step's optimizer: bn_hparams holds the run's, and bn_train hands the step a copy with this step's
 * rate (the schedule applied) and update count t. */
typedef struct bn_optim {
    BN_OPTIM_RECIPE(BN_RECIPE_DECLARE_FIELD)
    uint64_t t; /* 1-based count of this update, for Adam's bias correction: the step's, not the recipe's */
} bn_optim;
/* The optimizer applied to the gradients bn_net_backprop left, with clipping. *weight_sqnorm (may be NULL)
 * receives ||W||^2 before the update, read in the same pass. */
BN_API void bn_net_optim_step(bn_net *net, const bn_optim *opt, double *weight_sqnorm);
/* bn_net_backprop followed by bn_net_optim_step, fused: without clipping each layer is updated as soon as
 * the backward pass is done with it, while its weights and gradients are still in cache (clipping needs
 * every gradient's norm first, so then every layer is updated after the backward pass). The weights come
 * out bitwise equal to the two calls; gradients are left in place, unscaled. Hidden layers drop units when
 * bn_net_set_dropout asked for it. A non-finite loss returns BN_E_DIVERGED with nothing updated (*loss still
 * receives it). *weight_sqnorm (may be NULL) receives ||W||^2 before the update. */
BN_API int bn_net_train_step(bn_net *net, const float *x, const int32_t *labels, int batch, const bn_optim *opt,
                             double *loss, int *correct, double *weight_sqnorm);

/* The global L2 norm of the last step's loss gradient before clipping (every W and b of the batch mean
 * loss, no decay term), whether or not it was above clip_norm; NaN when the step was taken without
 * clipping (clip_norm 0) or by bn_net_backprop alone. */
BN_API double bn_net_grad_norm(const bn_net *net);
/* Inverted dropout on every hidden layer's output in the training passes (bn_net_backprop,
 * bn_net_train_step; never in bn_net_forward or evaluation): a unit is zeroed with probability p and the
 * survivors scaled by 1/(1-p), so evaluation needs no scaling. Whether unit j of row r survives is a hash of
 * (seed, step, layer, first_row + r, j): the same on any thread count or split of rows, and after a resume.
 * bn_train sets it before every step (step: the global step); first_row is the batch's first row within the
 * global batch (0 on one process). p = 0: none. */
BN_API int bn_net_set_dropout(bn_net *net, float p, uint64_t seed, uint64_t step, uint64_t first_row);

/* ---- data parallelism: the communicator's protocol is in blasnet_comm.h ------------------------------ */

/* ---- data sets: MNIST-style uint8 images with uint8 labels ------------------------------------------ */
typedef struct bn_dataset {
    const uint8_t *pixels; /* (n, dim), 0..255, scaled to [0,1] when a batch is gathered */
    const uint8_t *labels; /* (n) */
    size_t n;
    int rows, cols, dim;
    void *storage; /* owner of the bytes, NULL for a view */
} bn_dataset;
/* Reads an IDX image file (magic 0x803) and its label file (magic 0x801), each plain or gzip-compressed
 * (recognised by its magic, inflated straight into the data set's storage), checking magic, dimensions, sizes
 * (a gzip file must inflate to exactly what its header promises) and that the counts agree. */
BN_API int bn_idx_load(bn_dataset *ds, const char *images_path, const char *labels_path);
/* Writes ds as an IDX image file and label file (uncompressed), each replaced atomically; a shape the readers
 * would refuse (not 1 to BN_MAX_WIDTH pixels, rows times columns) is refused before anything is written. */
BN_API int bn_idx_write(const bn_dataset *ds, const char *images_path, const char *labels_path);
/* Reads a CSV file (plain or gzip): one image per row, the label first, then the pixels 0..255; a header
 * line is optional (recognised by a first field that is not empty and holds a character other than digits,
 * blanks and signs); "\r\n" line ends are accepted. A line may hold 4 (BN_MAX_WIDTH + 1) characters, a gzip'd
 * file may inflate to 64 times its size plus 64 MiB, a pipe may give 4 GiB: more is refused.
 * Images are rows x cols when both are given, else square. Memory stays near the size of the uint8 data.
 * A bad row fails with the file, line, column and value. */
BN_API int bn_csv_load(bn_dataset *ds, const char *path, int rows, int cols);
/* Writes ds as CSV with a header line (label,pixel0,...), replaced atomically; a shape the readers would
 * refuse is refused, as by bn_idx_write. */
BN_API int bn_csv_write(const bn_dataset *ds, const char *path);

#define BN_PATH_MAX 4096
/* Where one part (train or test) of a data set is: IDX images and labels, or one CSV file. "" when absent. */
typedef struct bn_data_source {
    char images[BN_PATH_MAX], labels[BN_PATH_MAX], csv[BN_PATH_MAX];
} bn_data_source;
typedef struct bn_data_files {
    bn_data_source train, test;
    char set[256]; /* the set's name: the prefix before train-/t10k-/test- ("" for none) */
} bn_data_files;
/* Finds a data set at path. A folder: the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (test- for t10k- too), each plain or .gz, with a hyphen or
 * a dot before idx, after an optional prefix (emnist-letters-train-images-idx3-ubyte.gz); or a pair
 * PREFIXtrainSUFFIX.csv and PREFIXtestSUFFIX.csv (or .csv.gz). Where several sets are found, set (NULL: none)
 * names one by its prefix, and the error lists them. A .csv file: it is the training part, and its test
 * part is the file of the same name with test for train, where there is one (or the other way round). */
BN_API int bn_data_find(bn_data_files *files, const char *path, const char *set);

/* How stored images and labels become a data set. */
typedef struct bn_data_layout {
    int rows, cols;   /* CSV images' shape as stored; 0, 0: square */
    bool transpose;   /* images are stored transposed (EMNIST): each is transposed back as it loads */
    int label_offset; /* subtracted from every label (EMNIST letters are 1..26); a smaller label fails */
} bn_data_layout;
/* Loads src (IDX or CSV) into ds, laid out as layout says (NULL: as stored). */
BN_API int bn_data_load_source(bn_dataset *ds, const bn_data_source *src, const bn_data_layout *layout);
/* Loads both parts of files that are present (an absent part is left empty) and checks that they have
 * images of one shape. */
BN_API int bn_data_load(const bn_data_files *files, const bn_data_layout *layout, bn_dataset *train,
                        bn_dataset *test);
/* The four MNIST files in dir, found as bn_data_find finds them, both parts required. */
BN_API int bn_mnist_load(const char *dir, bn_dataset *train, bn_dataset *test);
BN_API void bn_dataset_free(bn_dataset *ds);
BN_API bn_dataset bn_dataset_slice(const bn_dataset *ds, size_t start, size_t count);
BN_API int bn_dataset_max_label(const bn_dataset *ds);
/* x (count, dim) = pixels[rows[i]] / 255, labels_out[i] = labels[rows[i]]; rows NULL means start..start+count */
BN_API void bn_dataset_gather(const bn_dataset *ds, const uint32_t *rows, size_t start, size_t count,
                              float *x, int32_t *labels_out);

/* ---- evaluation --------------------------------------------------------------------------------------- */
typedef struct bn_eval {
    double loss; /* mean cross-entropy */
    double accuracy;
    size_t n;
} bn_eval;
/* confusion: (classes, classes) counts, rows true, columns predicted; may be NULL. */
BN_API int bn_evaluate(bn_net *net, const bn_dataset *ds, bn_eval *out, uint64_t *confusion);

/* ---- training ----------------------------------------------------------------------------------------- */
typedef struct bn_progress {
    int epoch, epochs;    /* 1-based */
    size_t step, steps;   /* within the epoch, 1-based */
    uint64_t global_step; /* steps since the run began, 1-based */
    double elapsed_s;     /* since the epoch started */
    double samples_per_s; /* this epoch so far: the samples trained since the clock started (a resumed epoch's
                             samples before its stop were timed by the process that stopped) */
    double running_loss;  /* mean over this epoch's batches so far, L2 term included */
    double step_loss;     /* this step's batch loss, L2 term included */
    double grad_norm_w1;  /* L2 norm of the first layer's weight gradient at this step; NaN unless
                             bn_train_hooks.progress_grad_norm (it costs a pass over dW1) */
    double grad_norm;     /* global gradient norm before clipping; NaN without clipping */
    double lr;            /* this step's rate */
} bn_progress;

typedef struct bn_epoch_stats {
    int epoch;
    double train_loss, train_acc; /* running means over the epoch's batches (loss with L2 term) */
    double val_loss, val_acc;     /* NaN when there is no validation set */
    double lr;                    /* the rate of the epoch's last step */
    double seconds;               /* training-loop time of the epoch in this call, evaluation excluded */
    double samples_per_s;         /* the samples trained in those seconds, over them */
    double grad_norm_w1;          /* L2 norm of the first layer's weight gradient at the epoch's last step */
    bool best;                    /* early stopping: this epoch's weights are the best so far */
} bn_epoch_stats;

/* How the rate moves, step by step (bn_schedule_lr). constant: lr * decay^epoch. step: lr * decay^(epoch /
 * step_epochs). cosine: from lr down to lr_min along half a cosine over the run. onecycle: up from lr/25 to
 * lr over the warm-up (30% of the run unless warmup_steps says), then down to lr/25e4 along half a cosine.
 * Every schedule but onecycle rises linearly from lr/warmup_steps to its value over the first warmup_steps
 * steps. */
typedef enum { BN_SCHED_CONSTANT, BN_SCHED_STEP, BN_SCHED_COSINE, BN_SCHED_ONECYCLE, BN_SCHED_COUNT } bn_schedule;
BN_API const char *bn_schedule_name(bn_schedule schedule);
BN_API int bn_schedule_parse(bn_schedule *schedule, const char *name);

/* What early stopping watches on the validation set. */
typedef enum { BN_MONITOR_LOSS, BN_MONITOR_ACC, BN_MONITOR_COUNT } bn_monitor;
BN_API const char *bn_monitor_name(bn_monitor monitor);
BN_API int bn_monitor_parse(bn_monitor *monitor, const char *name);

/* bn_hparams's recipe fields; OPT(opt) places bn_optim's. epochs may be raised on resume. lr_decay: the
 * factor per epoch (per step_epochs) of the constant and step schedules, 1 = none; warmup_steps: linear
 * warm-up, onecycle's rising phase (0: 30% of the run); step_epochs: the step schedule's period (0 means 1);
 * lr_min: cosine's final rate; dropout on hidden layers; patience > 0: stop after that many epochs without a
 * better validation monitor; target_acc > 0: stop at the first epoch whose validation accuracy reaches it;
 * seed: initialisation, shuffling and dropout; init_std: BN_INIT_NORMAL only. The last four are what the
 * network sees, recorded for whoever uses the model later (eval, predict, a resume), set by the caller from
 * the data it loaded, stored in checkpoints (format 3), never read by bn_train: images of image_rows x
 * image_cols pixels as the network sees them (0 x 0: not recorded, as in formats 1 and 2), loaded from files
 * that stored them transposed (transpose), labels shifted down by label_offset as they loaded. */
#define BN_HPARAMS_RECIPE(X, OPT)                                                                                 \
    X(int, epochs, "epochs", BN_FIELD_INT, 1, 2147483647, BN_RANGE_STORED_ZERO, 1, 0, BN_RESUME_MAY_CHANGE)     \
    X(int, batch, "batch", BN_FIELD_INT, 1, 2147483647, BN_RANGE_STORED_ZERO, 1, 1, BN_RESUME_FIXED)            \
    OPT(opt)                                                                                                      \
    X(float, lr_decay, "lr decay", BN_FIELD_F32, 0, 1, BN_RANGE_LO_OPEN | BN_RANGE_STORED_ZERO, 1, 6,            \
      BN_RESUME_FIXED)                                                                                            \
    X(bn_schedule, schedule, "schedule", BN_FIELD_ENUM, 0, BN_SCHED_COUNT, 0, 2, 15, BN_RESUME_FIXED)            \
    X(uint64_t, warmup_steps, "warm-up steps", BN_FIELD_U64, 0, 0, BN_RANGE_ANY, 2, 16, BN_RESUME_FIXED)         \
    X(int, step_epochs, "step schedule period", BN_FIELD_INT, 0, 2147483647, 0, 2, 17, BN_RESUME_FIXED)          \
    X(float, lr_min, "final rate", BN_FIELD_F32, 0, BN_RANGE_LIMIT, 0, 2, 18, BN_RESUME_FIXED)                   \
    X(float, dropout, "dropout", BN_FIELD_F32, 0, 1, BN_RANGE_HI_OPEN, 2, 19, BN_RESUME_FIXED)                   \
    X(int, patience, "patience", BN_FIELD_INT, 0, 2147483647, 0, 2, 20, BN_RESUME_FIXED)                         \
    X(bn_monitor, monitor, "monitor", BN_FIELD_ENUM, 0, BN_MONITOR_COUNT, 0, 2, 21, BN_RESUME_FIXED)             \
    X(float, target_acc, "target accuracy", BN_FIELD_F32, 0, 1, 0, 2, 22, BN_RESUME_FIXED)                       \
    X(uint64_t, seed, "seed", BN_FIELD_U64, 0, 0, BN_RANGE_ANY, 1, 7, BN_RESUME_FIXED)                           \
    X(bn_init, init, "initialisation", BN_FIELD_ENUM, 0, BN_INIT_COUNT, 0, 1, 8, BN_RESUME_FIXED)                \
    X(float, init_std, "init std", BN_FIELD_F32, 0, BN_RANGE_LIMIT,                                              \
      BN_RANGE_LO_OPEN | BN_RANGE_STORED_ZERO | BN_RANGE_NORMAL, 1, 9, BN_RESUME_FIXED)                           \
    X(int, image_rows, "image rows", BN_FIELD_INT, 0, 0, BN_RANGE_UNCHECKED, 3, 23, BN_RESUME_FIXED)             \
    X(int, image_cols, "image columns", BN_FIELD_INT, 0, 0, BN_RANGE_UNCHECKED, 3, 24, BN_RESUME_FIXED)          \
    X(bool, transpose, "transpose", BN_FIELD_BOOL, 0, 1, BN_RANGE_UNCHECKED, 3, 25, BN_RESUME_FIXED)             \
    X(int, label_offset, "label offset", BN_FIELD_INT, 0, 0, BN_RANGE_UNCHECKED, 3, 26, BN_RESUME_FIXED)

#define BN_RECIPE_DECLARE_OPTIM(name) bn_optim name;

/* What a run is: fixed when it starts and stored in its checkpoints. bn_train reads every field from the
 * state it is given, each time it needs it, so there is no second copy to fall out of step. opt.lr is the
 * peak rate (the first epoch's for constant and step); opt.t is unused. */
typedef struct bn_hparams {
    BN_HPARAMS_RECIPE(BN_RECIPE_DECLARE_FIELD, BN_RECIPE_DECLARE_OPTIM)
} bn_hparams;

/* The default recipe (README: "Recipes"): 3 epochs of batch 64, Adam at a peak rate of 0.004 on the
 * onecycle schedule (30% warm-up), He initialisation, seed 1: 98% on MNIST with 784-512-10 for every seed
 * tried. momentum is 0.9, for a switch to sgd, whose customary rate is BN_DEFAULT_SGD_LR. */
#define BN_DEFAULT_ADAM_LR 0.004f
#define BN_DEFAULT_SGD_LR 0.05f
BN_API void bn_hparams_default(bn_hparams *hp);
/* The rate of the step after `step` steps of a run of steps_per_epoch steps an epoch. */
BN_API float bn_schedule_lr(const bn_hparams *hp, uint64_t step, uint64_t steps_per_epoch);

/* Why a run ended. */
typedef enum { BN_END_NONE, BN_END_EPOCHS, BN_END_PATIENCE, BN_END_TARGET } bn_end;

/* A run: what it is (hp) and where it is (everything else). Everything beyond the weights that a resumed run
 * needs to continue bitwise as if it had never stopped. */
typedef struct bn_train_state {
    bn_hparams hp;
    /* progress */
    int epoch;       /* epochs completed */
    uint64_t step;   /* steps completed within epoch `epoch` */
    bn_rng rng;      /* shuffle stream at the start of epoch `epoch`, before its shuffle */
    double loss_sum; /* running sums of the current epoch, so its summary is exact after a resume */
    uint64_t correct, seen;
    double train_seconds; /* totals over every epoch so far: training loop only */
    uint64_t samples;
    uint64_t train_n; /* training-set size, recorded when the run starts (0 before): a resume must match */
    /* early stopping: the best epoch so far (0: none), its validation monitor, the epochs since; the best
     * weights themselves are kept in the network (bn_net_best_params) */
    int best_epoch;
    double best_metric;
    int bad_epochs;
    bn_end end;              /* BN_END_NONE while the run can go on */
    double target_seconds;   /* training time when target_acc was reached (NaN before) */
    /* the digest of the plans the run last trained with (bn_net's plans for its batch sizes, recorded by
     * bn_train; 0: none recorded): the same seed, threads and plans give the same bits */
    uint64_t plan_digest;
} bn_train_state;
/* A run that has not started: hp at their defaults, progress zero. Change any hp field afterwards. */
BN_API void bn_train_state_init(bn_train_state *state);
/* Whether bn_train has started this run (its weights and shuffle stream come from it, not from hp). */
BN_API bool bn_train_started(const bn_train_state *state);

/* How a run is watched, stopped and saved; none of it changes what the run computes. Zero means none. */
typedef struct bn_train_hooks {
    int progress_every;      /* on_progress every this many steps; 0 = never */
    bool progress_grad_norm; /* fill bn_progress.grad_norm_w1; on several ranks, the same on every rank */
    void (*on_progress)(void *ctx, const bn_progress *p);
    void (*on_epoch)(void *ctx, const bn_epoch_stats *s);
    void *ctx;
    volatile int *stop;              /* set non-zero (from a signal handler, say) to stop after this step */
    const char *checkpoint_path;     /* NULL: no checkpoints during training */
    int checkpoint_every;            /* epochs; 0 = only when stopped */
    uint64_t checkpoint_every_steps; /* 0 = never mid-epoch */
    /* Called just before each checkpoint is written (may be NULL), so that the caller's own records of the run
     * (its logs) reach at least as far as the checkpoint will: a run killed before the write resumes from the
     * checkpoint before, and drops what its records hold beyond it. */
    void (*before_checkpoint)(void *ctx);
} bn_train_hooks;

/* Trains net on train (shuffled each epoch), evaluating on val after each epoch when val->n > 0, from where
 * state says until state->hp.epochs epochs are done. A run that has not started begins by filling the
 * weights from hp.init, hp.init_std and hp.seed (bn_net_init with an rng seeded from hp.seed) and seeding
 * the shuffle stream; a started run (a resumed checkpoint) keeps the weights it has. hooks may be NULL.
 * Returns BN_E_DIVERGED on a non-finite loss (the message names epoch and step; the weights are those before
 * that step) and BN_E_INTERRUPTED when *hooks->stop was set (state then says where to resume). net's
 * max_batch must be >= state->hp.batch. Early stopping (hp.patience) keeps the best epoch's weights in
 * bn_net_best_params and ends with them in the network; hp.target_acc ends the run at the first epoch that
 * reaches it, with the weights that reached it. Either sets state->end, and a run that has ended trains no
 * further when given again. Decisions read the validation set only; without one, patience and target_acc are refused. */
BN_API int bn_train(bn_net *net, const bn_dataset *train, const bn_dataset *val, const bn_train_hooks *hooks,
                    bn_train_state *state);

/* ---- models and checkpoints on disk --------------------------------------------------------------------
 * One format (docs/checkpoint-format.md): magic, version, endianness marker, architecture, activation,
 * hyperparameters, optimizer state, RNG state, progress, weights and biases, CRC-32. Written atomically
 * (temporary file in the same folder, fsync, rename, fsync folder): a failure at any moment leaves the
 * previous file intact. A symbolic link at the path is followed (its file replaced, the link kept); a device,
 * pipe or folder there is refused. state may be NULL on save (zeros are stored) and on load. */
BN_API int bn_checkpoint_save(const bn_net *net, const bn_train_state *state, const char *path);
/* Creates *net with max_batch rows of workspace (0: the batch size stored in the file, at least 1). Reads no
 * more than the header declares, and never more than 4 GiB; a pipe or device works as a file does. */
BN_API int bn_checkpoint_load(bn_net **net, bn_train_state *state, const char *path, int max_batch,
                              const bn_backend *backend);

/* ---- platform ------------------------------------------------------------------------------------------ */
/* Sets OpenMP's and OpenBLAS's thread counts together (n >= 1). The library itself never calls this. */
BN_API void bn_set_threads(int n);
BN_API int bn_get_threads(void);
BN_API int bn_default_threads(void); /* OMP_NUM_THREADS if set and valid, else all cores */
/* The library behind each tile of a product: "openblas", or "dnnl" in a build configured -Dgemm_engine=dnnl. */
BN_API const char *bn_gemm_engine_name(void);

#ifdef __cplusplus
}
#endif
#endif
