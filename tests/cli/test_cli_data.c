/* The data forms as a user meets them through blasnet: a folder of gzip IDX trains to the same weights, bit
 * for bit, as the plain folder; so do the CSV files `blasnet data convert` writes, and explicit file flags;
 * an EMNIST-style set (transposed, labels 1..N) trains right way up and 0-based with --transpose
 * --label-offset 1; several sets ask for --set; every broken file is one error line and exit 1. */
#define _GNU_SOURCE /* mkdtemp, strcasestr */
#include "blasnet.h"
#include "cli_run.h"
#include "data_write.h"

static char plain[300];

/* The parameters of two saved models are the same bits. */
static void same_weights(const char *what, const char *a, const char *b)
{
    bn_net *x = NULL, *y = NULL;
    const bn_backend *naive = bn_backend_find("naive");
    CHECKF(bn_checkpoint_load(&x, NULL, a, 1, naive) == BN_OK, "%s: %s", what, bn_errmsg());
    CHECKF(bn_checkpoint_load(&y, NULL, b, 1, naive) == BN_OK, "%s: %s", what, bn_errmsg());
    if (x && y) {
        size_t nx = 0, ny = 0;
        const float *px = bn_net_params_const(x, &nx), *py = bn_net_params_const(y, &ny);
        CHECKF(nx == ny && memcmp(px, py, nx * sizeof *px) == 0, "%s: the weights differ", what);
    }
    bn_net_destroy(&x);
    bn_net_destroy(&y);
}

/* `blasnet train` on the data args (NULL-terminated), saving to model; exit 0 expected. */
static void train_to(const char *what, const char *model, const char *const *data_args, const char *expect_out)
{
    const char *argv[32] = {"train", "--epochs", "1", "--hidden", "16", "--batch", "32", "--quiet", "--threads",
                            "1", "--save", model};
    int n = 12;
    for (int i = 0; data_args[i] && n < 31; i++)
        argv[n++] = data_args[i];
    argv[n] = NULL;
    cli_result r = run_argv(argv);
    no_crash(what, &r);
    CHECKF(r.code == 0, "%s: exit %d; stderr: %s", what, r.code, r.err);
    CHECKF(!expect_out || strstr(r.out, expect_out), "%s: stdout lacks '%s': %s", what, expect_out, r.out);
    CHECKF(!strstr(r.err, "warning"), "%s: a warning: %s", what, r.err);
    result_free(&r);
}

#define TRAIN(what, model, expect, ...) train_to(what, model, (const char *const[]){__VA_ARGS__, NULL}, expect)

static const char *const idx_names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* The last line of text that starts with prefix, or "". */
static const char *line_starting(const char *text, const char *prefix, char *line, size_t size)
{
    line[0] = '\0';
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if (p == text || p[-1] == '\n')
            snprintf(line, size, "%.*s", (int)strcspn(p, "\n"), p);
    return line;
}

/* The EMNIST model (m[1]) records its data's layout (format 3): eval applies it with no flags and gets the
 * upright model's (m[0]) test line to the digit, as the weights are the same bits; a flag that contradicts it
 * is refused; predict on stdin transposes the stored images back and prints labels 1-based, as the data names
 * them; eval --errors draws the test images upright. */
