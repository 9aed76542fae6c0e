/* The picture and metrics commands, checked without looking: train's --log / --log-steps CSV columns, the
 * weights PNG's size against the grid formula, the confusion matrix summing to the test set, predict on
 * stdin agreeing with eval, and predict on PNGs written from MNIST test images returning their labels.
 * Runs the real CLI (BN_BLASNET_EXE) on small synthetic IDX data; the MNIST part exits 77 (skip) without
 * data in BN_MNIST_DIR, after the synthetic part has run. Each check belongs to a named case (run_case),
 * run in the order main lists them: later cases use the files earlier ones wrote. */
#include "blasnet.h"
#include "harness.h"
#include "idx_write.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Only PNG decoding is needed; stb is a system header (Debian libstb-dev, which the CLI needs too). */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_HDR
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

extern char **environ;

static char dir[256];

/* Runs the CLI with argv (argv[0] ignored), stdin from in_path (or /dev/null), stdout and stderr to files in
 * dir; returns the exit status, or -1 if it could not be started or was killed. */
static int run(const char *in_path, char *const *envp, const char *const *args)
{
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    const char *argv[64] = {BN_BLASNET_EXE};
    int n = 1;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, BN_BLASNET_EXE, &fa, NULL, (char *const *)argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "cannot start %s: %s\n", BN_BLASNET_EXE, strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The whole of a file as a NUL-terminated string; NULL if unreadable. */
static char *slurp(const char *path)
{
    size_t size;
    uint8_t *buf = idxw_read_all(path, &size);
    if (buf)
        buf[size] = '\0';
    return (char *)buf;
}

static char *captured(const char *which)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, which);
    return slurp(path);
}

static void show_stderr_on_failure(int rc, int want)
{
    if (rc != want) {
        char *e = captured("stderr");
        fprintf(stderr, "  exit %d (want %d); stderr: %s\n", rc, want, e ? e : "(unreadable)");
        free(e);
    }
}

/* The last non-empty line of text, copied into buf. */
static void last_line(const char *text, char *buf, size_t size)
{
    const char *end = text + strlen(text);
    while (end > text && end[-1] == '\n')
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)(end - start), start);
}

/* Checks a log's first line (the run's recipe as a # comment, as plot reads it), its header line exactly, and
 * that every row has `cols` fields that parse fully as numbers; returns the row count, or -1 when the file
 * cannot be read. first_col receives column 0 of each row. */
static int check_csv(const char *path, const char *header, int cols, double *first_col, int max_rows,
                     double *col3)
{
    char *text = slurp(path);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text)
        return -1;
    int rows = 0, line_no = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line_no++ == 0) {
            CHECKF(strncmp(line, "# blasnet ", 10) == 0 && strstr(line, " init, batch "),
                   "%s starts with '%s', want the run's recipe line", path, line);
            continue;
        }
        if (line_no == 2) {
            CHECKF(strcmp(line, header) == 0, "%s header is '%s', want '%s'", path, line, header);
            continue;
        }
        int fields = 0;
        for (char *p = line;; fields++) {
            char *end;
            double v = strtod(p, &end);
            CHECKF(end != p && (*end == ',' || *end == '\0'), "%s line %d field %d is not a number: '%s'", path,
                   line_no, fields + 1, line);
            if (fields == 0 && rows < max_rows)
                first_col[rows] = v;
            if (fields == 3 && col3 && rows < max_rows)
                col3[rows] = v;
            if (*end != ',')
                break;
            p = end + 1;
        }
        CHECKF(fields + 1 == cols, "%s line %d has %d fields, want %d", path, line_no, fields + 1, cols);
        rows++;
    }
    free(text);
    return rows;
}

/* Width, height and channels of a PNG, and its pixels (caller frees); NULL when it does not decode. */
static unsigned char *load_png(const char *path, int *w, int *h, int *ch)
{
    unsigned char *px = stbi_load(path, w, h, ch, 0);
    CHECKF(px != NULL, "%s does not decode as PNG: %s", path, stbi_failure_reason());
    return px;
}

