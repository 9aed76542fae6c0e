/* What a newcomer trips on (issue 22), each through the built binary: logs that a resume continues rather than
 * wipes, a finished run refused with how to train on, counts in the singular, Kaggle's CSV layout (an
 * unlabelled test.csv) trained on and labelled by predict --csv, and eval's averages under its per-class
 * table. The resumed epoch's rate is held in test_resume, at the library, where it is computed. */
#include "cli_run.h"

#include <math.h>
#include <signal.h>
#include <time.h>

static char data[300];

/* ---- files as text ----------------------------------------------------------------------------------- */

/* text with the given 1-based comma-separated fields of every row blanked (the times, which differ between
 * two runs); # and header lines unchanged. Malloc'd. */
static char *without_fields(const char *text, int first, int last)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        bool row = *p >= '0' && *p <= '9';
        int field = 1;
        for (size_t i = 0; i < len; i++) {
            field += p[i] == ',';
            if (!row || p[i] == ',' || p[i] == '\n' || field < first || field > last)
                *o++ = p[i];
        }
        p += len;
    }
    *o = '\0';
    return out;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Whether two logs agree: the step logs byte for byte, the epoch logs but for seconds and samples/s. */
static void same_logs(const char *what, const char *epochs_a, const char *epochs_b, const char *steps_a,
                      const char *steps_b)
{
    char *ea = slurp(epochs_a), *eb = slurp(epochs_b), *sa = slurp(steps_a), *sb = slurp(steps_b);
    char *ta = without_fields(ea, 7, 8), *tb = without_fields(eb, 7, 8);
    CHECKF(count_lines(ea) > 3 && strcmp(ta, tb) == 0, "%s: epoch logs differ:\n%s\n--- against ---\n%s", what,
           ea, eb);
    CHECKF(count_lines(sa) > 3 && strcmp(sa, sb) == 0, "%s: step logs differ:\n%s\n--- against ---\n%s", what,
           sa, sb);
    free(ta), free(tb), free(ea), free(eb), free(sa), free(sb);
}

/* ---- logs across a resume ---------------------------------------------------------------------------- */

static void logs_across_an_epoch_boundary(void)
{
    char a_e[400], a_s[400], b_e[400], b_s[400], ck[400];
    file_in(a_e, sizeof a_e, root, "a-epochs.csv"), file_in(a_s, sizeof a_s, root, "a-steps.csv");
    file_in(b_e, sizeof b_e, root, "b-epochs.csv"), file_in(b_s, sizeof b_s, root, "b-steps.csv");
    file_in(ck, sizeof ck, root, "b.ck");
#define RECIPE "--data", data, "--hidden", "16", "--batch", "32", "--schedule", "constant", "--threads", "1", "--quiet"
    OK_RUN("uninterrupted", "train", RECIPE, "--epochs", "4", "--log", a_e, "--log-steps", a_s, "--log-every", "3");
    OK_RUN("first 2 epochs", "train", RECIPE, "--epochs", "2", "--checkpoint", ck, "--log", b_e, "--log-steps", b_s,
           "--log-every", "3");
    OK_RUN("2 more", "train", "--data", data, "--resume", ck, "--epochs", "4", "--threads", "1", "--quiet", "--log",
           b_e, "--log-steps", b_s, "--log-every", "3");
#undef RECIPE
    same_logs("2 epochs, then resumed to 4", a_e, b_e, a_s, b_s);

    /* Now finished: a resume says so, how to go on, and leaves the logs as they are. */
    char *before = slurp(b_s), line[1024];
    cli_result r = RUN("train", "--data", data, "--resume", ck, "--threads", "1", "--log", b_e, "--log-steps", b_s);
    no_crash("resume a finished run", &r);
    error_lines(r.err, line, sizeof line);
    CHECKF(r.code == 2 && strstr(line, "finished run (4/4 epochs)") && strstr(line, "--epochs N"),
           "resume of a finished run: exit %d, want 2 and its count and --epochs N: %s", r.code, r.err);
    char *after = slurp(b_s);
    CHECKF(strcmp(before, after) == 0, "a refused resume changed the step log");
    free(before), free(after);
    result_free(&r);
}

/* Starts blasnet with args and SIGKILLs it after ms milliseconds; the exit status as a shell gives it. */
static int run_killed(const char *const *args, int ms)
{
    const char *argv[64] = {"blasnet"};
    int argc = 1;
    while (args[argc - 1] && argc < 63)
        argv[argc] = args[argc - 1], argc++;
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(120);
        execv(BN_BLASNET_EXE, (char *const *)argv);
        _exit(121);
    }
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Killed mid-epoch between two checkpoints: the logs hold rows past the checkpoint, which the resume drops
 * before it goes on, so that the files end as the uninterrupted run's do. */