static void recorded_layout_is_applied(const char *up, const char *em, char m[2][400])
{
    char a[128], b[128], p[600];
    cli_result r = RUN("eval", "--model", m[0], "--data", up, "--brief");
    cli_result s = RUN("eval", "--model", m[1], "--data", em, "--brief");
    CHECKF(r.code == 0 && s.code == 0 && strcmp(line_starting(r.out, "test:", a, sizeof a),
                                                line_starting(s.out, "test:", b, sizeof b)) == 0 && a[0],
           "eval with the recorded layout: '%s' (exit %d) against upright '%s' (exit %d): %s", b, s.code, a, r.code,
           s.err);
    result_free(&r), result_free(&s);
    USAGE("data convert", "eval", "--model", m[0], "--data", em, "--transpose");
    USAGE("--label-offset 1", "eval", "--model", m[1], "--data", em, "--label-offset", "2");
    char raw[400], upright_raw[600];
    snprintf(raw, sizeof raw, "%s/emnist-test-images.raw", root);
    file_in(upright_raw, sizeof upright_raw, up, "t10k-images-idx3-ubyte");
    r = run_argv_in((const char *const[]){"predict", "--model", m[0], "--top", "1", "-", NULL}, upright_raw);
    s = run_argv_in((const char *const[]){"predict", "--model", m[1], "--top", "1", "-", NULL}, raw);
    CHECKF(r.code == 0 && s.code == 0, "predict -: exit %d and %d: %s %s", r.code, s.code, r.err, s.err);
    int same = 0;
    for (int i = 0; i < 100; i++) { /* "-[i]: k (p)" upright is "-[i]: k+1 (p)" from the EMNIST model */
        char key[32];
        snprintf(key, sizeof key, "-[%d]: ", i);
        const char *x = strstr(r.out, key), *y = strstr(s.out, key);
        same += x && y && atoi(x + strlen(key)) + 1 == atoi(y + strlen(key)) &&
                strncmp(strchr(x, '('), strchr(y, '('), 7) == 0; /* "(0.123)": the same probability */
    }
    CHECKF(same == 100, "predict on stored EMNIST images: %d of 100 answers are the upright model's plus 1", same);
    result_free(&r), result_free(&s);
    file_in(p, sizeof p, root, "emnist-errors.png");
    r = RUN("eval", "--model", m[1], "--data", em, "--errors", p);
    no_crash("eval --errors on EMNIST", &r);
    CHECKF(r.code == 0 && strstr(r.out, "test: "), "eval --errors on EMNIST: exit %d: %s", r.code, r.err);
    result_free(&r);
}

static void gz_and_csv_train_the_same(void)
{
    char gz[300], csv[300], m[4][400], src[600], dst[600];
    make_dir(gz, sizeof gz, "gz");
    for (int i = 0; i < 4; i++) {
        file_in(src, sizeof src, plain, idx_names[i]);
        snprintf(dst, sizeof dst, "%s/%s.gz", gz, idx_names[i]);
        CHECK(dw_gzip_file(src, dst) == 0);
    }
    for (int i = 0; i < 4; i++)
        snprintf(m[i], sizeof m[i], "%s/model-%d.bn", root, i);
    TRAIN("plain folder", m[0], NULL, "--data", plain);
    TRAIN("gzip folder", m[1], "t10k-labels-idx1-ubyte.gz", "--data", gz);
    same_weights("gzip folder against plain", m[0], m[1]);

    snprintf(csv, sizeof csv, "%s/csv", root);
    cli_result r = RUN("data", "convert", "--data", plain, "--to", "csv", "--out", csv);
    no_crash("data convert --to csv", &r);
    CHECKF(r.code == 0 && strstr(r.out, "wrote") && strstr(r.out, "test.csv"), "data convert: exit %d: %s %s", r.code,
           r.out, r.err);
    result_free(&r);
    TRAIN("CSV folder from data convert", m[2], "train.csv", "--data", csv);
    same_weights("CSV against IDX", m[0], m[2]);
    char train_csv[400], test_csv[400];
    file_in(train_csv, sizeof train_csv, csv, "train.csv");
    file_in(test_csv, sizeof test_csv, csv, "test.csv");
    TRAIN("--data FILE.csv", m[3], "test.csv", "--data", train_csv);
    same_weights("--data train.csv against IDX", m[0], m[3]);
    TRAIN("--train-csv, --test-csv", m[3], NULL, "--train-csv", train_csv, "--test-csv", test_csv);
    same_weights("--train-csv against IDX", m[0], m[3]);
    char f[4][600];
    for (int i = 0; i < 4; i++)
        snprintf(f[i], sizeof f[i], "%s/%s.gz", gz, idx_names[i]);
    TRAIN("explicit IDX files", m[3], NULL, "--train-images", f[0], "--train-labels", f[1], "--test-images", f[2],
          "--test-labels", f[3]);
    same_weights("explicit gzip files against the folder", m[0], m[3]);
}

/* path replaced by path.gz, as `gzip path` does. */
static void gzip_in_place(const char *path)
{
    char gz[700];
    snprintf(gz, sizeof gz, "%s.gz", path);
    CHECK(dw_gzip_file(path, gz) == 0 && unlink(path) == 0);
}

/* 600 + 100 images of 5 classes, right way up (the upright folder), and the same stored as EMNIST stores them:
 * each image transposed, labels 1..5, gzip, under EMNIST's names. Trained with --transpose --label-offset 1,
 * the EMNIST copy must give the upright folder's weights, bit for bit. */
