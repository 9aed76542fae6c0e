/* The blasnet command as a user meets it: runs the built binary (BN_BLASNET_EXE) with fork/exec on small
 * synthetic IDX folders, capturing stdout, stderr and the exit status. Usage errors exit 2 with one line
 * naming the flag, bad data exits 1 with one line naming the file, nothing dies by a signal. */
#define _GNU_SOURCE /* mkdtemp, strcasestr */
#include "cli_run.h"
#include "harness.h"
#include "idx_write.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- data folders ----------------------------------------------------------------------------------------- */
static char good[300], empty[300];

/* 600 training and 100 test images, 28x28, labels 0..9 (a bright block whose place is the label). */
static void make_good(char *out, size_t size, const char *name)
{
    make_dir(out, size, name);
    CHECK(idxw_write_synth_pair(out, "train", 600, 28, 28, 10, 11) == 0);
    CHECK(idxw_write_synth_pair(out, "t10k", 100, 28, 28, 10, 12) == 0);
}

static bool matches(const char *text, const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* The last n lines of text (n <= 4), each without its newline. */
static int last_lines(const char *text, int n, char lines[][512])
{
    const char *end = text + strlen(text);
    if (end > text && end[-1] == '\n')
        end--;
    int got = 0;
    while (got < n && end > text) {
        const char *start = end;
        while (start > text && start[-1] != '\n')
            start--;
        snprintf(lines[n - 1 - got], 512, "%.*s", (int)(end - start), start);
        got++;
        end = start > text ? start - 1 : text;
    }
    return got;
}

/* ---- the checks ------------------------------------------------------------------------------------------- */
static void basics(void)
{
    cli_result r = RUN("--version");
    no_crash("--version", &r);
    CHECKF(r.code == 0 && strstr(r.out, "blasnet"), "--version: exit %d, stdout %s", r.code, r.out);
    result_free(&r);

    r = RUN("--help");
    no_crash("--help", &r);
    CHECKF(r.code == 0 && strstr(r.out, "usage"), "--help: exit %d", r.code);
    result_free(&r);

    r = RUN("train", "--help");
    no_crash("train --help", &r);
    CHECKF(r.code == 0, "train --help: exit %d", r.code);
    CHECKF(strstr(r.out, "usage: blasnet train") && strstr(r.out, "--batch") && strstr(r.out, "--lr"),
           "train --help does not print the usage: %s", r.out);
    result_free(&r);

    r = RUN("eval", "--help");
    no_crash("eval --help", &r);
    CHECKF(r.code == 0 && strstr(r.out, "--model"), "eval --help: exit %d: %s", r.code, r.out);
    result_free(&r);

    r = RUN("info");
    no_crash("info", &r);
    CHECKF(r.code == 0 && strcasestr(r.out, "openblas"), "info: exit %d: %s", r.code, r.out);
    result_free(&r);

    r = RUN("frobnicate");
    no_crash("unknown command", &r);
    CHECKF(r.code == 2 && strstr(r.err, "frobnicate") && strstr(r.err, "usage"),
           "unknown command: exit %d, stderr %s", r.code, r.err);
    result_free(&r);

    r = run_argv((const char *const[]){NULL});
    no_crash("no command", &r);
    CHECKF(r.code == 2 && strstr(r.err, "usage"), "no command: exit %d", r.code);
    result_free(&r);

    USAGE("--bogus", "train", "--data", good, "--bogus");
    USAGE("--bogus", "eval", "--bogus");
    USAGE("--model", "eval", "--data", good);
    USAGE("--batch", "train", "--data", good, "--batch"); /* a flag without its value */
    USAGE("stray", "train", "--data", good, "stray");
}

static void range_checks(void)
{
    USAGE("--batch", "train", "--data", good, "--batch", "0");
    USAGE("--batch", "train", "--data", good, "--batch", "-1");
    USAGE("--batch", "train", "--data", good, "--batch", "abc");
    USAGE("--batch", "train", "--data", good, "--batch", "12x");
    USAGE("--batch", "train", "--data", good, "--batch", "99999999999999999999");
    USAGE("--epochs", "train", "--data", good, "--epochs", "0");
    USAGE("--epochs", "train", "--data", good, "--epochs", "1.5");
    USAGE("--lr", "train", "--data", good, "--lr", "0");
    USAGE("--lr", "train", "--data", good, "--lr", "-1");
    USAGE("--lr", "train", "--data", good, "--lr", "nan");
    USAGE("--lr", "train", "--data", good, "--lr", "inf");
    USAGE("--momentum", "train", "--data", good, "--momentum", "1");
    USAGE("--momentum", "train", "--data", good, "--momentum", "-0.1");
    USAGE("--threads", "train", "--data", good, "--threads", "0");
    USAGE("--threads", "eval", "--model", "m.bin", "--threads", "0");
    USAGE("--hidden", "train", "--data", good, "--hidden", "0");
    USAGE("--hidden", "train", "--data", good, "--hidden", "10,,10");
    USAGE("--hidden", "train", "--data", good, "--hidden", "-5");
    USAGE("--hidden", "train", "--data", good, "--hidden", "16777217"); /* BN_MAX_WIDTH + 1 */
    USAGE("--layers", "train", "--data", good, "--layers", "784");
    USAGE("--hidden", "train", "--data", good, "--hidden", "16", "--layers", "784,16,10");
    USAGE("--act", "train", "--data", good, "--act", "foo");
    USAGE("--init", "train", "--data", good, "--init", "foo");
    USAGE("--init-std", "train", "--data", good, "--init", "normal", "--init-std", "0");
    USAGE("--lr-decay", "train", "--data", good, "--lr-decay", "0");
    USAGE("--lr-decay", "train", "--data", good, "--lr-decay", "1.5");
    USAGE("--leaky-slope", "train", "--data", good, "--leaky-slope", "1");
    USAGE("--weight-decay", "train", "--data", good, "--weight-decay", "-1");
    USAGE("--seed", "train", "--data", good, "--seed", "-1");
    USAGE("--classes", "train", "--data", good, "--classes", "1");
    USAGE("--backend", "train", "--data", good, "--backend", "cuda");
    USAGE("--blas-core", "train", "--data", good, "--blas-core", "Pentium4000");
    USAGE("--plan", "train", "--data", good, "--plan", "fastest");
    USAGE("--plan", "info", "--plan", "rows,cols");
    USAGE("--batch", "info", "--batch", "0");
    /* The environment's default plan: a name it does not know is one line and exit 1, before any training. */
    setenv("BLASNET_PLAN", "fastest", 1);
    DATA_ERROR("BLASNET_PLAN=fastest", "BLASNET_PLAN", "train", "--data", good, "--epochs", "1");
    unsetenv("BLASNET_PLAN");
    /* 600 training images: a validation set of all of them, or more, leaves nothing to train on. */
    USAGE("--val", "train", "--data", good, "--val", "600");
    USAGE("--val", "train", "--data", good, "--val", "100000");
    USAGE("--val", "train", "--data", good, "--val", "-1");
}

/* Copies good/ into a new folder and lets the caller break one file in it. */
static void copy_good(char *out, size_t size, const char *name)
{
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    make_dir(out, size, name);
    for (int i = 0; i < 4; i++) {
        char src[600], dst[600];
        file_in(src, sizeof src, good, names[i]);
        file_in(dst, sizeof dst, out, names[i]);
        size_t n = 0;
        uint8_t *bytes = idxw_read_all(src, &n);
        CHECK(bytes && idxw_write_bytes(dst, bytes, n) == 0);
        free(bytes);
    }
}

/* dir/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte: n synthetic 28x28 images of labels 0..classes-1,
 * except that row `row` is given `label`. */
static void write_with_stray_label(const char *dir, const char *prefix, uint32_t n, int classes, uint64_t seed,
                                   size_t row, uint8_t label)
{
    char f[600], name[64];
    uint8_t *px = malloc((size_t)n * 784), *lab = malloc(n);
    CHECK(px != NULL && lab != NULL && row < n);
    if (px && lab && row < n) {
        idxw_synth(px, lab, n, 28, 28, classes, seed);
        lab[row] = label;
        snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
        file_in(f, sizeof f, dir, name);
        CHECK(idxw_write_images(f, px, n, 28, 28) == 0);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
        file_in(f, sizeof f, dir, name);
        CHECK(idxw_write_labels(f, lab, n) == 0);
    }
    free(px);
    free(lab);
}

static void broken_data(void)
{
    char d[300], f[600];
    /* Wrong magic in the training images and in the test labels. */
    copy_good(d, sizeof d, "magic-train-images");
    file_in(f, sizeof f, d, "train-images-idx3-ubyte");
    CHECK(idxw_write(f, 0x00000801u, 3, (const uint32_t[]){600, 28, 28}, NULL, 0) == 0);
    DATA_ERROR("wrong magic (train images)", "train-images-idx3-ubyte", "train", "--data", d, "--epochs", "1");
    copy_good(d, sizeof d, "magic-test-labels");
    file_in(f, sizeof f, d, "t10k-labels-idx1-ubyte");
    uint8_t junk[100] = {0};
    CHECK(idxw_write(f, 0x1f8b0808u, 1, (const uint32_t[]){100}, junk, sizeof junk) == 0);
    DATA_ERROR("wrong magic (test labels)", "t10k-labels-idx1-ubyte", "train", "--data", d, "--epochs", "1");

    /* Truncated in the body, and inside the header. */
    copy_good(d, sizeof d, "truncated");
    file_in(f, sizeof f, d, "train-images-idx3-ubyte");
    size_t n = 0;
    uint8_t *bytes = idxw_read_all(f, &n);
    CHECK(bytes && idxw_write_bytes(f, bytes, n - 1000) == 0);
    DATA_ERROR("truncated body", "train-images-idx3-ubyte", "train", "--data", d, "--epochs", "1");
    CHECK(bytes && idxw_write_bytes(f, bytes, 10) == 0);
    DATA_ERROR("truncated header", "train-images-idx3-ubyte", "train", "--data", d, "--epochs", "1");
    free(bytes);

    /* Labels 0..9 with --classes 3: the label file is what disagrees. */
    DATA_ERROR("label >= --classes", "train-labels-idx1-ubyte", "train", "--data", good, "--classes", "3",
               "--epochs", "1");
    DATA_ERROR("label >= --layers outputs", "--layers", "train", "--data", good, "--layers",
               "784,16,5", "--epochs", "1");

    /* Training labels 0..4, a test label 7 that no class covers. */
    make_dir(d, sizeof d, "unseen-test-label");
    CHECK(idxw_write_synth_pair(d, "train", 600, 28, 28, 5, 3) == 0);
    write_with_stray_label(d, "t10k", 100, 5, 4, 37, 7);
    DATA_ERROR("test label 7 with training labels 0..4", "t10k-labels-idx1-ubyte", "train", "--data", d,
               "--epochs", "1");

    /* 600 images, 599 labels. */
    copy_good(d, sizeof d, "count-mismatch");
    file_in(f, sizeof f, d, "train-labels-idx1-ubyte");
    uint8_t *many = calloc(599, 1);
    CHECK(many && idxw_write_labels(f, many, 599) == 0);
    free(many);
    DATA_ERROR("599 labels for 600 images", "train-labels-idx1-ubyte", "train", "--data", d, "--epochs", "1");

    /* Nothing there at all. */
    DATA_ERROR("empty folder", "train-images-idx3-ubyte", "train", "--data", empty, "--epochs", "1");
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no-such-folder", root);
    DATA_ERROR("missing folder", "no-such-folder", "train", "--data", missing, "--epochs", "1");

    /* A training file with zero images is valid IDX but nothing to train on: a data error, not a usage one. */
    make_dir(d, sizeof d, "zero-images");
    CHECK(idxw_write_synth_pair(d, "train", 0, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(d, "t10k", 100, 28, 28, 10, 1) == 0);
    DATA_ERROR("zero training images", "train-images-idx3-ubyte", "train", "--data", d, "--epochs", "1");

    /* Images of another size than --layers takes. */
    DATA_ERROR("--layers inputs != pixels", "784", "train", "--data", good, "--layers", "100,16,10", "--epochs",
               "1");
}

static void good_runs(void)
{
    char model[400], log[400], lines[2][512];
    snprintf(model, sizeof model, "%s/model.bn", root);
    snprintf(log, sizeof log, "%s/log.csv", root);

    cli_result r = RUN("train", "--data", good, "--epochs", "1", "--hidden", "16", "--batch", "32", "--quiet",
                       "--save", model);
    no_crash("good run", &r);
    CHECKF(r.code == 0, "good run: exit %d; stderr: %s", r.code, r.err);
    CHECK(last_lines(r.out, 2, lines) == 2);
    CHECKF(matches(lines[0], "^test: loss=[0-9]+\\.[0-9]+ acc=[0-9]+\\.[0-9]+% n=100$"), "test line: '%s'",
           lines[0]);
    CHECKF(matches(lines[1], "^train: [0-9]+\\.[0-9]+ s, [0-9]+ samples/s, 1 epoch$"), "train line: '%s'",
           lines[1]);
    CHECKF(strstr(r.out, "epoch   1:") != NULL, "no per-epoch line on stdout: %s", r.out);
    CHECKF(!strchr(r.err, '\r') && !strstr(r.err, "ETA"), "progress display on a non-terminal stderr: %s", r.err);
    char test_line[512];
    snprintf(test_line, sizeof test_line, "%s", lines[0]);
    result_free(&r);

    /* info prints the plan of the model and batch it is given, under the plan it is told. */
    r = RUN("info", "--layers", "97,33,10", "--batch", "17", "--plan", "tiles", "--threads", "2");
    no_crash("info --plan", &r);
    CHECKF(r.code == 0, "info --plan tiles: exit %d; stderr: %s", r.code, r.err);
    CHECKF(strstr(r.out, "plan: tiles, batch 17, 2 threads") && strstr(r.out, "dW  L1  97x33x17"),
           "info --plan tiles does not show the plan: %s", r.out);
    result_free(&r);

    /* eval on the saved model prints the identical test line. */
    r = RUN("eval", "--model", model, "--data", good);
    no_crash("eval", &r);
    CHECKF(r.code == 0, "eval --model: exit %d; stderr: %s", r.code, r.err);
    CHECK(last_lines(r.out, 1, lines) == 1);
    CHECKF(strcmp(lines[0], test_line) == 0, "eval printed '%s', train printed '%s'", lines[0], test_line);
    result_free(&r);

    /* eval on a file that is not a model: exit 1, one line naming it. */
    char bogus[600];
    file_in(bogus, sizeof bogus, good, "train-labels-idx1-ubyte");
    DATA_ERROR("eval of a non-model", bogus, "eval", "--model", bogus, "--data", good);

    /* --log: a header and one row per epoch, as many fields in each; no --quiet, still no progress text. */
    r = RUN("train", "--data", good, "--epochs", "2", "--hidden", "8", "--batch", "50", "--log", log);
    no_crash("--log run", &r);
    CHECKF(r.code == 0, "--log run: exit %d; stderr: %s", r.code, r.err);
    CHECKF(!strchr(r.err, '\r'), "progress display on a non-terminal stderr without --quiet: %s", r.err);
    CHECK(last_lines(r.out, 1, lines) == 1 && matches(lines[0], "^train: .*, 2 epochs$"));
    result_free(&r);
    char *csv = slurp(log);
    char csv_lines[4][512];
    int got = last_lines(csv, 4, csv_lines); /* the recipe line, the header and 2 rows */
    CHECKF(got == 4 && strncmp(csv_lines[0], "# blasnet ", 10) == 0, "log has %d lines, want 4: %s", got, csv);
    if (got == 4) {
        const char *header = csv_lines[1], *row1 = csv_lines[2], *row2 = csv_lines[3];
        size_t commas = 0;
        for (const char *p = header; *p; p++)
            commas += *p == ',';
        CHECKF(strncmp(header, "epoch,", 6) == 0 && commas >= 3, "log header: '%s'", header);
        for (int i = 0; i < 2; i++) {
            const char *row = i ? row2 : row1;
            size_t c = 0;
            for (const char *p = row; *p; p++)
                c += *p == ',';
            CHECKF(c == commas && row[0] == '1' + i && row[1] == ',', "log row %d: '%s' (header '%s')", i + 1,
                   row, header);
        }
    }
    free(csv);

    /* A log whose folder is missing: a usage error naming its path, before any training. */
    char bad_log[600];
    snprintf(bad_log, sizeof bad_log, "%s/no-such-folder/log.csv", root);
    USAGE(bad_log, "train", "--data", good, "--epochs", "1", "--log", bad_log);

    /* Sizes whose buffers exceed memory (or size_t) are refused up front with one line, never attempted. */
    DATA_ERROR("layers too wide for memory", "GiB", "train", "--data", good, "--epochs", "1", "--hidden",
               "16777216,16777216");
    DATA_ERROR("batch too large for memory", "--batch", "train", "--data", good, "--epochs", "1", "--hidden",
               "100000", "--batch", "1048576");

    /* A --hidden list long enough to overflow the CLI's 512-byte architecture buffer must not silently
     * drop the output layer: either refused (exit 2) or trained as 784-16-30-10. */
    char hidden[600];
    memset(hidden, '0', 502);
    snprintf(hidden + 502, sizeof hidden - 502, "16,30"); /* "784," + 507 chars = 511: ",10" would be cut */
    r = RUN("train", "--data", good, "--epochs", "1", "--hidden", hidden, "--quiet");
    no_crash("long --hidden", &r);
    CHECKF(r.code == 2 || (r.code == 0 && strstr(r.out, "784-16-30-10")),
           "a 507-character --hidden list: exit %d, stdout: %.200s", r.code, r.out);
    result_free(&r);
}

/* One stray label far above the others (a 200 among the digits 0..9) makes 201 classes, 190 of them without
 * a training sample: train says so in one warning line that names the label file and --classes, and still
 * trains. Labels without gaps, or an explicit --classes, bring no warning. */
/* The recipe's flags (issue 12): names and ranges checked, flags that the chosen optimizer or schedule would
 * ignore refused, and what early stopping and a target print. */
static void recipe_flags(void)
{
    USAGE("--optimizer", "train", "--data", good, "--optimizer", "rmsprop");
    USAGE("--schedule", "train", "--data", good, "--schedule", "linear");
    USAGE("--momentum", "train", "--data", good, "--optimizer", "adam", "--momentum", "0.5");
    USAGE("--nesterov", "train", "--data", good, "--nesterov");
    USAGE("--beta1", "train", "--data", good, "--optimizer", "sgd", "--beta1", "0.8");
    USAGE("--beta2", "train", "--data", good, "--beta2", "1");
    USAGE("--eps", "train", "--data", good, "--eps", "0");
    USAGE("--lr-decay", "train", "--data", good, "--schedule", "cosine", "--lr-decay", "0.9");
    USAGE("--step-epochs", "train", "--data", good, "--step-epochs", "2");
    USAGE("--lr-min", "train", "--data", good, "--schedule", "onecycle", "--lr-min", "0.0001");
    USAGE("--lr-min", "train", "--data", good, "--schedule", "cosine", "--lr", "0.01", "--lr-min", "0.1");
    USAGE("--monitor", "train", "--data", good, "--monitor", "acc");
    USAGE("--monitor", "train", "--data", good, "--patience", "2", "--monitor", "f1");
    USAGE("--patience", "train", "--data", good, "--patience", "0");
    USAGE("--dropout", "train", "--data", good, "--dropout", "1");
    USAGE("--clip-norm", "train", "--data", good, "--clip-norm", "0");
    USAGE("--target-acc", "train", "--data", good, "--target-acc", "0");
    USAGE("--target-acc", "train", "--data", good, "--target-acc", "101");
    USAGE("--warmup", "train", "--data", good, "--warmup", "-3");

    /* A target every run reaches at once: the first epoch ends it, and the train: line gives the time. */
    char lines[2][512];
    cli_result r = RUN("train", "--data", good, "--epochs", "3", "--hidden", "8", "--batch", "50", "--quiet",
                       "--target-acc", "5");
    no_crash("--target-acc", &r);
    CHECKF(r.code == 0, "--target-acc: exit %d; stderr: %s", r.code, r.err);
    CHECKF(strstr(r.out, "target: validation accuracy reached 5.00% at epoch 1"), "no target line: %s", r.out);
    CHECK(last_lines(r.out, 1, lines) == 1);
    CHECKF(matches(lines[0], "^train: [0-9]+\\.[0-9]+ s, [0-9]+ samples/s, 1 epoch, 5\\.00% validation accuracy "
                             "after [0-9]+\\.[0-9]+ s$"), "train line: '%s'", lines[0]);
    result_free(&r);

    /* Patience names the best epoch, and the recipe is in the header line. */
    r = RUN("train", "--data", good, "--epochs", "3", "--hidden", "8", "--batch", "50", "--quiet", "--patience",
            "5", "--optimizer", "sgd", "--schedule", "step", "--lr-decay", "0.5", "--clip-norm", "2", "--dropout",
            "0.1");
    no_crash("--patience", &r);
    CHECKF(r.code == 0, "--patience: exit %d; stderr: %s", r.code, r.err);
    CHECKF(strstr(r.out, "best: epoch ") && strstr(r.out, "sgd lr 0.05") && strstr(r.out, "step schedule (decay 0.5)")
           && strstr(r.out, "clip norm 2") && strstr(r.out, "dropout 0.1") && strstr(r.out, "patience 5"),
           "--patience run output lacks the best epoch or the recipe: %s", r.out);
    result_free(&r);

    /* Early stopping without a validation set: a usage error, before the run header, nothing trained. */
    r = RUN("train", "--data", good, "--epochs", "2", "--hidden", "8", "--quiet", "--val", "0", "--patience", "2");
    no_crash("--patience --val 0", &r);
    CHECKF(r.code == 2 && strstr(r.err, "validation set") && !strstr(r.out, "blasnet 0") && !strstr(r.out, "epoch"),
           "--patience with --val 0: exit %d; stderr: %s", r.code, r.err);
    result_free(&r);
}

static void empty_classes(void)
{
    char d[300];
    make_dir(d, sizeof d, "stray-label");
    CHECK(idxw_write_synth_pair(d, "t10k", 100, 28, 28, 10, 12) == 0);
    /* row 3 is in the training part: the last 100 images are the validation set */
    write_with_stray_label(d, "train", 600, 10, 11, 3, 200);
    char line[1024];
    cli_result r = RUN("train", "--data", d, "--epochs", "1", "--hidden", "16", "--quiet");
    no_crash("stray label", &r);
    CHECKF(r.code == 0, "stray label: exit %d; stderr: %s", r.code, r.err);
    CHECKF(lines_with(r.err, "warning") == 1, "stray label: want one warning line, stderr: %s", r.err);
    const char *w = strstr(r.err, "warning");
    snprintf(line, sizeof line, "%.*s", w ? (int)strcspn(w, "\n") : 0, w ? w : "");
    CHECKF(strstr(line, "190 of 201 classes") && strstr(line, "train-labels-idx1-ubyte") && strstr(line, "--classes"),
           "stray label: the warning does not give the count, the label file and --classes: %s", line);
    CHECKF(strstr(r.out, "784-16-201") != NULL, "stray label: not a 201-class network: %s", r.out);
    CHECKF(matches(r.out, "test: loss=[0-9.]+ acc=[0-9.]+% n=100"), "stray label: no test line: %s", r.out);
    result_free(&r);

    /* --classes 201 means the empty classes; that training holds a label the test part lacks is still said,
     * once. */
    r = RUN("train", "--data", d, "--epochs", "1", "--hidden", "16", "--quiet", "--classes", "201");
    no_crash("stray label, --classes 201", &r);
    CHECKF(r.code == 0 && lines_with(r.err, "warning") == 1 && strstr(r.err, "only in") && strstr(r.err, "(200)"),
           "--classes 201: exit %d, want one warning that label 200 is only in training; stderr: %s", r.code, r.err);
    result_free(&r);

    r = RUN("train", "--data", good, "--epochs", "1", "--hidden", "16", "--quiet");
    no_crash("labels 0..9", &r);
    CHECKF(r.code == 0 && !strstr(r.err, "warning"), "labels 0..9: exit %d, stderr: %s", r.code, r.err);
    result_free(&r);
}

/* Divergence has one signal, BN_E_DIVERGED from bn_net_train_step: moons reports it as one line and exit 1. */
static void moons_divergence(void)
{
    char png[600], line[1024];
    file_in(png, sizeof png, root, "diverged.png");
    cli_result r = RUN("moons", "--lr", "50", "-o", png);
    no_crash("moons --lr 50", &r);
    int lines = error_lines(r.err, line, sizeof line);
    CHECKF(r.code == 1 && lines == 1, "moons --lr 50: exit %d, %d error lines: %s", r.code, lines, r.err);
    CHECKF((strstr(line, "NaN") || strstr(line, "infinite")) && strstr(line, "step") && strstr(line, "--lr"),
           "moons --lr 50: the line does not say NaN or infinite, the step and --lr: %s", line);
    CHECKF(access(png, F_OK) != 0, "moons --lr 50 drew a picture of a diverged net");
    result_free(&r);
}

/* The CLI sets a bounded spin before the OpenMP runtime starts (src/cli/wait_policy.c), unless the user chose
 * how threads wait: info reports what the process runs with. */
static void polite_waiting(void)
{
    const char *info[] = {"info", "--layers", "16,8,4", "--batch", "4", NULL};
    unsetenv("GOMP_SPINCOUNT");
    unsetenv("OMP_WAIT_POLICY");
    cli_result set = run_argv(info);
    setenv("OMP_WAIT_POLICY", "passive", 1);
    cli_result theirs = run_argv(info);
    unsetenv("OMP_WAIT_POLICY");
    setenv("GOMP_SPINCOUNT", "77", 1);
    cli_result spin = run_argv(info);
    unsetenv("GOMP_SPINCOUNT");
    CHECKF(set.code == 0 && strstr(set.out, "GOMP_SPINCOUNT:   1000 "), "unset: %s", set.out);
    CHECKF(theirs.code == 0 && strstr(theirs.out, "OMP_WAIT_POLICY:  passive") &&
               strstr(theirs.out, "GOMP_SPINCOUNT:   unset"), "OMP_WAIT_POLICY=passive: %s", theirs.out);
    CHECKF(spin.code == 0 && strstr(spin.out, "GOMP_SPINCOUNT:   77 "), "GOMP_SPINCOUNT=77: %s", spin.out);
    result_free(&set), result_free(&theirs), result_free(&spin);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "cli"))
        return EXIT_FAILURE;
    if (access(BN_BLASNET_EXE, X_OK) != 0) {
        fprintf(stderr, "%s is not built or not executable\n", BN_BLASNET_EXE);
        return EXIT_FAILURE;
    }
    make_good(good, sizeof good, "good");
    make_dir(empty, sizeof empty, "empty");

    bn_test_case("help, version, unknown commands and exit codes", basics);
    bn_test_case("every flag's range check", range_checks);
    bn_test_case("broken data: one line naming the file", broken_data);
    bn_test_case("good runs print the test: and train: lines", good_runs);
    bn_test_case("the recipe's flags reach the run", recipe_flags);
    bn_test_case("empty classes are warned about", empty_classes);
    bn_test_case("a diverging moons run stops in one line", moons_divergence);
    bn_test_case("threads wait with a bounded spin unless the user chose", polite_waiting);

    bn_test_remove_tree(root);
    return bn_test_exit("cli");
}