static void logs_across_a_kill(void)
{
    char a_e[400], a_s[400], b_e[400], b_s[400], ck[400];
    file_in(a_e, sizeof a_e, root, "ka-epochs.csv"), file_in(a_s, sizeof a_s, root, "ka-steps.csv");
    file_in(b_e, sizeof b_e, root, "kb-epochs.csv"), file_in(b_s, sizeof b_s, root, "kb-steps.csv");
    file_in(ck, sizeof ck, root, "kb.ck");
#define RECIPE "--data", data, "--hidden", "128", "--batch", "16", "--epochs", "12", "--threads", "1", "--quiet", \
               "--log-every", "2"
    OK_RUN("uninterrupted", "train", RECIPE, "--log", a_e, "--log-steps", a_s);
    bool killed = false;
    for (int ms = 150; ms <= 1200 && !killed; ms += 150) {
        unlink(ck), unlink(b_e), unlink(b_s);
        int rc = run_killed((const char *const[]){"train", RECIPE, "--checkpoint", ck, "--checkpoint-steps", "7",
                                                  "--log", b_e, "--log-steps", b_s, NULL},
                            ms);
        killed = rc == 128 + SIGKILL && access(ck, F_OK) == 0;
    }
#undef RECIPE
    if (!killed) {
        printf("newcomer: every run finished before its kill or had no checkpoint yet: the kill case was skipped\n");
        return;
    }
    OK_RUN("resumed after a kill", "train", "--data", data, "--resume", ck, "--threads", "1", "--quiet",
           "--log-every", "2", "--log", b_e, "--log-steps", b_s);
    same_logs("killed between checkpoints, then resumed", a_e, b_e, a_s, b_s);
}

/* ---- singular counts --------------------------------------------------------------------------------- */

static void singular_counts(void)
{
    cli_result r = RUN("train", "--data", data, "--hidden", "8", "--epochs", "1", "--threads", "1");
    no_crash("train --epochs 1 --threads 1", &r);
    CHECKF(r.code == 0, "train --epochs 1: exit %d: %s", r.code, r.err);
    CHECKF(strstr(r.out, "1 epoch") && strstr(r.out, "1 thread"), "no '1 epoch' or '1 thread' in: %s", r.out);
    CHECKF(!strstr(r.out, "1 epochs") && !strstr(r.out, "1 threads"), "a plural after 1 in: %s", r.out);
    result_free(&r);
}

/* ---- Kaggle's layout ---------------------------------------------------------------------------------- */

/* Rewrites the labelled CSV `from` into `to` without its first field, as Kaggle's test.csv comes. */
static void drop_label_column(const char *from, const char *to)
{
    char *text = slurp(from);
    FILE *f = fopen(to, "w");
    CHECKF(f != NULL, "cannot write %s", to);
    for (const char *p = text; f && *p;) {
        const char *nl = strchr(p, '\n'), *comma = strchr(p, ',');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (comma && comma < p + len)
            fwrite(comma + 1, 1, len - (size_t)(comma + 1 - p), f);
        p += len;
    }
    if (f)
        fclose(f);
    free(text);
}

/* How many rows of predictions (ImageId,Label) match the labels of the labelled CSV; -1 when malformed. */
static int predictions_right(const char *predictions, const char *labelled, int *rows)
{
    char *p = slurp(predictions), *l = slurp(labelled);
    int right = 0, id, label;
    *rows = 0;
    const char *pp = strchr(p, '\n'), *lp = strchr(l, '\n'); /* both begin with a header */
    bool ok = strncmp(p, "ImageId,Label\n", 14) == 0 && pp && lp;
    while (ok && pp[1] && lp[1] && sscanf(pp + 1, "%d,%d", &id, &label) == 2) {
        ok = id == ++*rows;
        right += atoi(lp + 1) == label;
        pp = strchr(pp + 1, '\n'), lp = strchr(lp + 1, '\n');
        ok = ok && pp && lp;
    }
    free(p), free(l);
    return ok ? right : -1;
}

static void kaggle_folder(void)
{
    char kaggle[300], labelled[400], test_csv[400], model[400], out[400];
    make_dir(kaggle, sizeof kaggle, "kaggle");
    OK_RUN("data convert --to csv", "data", "convert", "--data", data, "--to", "csv", "--out", kaggle);
    file_in(test_csv, sizeof test_csv, kaggle, "test.csv");
    file_in(labelled, sizeof labelled, root, "labelled-test.csv");
    CHECK(rename(test_csv, labelled) == 0);
    drop_label_column(labelled, test_csv);
    file_in(model, sizeof model, root, "kaggle.bin");
    file_in(out, sizeof out, root, "predictions.csv");

    cli_result r = RUN("train", "--data", kaggle, "--hidden", "32", "--epochs", "3", "--threads", "1", "--save", model);
    no_crash("train on Kaggle's layout", &r);
    CHECKF(r.code == 0 && strstr(r.err, "test.csv") && strstr(r.err, "unlabelled") && strstr(r.out, "test: none"),
           "train on Kaggle's layout: exit %d, want 0, a note naming test.csv as unlabelled and 'test: none': %s%s",
           r.code, r.out, r.err);
    result_free(&r);

    r = expect_one_error_line("eval on the unlabelled test.csv", 1, "test.csv",
                              (const char *const[]){"eval", "--model", model, "--test-csv", test_csv, NULL});
    CHECKF(strstr(r.err, "predict") != NULL, "eval's refusal does not say how to label it: %s", r.err);
    result_free(&r);

    OK_RUN("predict --csv", "predict", "--model", model, "--csv", test_csv, "--out", out);
    r = RUN("eval", "--model", model, "--test-csv", labelled, "--brief");
    double acc = NAN;
    int n = 0, rows = 0;
    const char *line = strstr(r.out, "test:");
    CHECKF(line && sscanf(line, "test: loss=%*f acc=%lf%% n=%d", &acc, &n) == 2, "eval's test line: %s", r.out);
    int right = predictions_right(out, labelled, &rows);
    CHECKF(right >= 0 && rows == n && rows == 100, "predictions.csv: %d rows (want %d), ids from 1", rows, n);
    CHECKF(fabs(100.0 * right / (rows ? rows : 1) - acc) < 0.006,
           "predict --csv is right on %d of %d, eval says %.2f%%: the two disagree", right, rows, acc);
    result_free(&r);
}