static void emnist_right_way_up(void)
{
    char up[300], em[300], out[300], p[600], q[600], m[2][400];
    make_dir(up, sizeof up, "upright");
    make_dir(em, sizeof em, "emnist");
    const uint32_t counts[2] = {600, 100};
    const char *parts[2] = {"train", "t10k"}, *em_parts[2] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        uint32_t n = counts[s];
        uint8_t *px = malloc((size_t)n * 784), *tr = malloc((size_t)n * 784), *lab = malloc(n);
        CHECK(px && tr && lab);
        if (!px || !tr || !lab)
            return;
        idxw_synth(px, lab, n, 28, 28, 5, 21 + s);
        CHECK(idxw_write_synth_pair(up, parts[s], n, 28, 28, 5, 21 + s) == 0);
        for (uint32_t i = 0; i < n; i++) {
            lab[i]++;
            for (int r = 0; r < 28; r++)
                for (int c = 0; c < 28; c++)
                    tr[i * 784 + c * 28 + r] = px[i * 784 + r * 28 + c];
        }
        snprintf(p, sizeof p, "%s/emnist-letters-%s-images-idx3-ubyte", em, em_parts[s]);
        snprintf(q, sizeof q, "%s/emnist-letters-%s-labels-idx1-ubyte", em, em_parts[s]);
        CHECK(idxw_write_images(p, tr, n, 28, 28) == 0 && idxw_write_labels(q, lab, n) == 0);
        if (s == 1) { /* the test images as stored, raw, for predict's stdin */
            snprintf(q, sizeof q, "%s/emnist-test-images.raw", root);
            CHECK(idxw_write_images(q, tr, n, 28, 28) == 0);
        }
        gzip_in_place(p);
        free(px), free(tr), free(lab);
    }
    snprintf(m[0], sizeof m[0], "%s/upright.bn", root);
    snprintf(m[1], sizeof m[1], "%s/emnist.bn", root);
    TRAIN("upright", m[0], "784-16-5", "--data", up);
    TRAIN("EMNIST with --transpose --label-offset 1", m[1], "784-16-5", "--data", em, "--transpose",
          "--label-offset", "1");
    same_weights("EMNIST, transposed back and 0-based, against upright", m[0], m[1]);

    /* convert writes the set right way up and 0-based: the upright folder's files, byte for byte. */
    snprintf(out, sizeof out, "%s/emnist-idx", root);
    cli_result r = RUN("data", "convert", "--data", em, "--transpose", "--label-offset", "1", "--to", "idx", "--out",
                       out);
    CHECKF(r.code == 0, "data convert of EMNIST: exit %d: %s", r.code, r.err);
    result_free(&r);
    for (int i = 0; i < 4; i++) {
        size_t na = 0, nb = 0;
        file_in(p, sizeof p, up, idx_names[i]);
        file_in(q, sizeof q, out, idx_names[i]);
        uint8_t *a = idxw_read_all(p, &na), *b = idxw_read_all(q, &nb);
        CHECKF(a && b && na == nb && memcmp(a, b, na) == 0, "converted EMNIST %s differs from the upright one",
               idx_names[i]);
        free(a), free(b);
    }
    /* Without --label-offset, class 0 is empty: said once. */
    file_in(q, sizeof q, root, "emnist-no-offset.bn");
    r = RUN("train", "--data", em, "--transpose", "--epochs", "1", "--hidden", "8", "--quiet", "--save", q);
    CHECKF(r.code == 0 && lines_with(r.err, "warning") == 1 && strstr(r.err, "1 of 6 classes"),
           "EMNIST without --label-offset: exit %d, want one empty-class warning: %s", r.code, r.err);
    result_free(&r);
    recorded_layout_is_applied(up, em, m);
}

/* A folder holding two sets asks which; --set answers. data info describes what it reads. */
static void sets_and_info(void)
{
    char d[300], p[600], q[600];
    make_dir(d, sizeof d, "two-sets");
    const char *prefixes[2] = {"fashion-", "digits-"};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 4; i++) {
            file_in(p, sizeof p, plain, idx_names[i]);
            snprintf(q, sizeof q, "%s/%s%s", d, prefixes[s], idx_names[i]);
            size_t n = 0;
            uint8_t *bytes = idxw_read_all(p, &n);
            CHECK(bytes && idxw_write_bytes(q, bytes, n) == 0);
            free(bytes);
        }
    char line[1024];
    cli_result r = RUN("train", "--data", d, "--epochs", "1");
    CHECKF(r.code == 1 && error_lines(r.err, line, sizeof line) == 1 && strstr(line, "digits, fashion") &&
               strstr(line, "--set"), "two sets: exit %d, want one line listing them and naming --set: %s", r.code,
           r.err);
    result_free(&r);
    char model[400];
    snprintf(model, sizeof model, "%s/set.bn", root);
    TRAIN("--set fashion", model, "set fashion", "--data", d, "--set", "fashion");

    r = RUN("data", "info", plain);
    CHECKF(r.code == 0 && strstr(r.out, "train: 600 images of 28x28") && strstr(r.out, "test: 100 images") &&
               strstr(r.out, "labels: 0: 60, 1: 60") && strstr(r.out, "pixels: mean "),
           "data info: exit %d: %s %s", r.code, r.out, r.err);
    result_free(&r);
}