/* Parses "NAME: c (p), ..." lines: the top class of each, in order; returns the line count. */
static int top_classes(const char *text, int *top, int max)
{
    int n = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *colon = strstr(line, ": ");
        const char *nl = strchr(line, '\n');
        if (!colon || (nl && colon > nl))
            continue;
        if (n < max)
            top[n] = atoi(colon + 2);
        n++;
    }
    return n;
}

/* A named test case, as genann's lrun("name", fn): runs fn and prints one line with its name and its count
 * of checks, so that a failure says which case broke, below the file:line lines of its failed CHECKs. */
static void run_case(const char *name, void (*fn)(void))
{
    int checks = bn_test_checks, failures = bn_test_failures;
    fn();
    checks = bn_test_checks - checks;
    failures = bn_test_failures - failures;
    if (failures)
        fprintf(stderr, "visual: FAIL: %s (%d of %d checks failed)\n", name, failures, checks);
    else
        printf("visual: ok: %s (%d checks)\n", name, checks);
    fflush(stdout);
}

enum { TRAIN_N = 600, TEST_N = 200, CLASSES = 10, HIDDEN = 16 };

/* The files the cases write and read, all in dir (which is also the synthetic data folder). */
static char epochs_csv[300], steps_csv[300], model[300], png[300], cm_csv[300], test_images[300];

static void name_files(void)
{
    snprintf(epochs_csv, sizeof epochs_csv, "%s/epochs.csv", dir);
    snprintf(steps_csv, sizeof steps_csv, "%s/steps.csv", dir);
    snprintf(model, sizeof model, "%s/model.bin", dir);
    snprintf(png, sizeof png, "%s/out.png", dir);
    snprintf(cm_csv, sizeof cm_csv, "%s/confusion.csv", dir);
    snprintf(test_images, sizeof test_images, "%s/t10k-images-idx3-ubyte", dir);
}

static void case_synthetic_data(void)
{
    CHECK(idxw_write_synth_pair(dir, "train", TRAIN_N, 28, 28, CLASSES, 1) == 0);
    CHECK(idxw_write_synth_pair(dir, "t10k", TEST_N, 28, 28, CLASSES, 2) == 0);
}

/* 500 training images / batch 20 = 25 steps per epoch; a row every 5 steps gives 5 rows per epoch whether
 * the count runs within the epoch or over the whole run. Also saves the model the later cases use. */
