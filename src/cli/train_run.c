/* blasnet train's run: its files checked, its data loaded and its network made (or its checkpoint resumed),
 * the ranks under mpirun agreed, the signals that stop it caught, bn_train called with hooks that report,
 * and its outcome, model and test said. */
#include "train_cmd.h"
#include "train.h"
#include "blasnet_comm.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* arch <- inputs, the widths in `hidden`, classes; or a usage line naming --hidden. */
cli_exit hidden_sizes(const char *hidden, int inputs, int classes, bn_arch *arch)
{
    char list[4096];
    if ((size_t)snprintf(list, sizeof list, "%d,%s,%d", inputs, hidden, classes) >= sizeof list)
        return cli_error(EXIT_USAGE, "train",
                         "--hidden: the list is %zu characters long; write the widths without padding", strlen(hidden));
    if (bn_arch_parse_sizes(arch, list))
        return cli_error(EXIT_USAGE, "train", "--hidden: %s", bn_errmsg());
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
    hooks->on_progress = speaks ? train_on_progress : NULL;
    hooks->on_epoch = speaks ? train_on_epoch : NULL;
    hooks->before_checkpoint = speaks ? train_before_checkpoint : NULL;
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
    if (!rc && !(rc = check_labels_fit(r)))
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

/* The command that measures what a run under mpirun lacks: tune runs alone, so it may measure. */
static void format_tune_hint(const train_run *r, char *buf, size_t size)
{
    const bn_arch *arch = bn_net_arch(r->net);
    char sizes[BN_MAX_LAYERS * 8 + 8];
    size_t len = 0;
    for (int l = 0; l <= arch->depth && len < sizeof sizes; l++)
        len += (size_t)snprintf(sizes + len, sizeof sizes - len, "%s%d", l ? "," : "", arch->sizes[l]);
    const int ranks = r->launch.launched ? r->launch.comm.size : 1;
    snprintf(buf, size, "blasnet tune --layers %s --batch %d --samples %zu --val %zu --test %zu --ranks %d "
             "--threads %d", sizes, r->state.hp.batch, r->train.n, r->val.n, r->test.n, ranks, bn_get_threads());
}

/* The run's plans, before its header: chosen for every batch size bn_train will run (from the wisdom, what
 * it lacks measured and said in one line); a resume told when its checkpoint was trained with other plans. */
static cli_exit make_plans(const train_options *o, train_run *r)
{
    const bn_comm *comm = r->launch.launched ? &r->launch.comm : NULL;
    const int rank = comm ? comm->rank : 0, ranks = comm ? comm->size : 1;
    const size_t B = (size_t)r->state.hp.batch, full = r->train.n < B ? r->train.n : B;
    size_t lo;
    const int rows = (int)bn_train_share(full, rank, ranks, &lo);
    cli_exit rc = plans_open("train", &o->common, r->net, comm, rows, true, &r->plans);
    int status = rc ? BN_OK : bn_train_plan(r->net, r->train.n, r->val.n, r->state.hp.batch, rank, ranks);
    if (!rc && !status && r->test.n) /* the test at the end: each rank's share, in chunks, as the validation */
        status = bn_train_plan(r->net, 0, r->test.n, r->state.hp.batch, rank, ranks);
    rc = ranks_agree("train", &r->launch, rc ? rc : status ? runtime_error("train", status, NULL) : EXIT_OK);
    if (rc)
        return rc;
    char hint[600];
    format_tune_hint(r, hint, sizeof hint);
    plans_keep("train", r->net, &r->plans, hint);
    uint64_t before = r->state.plan_digest;
    bool fits = r->state.train_n == r->train.n; /* else bn_train refuses the resume, in one line */
    if (o->resume_path && fits && before && before != r->plans.digest && ranks_speak(&r->launch))
        fprintf(stderr, "blasnet train: note: '%s' was trained with other plans (digest %016llx, now %016llx): the "
                        "resumed run's last bits may differ from an uninterrupted one's\n",
                o->resume_path, (unsigned long long)before, (unsigned long long)r->plans.digest);
    return EXIT_OK;
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
cli_exit run_train(void *ctx)
{
    const train_options *o = ctx;
    train_run r = {0};
    cli_exit rc = ranks_start("train", &o->common, &r.launch);
    if (rc || (rc = set_up(o, &r)) || (rc = make_plans(o, &r)))
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