/* A copy of the plain folder, gzip-compressed, with the training images' bytes then changed by `change`. */
static void broken_gz_folder(char *d, size_t size, const char *name, void (*change)(uint8_t *gz, size_t *n))
{
    char src[600], dst[600];
    make_dir(d, size, name);
    for (int i = 0; i < 4; i++) {
        file_in(src, sizeof src, plain, idx_names[i]);
        snprintf(dst, sizeof dst, "%s/%s.gz", d, idx_names[i]);
        CHECK(dw_gzip_file(src, dst) == 0);
    }
    size_t n = 0;
    snprintf(dst, sizeof dst, "%s/train-images-idx3-ubyte.gz", d);
    uint8_t *gz = idxw_read_all(dst, &n), *grown = gz ? realloc(gz, n + 16) : NULL;
    CHECK(grown != NULL);
    if (grown) {
        change(grown, &n);
        CHECK(idxw_write_bytes(dst, grown, n) == 0);
    }
    free(grown ? grown : gz);
}

static void flip_crc(uint8_t *gz, size_t *n)
{
    gz[*n - 8] ^= 1;
}

static void cut_half(uint8_t *gz, size_t *n)
{
    (void)gz;
    *n /= 2;
}

static void add_garbage(uint8_t *gz, size_t *n)
{
    memcpy(gz + *n, "garbage", 7);
    *n += 7;
}

static void broken_files(void)
{
    char d[300], f[600], text[200];
    broken_gz_folder(d, sizeof d, "bad-crc", flip_crc);
    DATA_ERROR("bad CRC", "train-images-idx3-ubyte.gz", "train", "--data", d, "--epochs", "1");
    broken_gz_folder(d, sizeof d, "truncated-gz", cut_half);
    DATA_ERROR("truncated gzip", "train-images-idx3-ubyte.gz", "train", "--data", d, "--epochs", "1");
    broken_gz_folder(d, sizeof d, "garbage-gz", add_garbage);
    DATA_ERROR("trailing garbage", "train-images-idx3-ubyte.gz", "train", "--data", d, "--epochs", "1");

    /* A gzip bomb: the label file's header says 600, its stream inflates to far more. */
    make_dir(d, sizeof d, "bomb");
    CHECK(idxw_write_synth_pair(d, "train", 600, 28, 28, 10, 11) == 0 && idxw_write_synth_pair(d, "t10k", 100, 28, 28,
                                                                                                10, 12) == 0);
    uint8_t *bomb = calloc(8 + (1 << 20), 1);
    CHECK(bomb != NULL);
    if (bomb) {
        idxw_be32(bomb, IDXW_MAGIC_LABELS), idxw_be32(bomb + 4, 600);
        file_in(f, sizeof f, d, "train-labels-idx1-ubyte");
        CHECK(unlink(f) == 0);
        file_in(f, sizeof f, d, "train-labels-idx1-ubyte.gz");
        CHECK(dw_write_gz(f, bomb, 8 + (1 << 20)) == 0);
        free(bomb);
    }
    DATA_ERROR("gzip bomb", "train-labels-idx1-ubyte.gz", "train", "--data", d, "--epochs", "1");

    /* Bad CSV rows name the file and the line; CRLF is fine. */
    make_dir(d, sizeof d, "csv-rows");
    static const char *const rows[][2] = {{"ragged", "0,1,2,3,4\n1,2,3\n"}, {"letters", "0,1,2,3,4\n1,2,x,4,5\n"},
                                          {"range", "0,1,2,3,4\n1,2,300,4,5\n"}, {"empty", "0,1,2,3,4\n\n1,2,3,4,5\n"}};
    char good_csv[600];
    file_in(good_csv, sizeof good_csv, d, "good_test.csv");
    CHECK(dw_write_text(good_csv, "label,a,b,c,d\r\n0,1,2,3,4\r\n1,4,5,6,7\r\n") == 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(text, sizeof text, "%s_train.csv", rows[i][0]);
        file_in(f, sizeof f, d, text);
        CHECK(dw_write_text(f, rows[i][1]) == 0);
        DATA_ERROR(rows[i][0], "line 2", "train", "--train-csv", f, "--test-csv", good_csv, "--epochs", "1");
    }
    /* A CSV without a test twin trains with no test set: the validation split is the estimate. */
    file_in(f, sizeof f, d, "alone_train.csv");
    CHECK(dw_write_text(f, "label,a,b,c,d\n0,1,2,3,4\n1,4,5,6,7\n0,1,2,3,5\n1,4,5,6,6\n0,0,2,3,4\n1,4,5,6,8\n"
                           "0,1,1,3,4\n") == 0);
    cli_result r = RUN("train", "--data", f, "--epochs", "1", "--hidden", "2", "--batch", "2");
    CHECKF(r.code == 0 && strstr(r.out, "test: none") && strstr(r.out, " 0 test;") && !strstr(r.out, "test: loss"),
           "a CSV without its test part: exit %d: %s %s", r.code, r.out, r.err);
    result_free(&r);
    file_in(f, sizeof f, d, "no-such.csv");
    DATA_ERROR("a missing CSV", "no-such.csv", "train", "--train-csv", f, "--test-csv", good_csv, "--epochs", "1");
    DATA_ERROR("a folder as a CSV", "directory", "train", "--train-csv", d, "--test-csv", good_csv, "--epochs", "1");
    DATA_ERROR("a folder as IDX images", "directory", "eval", "--model", f, "--test-images", d, "--test-labels", d);

    USAGE("--train-labels", "train", "--train-images", good_csv, "--epochs", "1");
    USAGE("--image-size", "train", "--image-size", "28", "--epochs", "1");
    USAGE("--label-offset", "train", "--label-offset", "300", "--epochs", "1");
    USAGE("--to", "data", "convert", "--data", plain, "--to", "png", "--out", d);
}