static void case_train_csvs(void)
{
    int rc = run(NULL, NULL, (const char *[]){"train", "--data", dir, "--val", "100", "--epochs", "2", "--batch",
                                              "20", "--hidden", "16", "--threads", "1", "--quiet", "--log",
                                              epochs_csv, "--log-steps", steps_csv, "--log-every", "5", "--save",
                                              model, NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    double col0[64] = {0}, col3[64] = {0};
    int rows = check_csv(epochs_csv,
                         "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s,grad_norm_w1", 9,
                         col0, 64, NULL);
    CHECKF(rows == 2, "%d epoch rows, want 2", rows);
    CHECK(col0[0] == 1 && col0[1] == 2);
    rows = check_csv(steps_csv, "epoch,step,global_step,loss,grad_norm_w1,lr,grad_norm", 7, col0, 64, col3);
    CHECKF(rows == 10, "%d step rows, want 10 (2 epochs x 25 steps, every 5th)", rows);
    for (int r = 0; r < rows && r < 64; r++)
        CHECKF(col3[r] > 0 && isfinite(col3[r]), "step row %d loss %g", r, col3[r]);
}

static void case_plot_size(void)
{
    bool have_gnuplot = access("/usr/bin/gnuplot", X_OK) == 0 || access("/usr/local/bin/gnuplot", X_OK) == 0;
    if (have_gnuplot) {
        int rc = run(NULL, NULL, (const char *[]){"plot", epochs_csv, "--steps", steps_csv, "-o", png, "--size",
                                                  "640x720", NULL});
        CHECK(rc == 0);
        show_stderr_on_failure(rc, 0);
        int w = 0, h = 0, ch = 0;
        unsigned char *px = load_png(png, &w, &h, &ch);
        CHECKF(w == 640 && h == 720, "plot is %dx%d, want 640x720", w, h);
        free(px);
    } else {
        printf("gnuplot not installed: the plot picture is not checked\n");
    }
}

/* The install hint when gnuplot is not on the PATH, and the missing column when given the wrong CSV. */
static void case_plot_refusals(void)
{
    char *no_path_env[] = {"PATH=/nonexistent", NULL};
    int rc = run(NULL, no_path_env, (const char *[]){"plot", epochs_csv, "-o", png, NULL});
    char *err = captured("stderr");
    CHECKF(rc == 1, "plot without gnuplot exits %d, want 1", rc);
    CHECKF(err && strstr(err, "gnuplot not found: apt-get install gnuplot-nox"), "stderr: %s", err ? err : "");
    free(err);
    rc = run(NULL, NULL, (const char *[]){"plot", steps_csv, "-o", png, NULL}); /* wrong file: no train_loss */
    err = captured("stderr");
    CHECKF(rc == 1 && err && strstr(err, "train_loss"), "plot on the step CSV: exit %d, stderr %s", rc,
           err ? err : "");
    free(err);
}

/* 16 units, 5 per row -> 4 rows of 28*2-pixel tiles, 3 pixels of padding: width 5*56 + 6*3 = 298, height
 * 4*56 + 5*3 = 239. */
static void case_weights_grid(void)
{
    int rc = run(NULL, NULL, (const char *[]){"weights", "--model", model, "-o", png, "--cols", "5", "--pad",
                                              "3", "--scale", "2", NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    int w = 0, h = 0, ch = 0;
    unsigned char *px = load_png(png, &w, &h, &ch);
    CHECKF(w == 298 && h == 239 && ch == 1, "weights picture %dx%d, %d channels; want 298x239, 1", w, h, ch);
    if (px && w == 298 && h == 239) {
        CHECK(px[0] == 255 && px[(size_t)h * w - 1] == 255); /* padding is white */
        /* Each tile is scaled by its own max |w|, so it holds a pure 0 or 255 somewhere; the last grid
         * slot (16 units in 20 slots) is empty padding. */
        int lo = 255, hi = 0;
        for (int y = 3; y < 3 + 56; y++)
            for (int x = 3; x < 3 + 56; x++)
                lo = px[y * w + x] < lo ? px[y * w + x] : lo, hi = px[y * w + x] > hi ? px[y * w + x] : hi;
        CHECKF(lo == 0 || hi == 255, "first tile spans %d..%d, want 0 or 255 reached", lo, hi);
        CHECK(px[(size_t)(h - 3 - 28) * w + (w - 3 - 28)] == 255);
    }
    free(px);
}

/* --order norm --units 1: the one tile is the unit whose weights have the largest L2 norm, drawn as the
 * help says (mid grey 0, scaled by its own largest |w|), and the line names it. */
static void case_weights_order(void)
{
    int rc = run(NULL, NULL, (const char *[]){"weights", "--model", model, "-o", png, "--order", "norm", "--units",
                                              "1", "--pad", "0", "--scale", "1", NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    bn_net *net = NULL;
    CHECK(bn_checkpoint_load(&net, NULL, model, 1, bn_backend_find("blas")) == BN_OK);
    if (!net)
        return;
    const int in = bn_net_arch(net)->sizes[0], out = bn_net_arch(net)->sizes[1];
    const float *w = bn_net_weight(net, 0);
    int best = 0;
    double best_norm = -1.0;
    for (int j = 0; j < out; j++) {
        double sum = 0.0;
        for (int i = 0; i < in; i++)
            sum += (double)w[(size_t)i * out + j] * w[(size_t)i * out + j];
        best = sum > best_norm ? j : best, best_norm = sum > best_norm ? sum : best_norm;
    }
    char *said = captured("stdout"), want[64];
    snprintf(want, sizeof want, "by norm, units %d (", best);
    CHECKF(said && strstr(said, want), "weights --order norm does not name unit %d first: %s", best, said);
    free(said);
    int pw = 0, ph = 0, ch = 0, off = 0;
    unsigned char *px = load_png(png, &pw, &ph, &ch);
    CHECKF(px && pw == 28 && ph == 28 && in == 784, "the one tile is %dx%d, want 28x28", pw, ph);
    float m = 0.0f;
    for (int i = 0; i < in; i++)
        m = fmaxf(m, fabsf(w[(size_t)i * out + best]));
    for (int i = 0; px && pw == 28 && ph == 28 && i < in; i++)
        off += abs(px[i] - (int)lroundf(127.5f + 127.5f * w[(size_t)i * out + best] / m)) > 1;
    CHECKF(off == 0, "%d pixels of the tile are not unit %d's weights", off, best);
    free(px);
    bn_net_destroy(&net);
}

static void case_weights_bad_shape(void)
{
    int rc = run(NULL, NULL, (const char *[]){"weights", "--model", model, "-o", png, "--shape", "10x10", NULL});
    CHECKF(rc == 2, "--shape 10x10 for 784 inputs exits %d, want 2", rc);
}

/* eval's printed confusion table, summed: every cell, the diagonal, and each true class's row. */
struct confusion {
    int rows;
    uint64_t sum, diag, row_sum[CLASSES];
};

/* Sums the rows that follow the "true\pred" header at table; a NULL table sums to nothing. */
static struct confusion sum_confusion_table(const char *table)
{
    struct confusion c = {0};
    for (const char *t = table ? strchr(table, '\n') : NULL; t && t[1] && t[1] != '\n'; t = strchr(t + 1, '\n')) {
        char *end;
        long truth = strtol(t + 1, &end, 10);
        for (int j = 0; j < CLASSES; j++) {
            unsigned long long v = strtoull(end, &end, 10);
            c.sum += v;
            c.diag += j == truth ? v : 0;
            if (truth >= 0 && truth < CLASSES)
                c.row_sum[truth] += v;
        }
        c.rows++;
    }
    return c;
}

/* eval's diagonal (how many test images it got right), for predict on stdin to agree with. */
static uint64_t eval_right;

/* The printed matrix sums to the test set, its rows to each class's count (the synthetic labels are
 * i % 10: 20 each), its diagonal to the accuracy; test: stays the last line. Also writes cm_csv. */
static void case_eval_confusion_table(void)
{
    int rc = run(NULL, NULL, (const char *[]){"eval", "--model", model, "--data", dir, "--threads", "1",
                                              "--confusion-csv", cm_csv, NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    char *out = captured("stdout");
    char last[256] = "";
    double acc = -1;
    size_t n = 0;
    const char *table = NULL;
    if (out) {
        last_line(out, last, sizeof last);
        CHECKF(sscanf(last, "test: loss=%*f acc=%lf%% n=%zu", &acc, &n) == 2, "last line '%s'", last);
        table = strstr(out, "true\\pred");
        CHECKF(table != NULL, "no confusion table in: %s", out);
    }
    struct confusion c = sum_confusion_table(table);
    CHECKF(c.rows == CLASSES, "%d table rows, want %d", c.rows, CLASSES);
    CHECKF(n == TEST_N && c.sum == n, "matrix sums to %llu, test: n=%zu, want %d", (unsigned long long)c.sum, n,
           TEST_N);
    for (int k = 0; k < CLASSES; k++)
        CHECKF(c.row_sum[k] == TEST_N / CLASSES, "class %d row sums to %llu, want %d", k,
               (unsigned long long)c.row_sum[k], TEST_N / CLASSES);
    /* test: prints acc with 2 decimals: within half a unit of its last place. */
    CHECK_CLOSE(acc, 100.0 * (double)c.diag / TEST_N, 0.005 + 1e-9, 0);
    eval_right = c.diag;
    free(out);
}

/* The --confusion-csv file that the table case's eval wrote: its cells sum to the test set. */
static void case_eval_confusion_csv(void)
{
    char *csv = slurp(cm_csv);
    uint64_t csv_sum = 0;
    if (csv) {
        char *p = strchr(csv, '\n');
        for (int i = 0; p && i < CLASSES; i++, p = strchr(p + 1, '\n')) {
            char *end = p + 1;
            strtol(end, &end, 10);
            for (int j = 0; j < CLASSES && *end == ','; j++)
                csv_sum += strtoull(end + 1, &end, 10);
        }
    }
    CHECKF(csv && csv_sum == TEST_N, "confusion CSV sums to %llu, want %d", (unsigned long long)csv_sum, TEST_N);
    free(csv);
}

/* predict on stdin (raw IDX, used unchanged): one line per image, right exactly as often as eval. */
static void case_predict_stdin(void)
{
    int rc = run(test_images, NULL, (const char *[]){"predict", "--model", model, "-", NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    char *out = captured("stdout");
    int top[TEST_N] = {0};
    int lines = out ? top_classes(out, top, TEST_N) : 0;
    CHECKF(lines == TEST_N, "%d lines from predict -, want %d", lines, TEST_N);
    CHECK(out && strncmp(out, "-[0]: ", 6) == 0);
    uint64_t right = 0;
    for (int i = 0; i < TEST_N && i < lines; i++)
        right += top[i] == i % CLASSES;
    CHECKF(right == eval_right, "predict - is right %llu times, eval's diagonal says %llu",
           (unsigned long long)right, (unsigned long long)eval_right);
    free(out);
}

/* The MNIST test set, when BN_MNIST_DIR has it: images with their 16-byte header, labels with their 8. */
static uint8_t *mnist_images, *mnist_labels;

static bool load_mnist(void)
{
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte", BN_MNIST_DIR);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte", BN_MNIST_DIR);
    size_t isize = 0, lsize = 0;
    mnist_images = idxw_read_all(images, &isize);
    mnist_labels = idxw_read_all(labels, &lsize);
    return mnist_images && mnist_labels && isize == 16 + 10000 * 784 && lsize == 8 + 10000;
}

/* A small real model, which the MNIST cases after this one use. */
static void case_mnist_train(void)
{
    int rc = run(NULL, NULL, (const char *[]){"train", "--data", BN_MNIST_DIR, "--epochs", "1", "--hidden", "64",
                                              "--threads", "1", "--quiet", "--save", model, NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
}

/* The first five test digits (7 2 1 0 4) are clean ones any trained net gets right. Each goes in as written
 * (28x28, light on dark) and as a photo would: dark on light, 4x larger, off centre in a 200x150 frame,
 * which predict must invert, crop, scale and centre back. */
enum { DIGITS = 5, PHOTO_W = 200, PHOTO_H = 150 };

/* Writes test digit k as dir/digitK.png (as written) and dir/photoK.png (as photographed), naming them in
 * paths[2k] and paths[2k+1]. */
static void write_digit_pngs(int k, char (*paths)[300])
{
    const uint8_t *img = mnist_images + 16 + (size_t)k * 784;
    snprintf(paths[2 * k], sizeof paths[0], "%s/digit%d.png", dir, k);
    CHECK(stbi_write_png(paths[2 * k], 28, 28, 1, img, 28) != 0);
    static uint8_t frame[PHOTO_W * PHOTO_H];
    memset(frame, 235, sizeof frame);
    for (int y = 0; y < 112; y++)
        for (int x = 0; x < 112; x++)
            frame[(y + 20) * PHOTO_W + x + 70] = (uint8_t)(235 - img[(y / 4) * 28 + x / 4] * 200 / 255);
    snprintf(paths[2 * k + 1], sizeof paths[0], "%s/photo%d.png", dir, k);
    CHECK(stbi_write_png(paths[2 * k + 1], PHOTO_W, PHOTO_H, 1, frame, PHOTO_W) != 0);
}

static void case_mnist_predict_pngs(void)
{
    const char *args[3 + 2 * DIGITS + 1] = {"predict", "--model", model};
    char paths[2 * DIGITS][300];
    for (int k = 0; k < DIGITS; k++) {
        write_digit_pngs(k, paths);
        args[3 + 2 * k] = paths[2 * k], args[4 + 2 * k] = paths[2 * k + 1];
    }
    args[3 + 2 * DIGITS] = NULL;
    int rc = run(NULL, NULL, args);
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    char *out = captured("stdout");
    int got[2 * DIGITS] = {0};
    int lines = out ? top_classes(out, got, 2 * DIGITS) : 0;
    CHECKF(lines == 2 * DIGITS, "%d predict lines, want %d", lines, 2 * DIGITS);
    for (int k = 0; k < 2 * DIGITS && k < lines; k++)
        CHECKF(got[k] == mnist_labels[8 + k / 2], "%s: predicted %d, label %d", paths[k], got[k],
               mnist_labels[8 + k / 2]);
    free(out);
}

/* Phone photos are lit unevenly. Test digits 0..19, each 4x larger on paper whose light falls from 250 to 160
 * across the frame (90 grey levels) in one of four directions (left to right, top to bottom, and the two
 * diagonals), light multiplying what the paper and the ink reflect (ink 15%): at least 18 of the 20 must be
 * named right. Before the paper's light was divided out, the dim side of such a photo was taken for ink. */
enum { UNEVEN = 20 };

static void write_uneven_photo(int k, char *path, size_t size)
{
    const uint8_t *img = mnist_images + 16 + (size_t)k * 784;
    static uint8_t frame[PHOTO_W * PHOTO_H];
    const double along[4][2] = {{1, 0}, {0, 1}, {0.7071, 0.7071}, {0.7071, -0.7071}};
    const double *d = along[k % 4];
    double lo = 1e9, hi = -1e9; /* the frame's extent along d, so the light spans 90 levels exactly */
    for (int c = 0; c < 4; c++) {
        double t = d[0] * (c & 1 ? PHOTO_W : 0) + d[1] * (c & 2 ? PHOTO_H : 0);
        lo = t < lo ? t : lo, hi = t > hi ? t : hi;
    }
    for (int y = 0; y < PHOTO_H; y++)
        for (int x = 0; x < PHOTO_W; x++) {
            double light = 250.0 - 90.0 * ((d[0] * x + d[1] * y) - lo) / (hi - lo);
            int ix = x - 40 - 4 * (k % 5), iy = y - 15 - 2 * (k % 4); /* off centre, a little differently each */
            double ink = ix >= 0 && iy >= 0 && ix < 112 && iy < 112 ? img[(iy / 4) * 28 + ix / 4] / 255.0 : 0.0;
            frame[y * PHOTO_W + x] = (uint8_t)lround(light * (1.0 - 0.85 * ink));
        }
    snprintf(path, size, "%s/uneven%d.png", dir, k);
    CHECK(stbi_write_png(path, PHOTO_W, PHOTO_H, 1, frame, PHOTO_W) != 0);
}

static void case_mnist_uneven_light(void)
{
    const char *args[3 + UNEVEN + 1] = {"predict", "--model", model};
    char paths[UNEVEN][300];
    for (int k = 0; k < UNEVEN; k++) {
        write_uneven_photo(k, paths[k], sizeof paths[k]);
        args[3 + k] = paths[k];
    }
    args[3 + UNEVEN] = NULL;
    int rc = run(NULL, NULL, args);
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    char *out = captured("stdout");
    int got[UNEVEN] = {0}, right = 0;
    int lines = out ? top_classes(out, got, UNEVEN) : 0;
    CHECKF(lines == UNEVEN, "%d predict lines, want %d", lines, UNEVEN);
    for (int k = 0; k < UNEVEN && k < lines; k++)
        right += got[k] == mnist_labels[8 + k];
    CHECKF(right >= 18, "%d of %d unevenly lit digits named right, want at least 18: %s", right, UNEVEN,
           out ? out : "");
    printf("visual: %d of %d unevenly lit digits named right\n", right, UNEVEN);
    free(out);
}

/* eval --errors: a grid of at most 30 tiles, one row per true class that has errors, its legend listing
 * exactly the tiles drawn. Tiles: 56x(56+14) pixels, 4 pixels of padding. */
static void case_mnist_errors_grid(void)
{
    int rc = run(NULL, NULL, (const char *[]){"eval", "--model", model, "--data", BN_MNIST_DIR, "--threads", "1",
                                              "--errors", png, "--errors-max", "30", "--brief", NULL});
    CHECK(rc == 0);
    show_stderr_on_failure(rc, 0);
    char legend_path[320];
    snprintf(legend_path, sizeof legend_path, "%s/out.txt", dir);
    char *legend = slurp(legend_path);
    int tiles = 0, max_col = -1, max_row = -1;
    for (char *p = legend; p && (p = strstr(p, "\nrow ")); p++) {
        int r, c;
        if (sscanf(p, "\nrow %d col %d:", &r, &c) == 2)
            tiles++, max_row = r > max_row ? r : max_row, max_col = c > max_col ? c : max_col;
    }
    CHECKF(tiles == 30, "legend lists %d tiles, want 30 (a 1-epoch net makes hundreds of errors)", tiles);
    int w = 0, h = 0, ch = 0;
    unsigned char *px = load_png(png, &w, &h, &ch);
    int cols = max_col + 1, grid_rows = max_row + 1;
    CHECKF(w == cols * 56 + (cols + 1) * 4 && h == grid_rows * 70 + (grid_rows + 1) * 4,
           "errors picture %dx%d for %d rows of %d columns", w, h, grid_rows, cols);
    free(px);
    free(legend);
}

/* Removes the folder, or leaves it for inspection when something failed; the exit status, 77 (skip) when
 * all passed but the MNIST cases could not run. */
static int finish(bool mnist)
{
    if (!bn_test_failures) {
        bn_test_remove_tree(dir);
    } else {
        fprintf(stderr, "files kept in %s\n", dir);
    }
    int status = bn_test_exit("visual");
    if (status == EXIT_SUCCESS && !mnist) {
        printf("MNIST test files not found in %s: the predict-on-MNIST part was skipped\n", BN_MNIST_DIR);
        return 77;
    }
    return status;
}

int main(void)
{
    if (!bn_test_tmpdir(dir, sizeof dir, "visual"))
        return EXIT_FAILURE;
    name_files();
    run_case("synthetic IDX data is written", case_synthetic_data);
    run_case("train writes the --log and --log-steps CSVs", case_train_csvs);
    run_case("plot draws a PNG of the requested size", case_plot_size);
    run_case("plot says why without gnuplot or given the step CSV", case_plot_refusals);
    run_case("weights draws the grid the formula gives", case_weights_grid);
    run_case("weights --order norm draws the unit that moved most first", case_weights_order);
    run_case("weights refuses a --shape that does not fit the inputs", case_weights_bad_shape);
    run_case("eval's confusion table sums to the test set", case_eval_confusion_table);
    run_case("eval's --confusion-csv sums to the test set", case_eval_confusion_csv);
    run_case("predict on stdin is right as often as eval", case_predict_stdin);
    /* The MNIST cases run only after every synthetic case has passed. */
    bool mnist = load_mnist();
    if (mnist && !bn_test_failures) {
        run_case("train a small MNIST model", case_mnist_train);
        run_case("predict on MNIST digit PNGs returns their labels", case_mnist_predict_pngs);
        run_case("predict names digits photographed in uneven light", case_mnist_uneven_light);
        run_case("eval --errors grid matches its legend", case_mnist_errors_grid);
    }
    free(mnist_images);
    free(mnist_labels);
    return finish(mnist);
}