/* ---- eval's averages ----------------------------------------------------------------------------------- */

/* The per-class rows and the three summary rows of eval's report, against each other and the test line. */
static void eval_averages(void)
{
    char model[400];
    file_in(model, sizeof model, root, "avg.bin");
    OK_RUN("train", "train", "--data", data, "--hidden", "8", "--epochs", "1", "--threads", "1", "--quiet", "--save",
           model);
    cli_result r = RUN("eval", "--model", model, "--data", data, "--threads", "1");
    CHECKF(r.code == 0, "eval: exit %d: %s", r.code, r.err);
    double sum[3] = {0}, weighted[3] = {0}, macro[3], wavg[3], acc, test_acc;
    int classes = 0, total = 0, support, cls, n1, n2, n3;
    char field[3][16];
    const char *p = strstr(r.out, "class precision");
    for (p = p ? strchr(p, '\n') : NULL; p && sscanf(p + 1, "%d %15s %15s %15s %d", &cls, field[0], field[1],
                                                    field[2], &support) == 5; p = strchr(p + 1, '\n')) {
        for (int k = 0; k < 3; k++) { /* "-": undefined (no sample predicted as the class), 0 in the averages */
            double v = strcmp(field[k], "-") == 0 ? 0.0 : atof(field[k]);
            sum[k] += v, weighted[k] += v * support;
        }
        classes++, total += support;
    }
    const char *a = strstr(r.out, "accuracy"), *m = strstr(r.out, "macro avg"), *w = strstr(r.out, "weighted avg");
    const char *t = strstr(r.out, "test:");
    bool parsed = a && m && w && t && sscanf(a, "accuracy %lf %d", &acc, &n1) == 2 &&
                  sscanf(m, "macro avg %lf %lf %lf %d", &macro[0], &macro[1], &macro[2], &n2) == 4 &&
                  sscanf(w, "weighted avg %lf %lf %lf %d", &wavg[0], &wavg[1], &wavg[2], &n3) == 4 &&
                  sscanf(t, "test: loss=%*f acc=%lf%%", &test_acc) == 1;
    CHECKF(parsed && classes == 10 && total == 100, "eval's report: %d classes, %d samples: %s", classes, total,
           r.out);
    for (int k = 0; parsed && k < 3; k++) {
        CHECKF(fabs(macro[k] - sum[k] / classes) < 2e-4, "macro avg column %d: %.4f, the classes' mean %.4f", k,
               macro[k], sum[k] / classes);
        CHECKF(fabs(wavg[k] - weighted[k] / total) < 2e-4, "weighted avg column %d: %.4f, want %.4f", k, wavg[k],
               weighted[k] / total);
    }
    CHECKF(parsed && n1 == total && n2 == total && n3 == total, "the summary rows' support is not %d", total);
    CHECKF(parsed && fabs(wavg[1] - acc) < 2e-4 && fabs(100.0 * acc - test_acc) < 0.006,
           "weighted recall %.4f, accuracy %.4f and the test line's %.2f%% must agree", wavg[1], acc, test_acc);
    result_free(&r);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "newcomer"))
        return EXIT_FAILURE;
    make_dir(data, sizeof data, "data");
    CHECK(idxw_write_synth_pair(data, "train", 1200, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 100, 28, 28, 10, 2) == 0);
    bn_test_case("logs continue across a resume at an epoch's end; a finished run is refused",
                 logs_across_an_epoch_boundary);
    bn_test_case("logs continue across a kill between checkpoints", logs_across_a_kill);
    bn_test_case("one epoch, one thread: singular", singular_counts);
    bn_test_case("Kaggle's layout: train, eval refuses, predict --csv labels", kaggle_folder);
    bn_test_case("eval's macro and weighted averages", eval_averages);
    if (!bn_test_failures)
        bn_test_remove_tree(root);
    else
        fprintf(stderr, "files kept in %s\n", root);
    return bn_test_exit("newcomer");
}