/* Training labels 0..9 against test labels 0..4: one warning that says which and what to check. */
static void label_sets_differ(void)
{
    char d[300], src[600], dst[600];
    make_dir(d, sizeof d, "five-test-labels");
    for (int i = 0; i < 2; i++) {
        file_in(src, sizeof src, plain, idx_names[i]);
        file_in(dst, sizeof dst, d, idx_names[i]);
        size_t n = 0;
        uint8_t *bytes = idxw_read_all(src, &n);
        CHECK(bytes && idxw_write_bytes(dst, bytes, n) == 0);
        free(bytes);
    }
    CHECK(idxw_write_synth_pair(d, "t10k", 100, 28, 28, 5, 12) == 0);
    cli_result r = RUN("train", "--data", d, "--epochs", "1", "--hidden", "8", "--quiet");
    no_crash("test labels 0..4", &r);
    CHECKF(r.code == 0 && lines_with(r.err, "warning") == 1 && strstr(r.err, "5 label(s) only in") &&
               strstr(r.err, "(5, 6, 7, 8, 9)") && strstr(r.err, "--set"),
           "test labels 0..4: exit %d, want one warning naming 5..9 and --set: %s", r.code, r.err);
    result_free(&r);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "cli-data"))
        return EXIT_FAILURE;
    if (access(BN_BLASNET_EXE, X_OK) != 0) {
        fprintf(stderr, "%s is not built or not executable\n", BN_BLASNET_EXE);
        return EXIT_FAILURE;
    }
    make_dir(plain, sizeof plain, "plain");
    CHECK(idxw_write_synth_pair(plain, "train", 600, 28, 28, 10, 11) == 0);
    CHECK(idxw_write_synth_pair(plain, "t10k", 100, 28, 28, 10, 12) == 0);

    bn_test_case("gzip folder, CSV from convert, explicit files: the plain folder's weights",
                 gz_and_csv_train_the_same);
    bn_test_case("EMNIST-style set: right way up, 0-based, the upright weights", emnist_right_way_up);
    bn_test_case("several sets ask for --set; data info", sets_and_info);
    bn_test_case("broken gzip, bombs, bad CSV rows, missing files, folders: one line, exit 1", broken_files);
    bn_test_case("train and test label sets differ: one warning", label_sets_differ);

    bn_test_remove_tree(root);
    return bn_test_exit("cli_data");
}
