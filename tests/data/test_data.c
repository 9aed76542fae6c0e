/* The data readers on files written here: gzip IDX loads as the plain file does (also in several members),
 * and every broken gzip (truncated anywhere, bad CRC or length, trailing garbage, a bomb) fails with the file
 * named; CSV loads with or without a header, with CRLF, and every bad row fails naming line, column and
 * value; the finder resolves names, prefixes and sets; an EMNIST-style set comes out the right way up. */
#define _GNU_SOURCE /* mkdtemp, strcasestr */
#include "blasnet.h"
#include "data_write.h"
#include "harness.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

/* A 5-image 3x4 set: pixel j of image i is 13*i + j (rows and columns differ, so a transpose shows). */
enum { N = 5, ROWS = 3, COLS = 4, DIM = ROWS * COLS };
static uint8_t pixels[N * DIM], labels[N] = {3, 0, 9, 1, 7};
static char plain_images[512], plain_labels[512], gz_images[512], gz_labels[512];

static const char *path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static bool same_as_fixture(const bn_dataset *ds)
{
    return ds->n == N && ds->rows == ROWS && ds->cols == COLS && ds->dim == DIM &&
           memcmp(ds->pixels, pixels, sizeof pixels) == 0 && memcmp(ds->labels, labels, sizeof labels) == 0;
}

/* A failed load: a non-zero status, an empty data set, the path and one of the words in the message. */
static void expect_fail(const char *what, int status, const bn_dataset *ds, const char *path, const char *w1,
                        const char *w2)
{
    const char *msg = bn_errmsg();
    CHECKF(status < 0, "%s: status %d, want an error", what, status);
    CHECKF(ds->storage == NULL && ds->n == 0, "%s: a failed load left a data set", what);
    CHECKF(strstr(msg, path) != NULL, "%s: the message does not name '%s': %s", what, path, msg);
    CHECKF(strcasestr(msg, w1) || (w2 && strcasestr(msg, w2)), "%s: the message says neither '%s' nor '%s': %s", what,
           w1, w2 ? w2 : "", msg);
}

/* ---- gzip ---------------------------------------------------------------------------------------------- */
static void gz_loads_like_plain(void)
{
    bn_dataset ds;
    int st = bn_idx_load(&ds, gz_images, gz_labels);
    CHECKF(st == BN_OK && same_as_fixture(&ds), "gzip pair: %s", bn_errmsg());
    bn_dataset_free(&ds);
    /* Two members, as `cat a.gz b.gz` makes: one stream of their bytes. */
    size_t size = 0;
    uint8_t *whole = idxw_read_all(plain_images, &size);
    char a[512], b[512], p[512];
    CHECK(whole && dw_write_gz(path_in(a, sizeof a, "part-a.gz"), whole, 7) == 0 &&
          dw_write_gz(path_in(b, sizeof b, "part-b.gz"), whole + 7, size - 7) == 0);
    size_t na = 0, nb = 0;
    uint8_t *ga = idxw_read_all(a, &na), *gb = idxw_read_all(b, &nb), *both = malloc(na + nb + 1);
    CHECK(ga && gb && both);
    if (ga && gb && both) {
        memcpy(both, ga, na), memcpy(both + na, gb, nb);
        CHECK(idxw_write_bytes(path_in(p, sizeof p, "two-members.gz"), both, na + nb) == 0);
        st = bn_idx_load(&ds, p, plain_labels);
        CHECKF(st == BN_OK && same_as_fixture(&ds), "two gzip members: %s", bn_errmsg());
        bn_dataset_free(&ds);
    }
    free(whole), free(ga), free(gb), free(both);
}

static void gz_truncated_everywhere(void)
{
    size_t size = 0;
    uint8_t *gz = idxw_read_all(gz_images, &size);
    CHECK(gz && size > 20);
    char p[512], what[64];
    path_in(p, sizeof p, "cut.gz");
    for (size_t len = 0; gz && len < size; len++) {
        bn_dataset ds;
        CHECK(idxw_write_bytes(p, gz, len) == 0);
        snprintf(what, sizeof what, "gzip images cut to %zu bytes", len);
        expect_fail(what, bn_idx_load(&ds, p, plain_labels), &ds, p, "truncated", "corrupt");
    }
    free(gz);
}

/* gz with byte `at` (from the end when negative) xor'ed, or `extra` appended. */
static void gz_broken(const char *what, long at, const char *extra, const char *w1, const char *w2)
{
    size_t size = 0;
    uint8_t *gz = idxw_read_all(gz_images, &size);
    size_t more = extra ? strlen(extra) : 0;
    uint8_t *buf = gz ? malloc(size + more + 1) : NULL;
    CHECK(buf != NULL);
    if (buf) {
        memcpy(buf, gz, size);
        if (extra)
            memcpy(buf + size, extra, more);
        else
            buf[at < 0 ? (long)size + at : at] ^= 0x5A;
        char p[512];
        bn_dataset ds;
        CHECK(idxw_write_bytes(path_in(p, sizeof p, "broken.gz"), buf, size + more) == 0);
        expect_fail(what, bn_idx_load(&ds, p, plain_labels), &ds, p, w1, w2);
    }
    free(gz), free(buf);
}

static void gz_corrupt(void)
{
    gz_broken("bad CRC-32", -8, NULL, "gzip", "check");
    gz_broken("bad length", -2, NULL, "gzip", "check");
    gz_broken("bad deflate data", 12, NULL, "gzip", "corrupt");
    gz_broken("trailing garbage", 0, "garbage", "trailing", NULL);
    gz_broken("one stray byte after the member", 0, "x", "trailing", NULL);
}

/* A header promising 1 image of 2x2 with a megabyte behind it; a header promising 2^20 images in a tiny file. */
static void gz_bombs(void)
{
    size_t body = (size_t)1 << 20;
    uint8_t *buf = calloc(16 + body, 1);
    char p[512];
    bn_dataset ds;
    CHECK(buf != NULL);
    if (!buf)
        return;
    idxw_be32(buf, IDXW_MAGIC_IMAGES), idxw_be32(buf + 4, 1), idxw_be32(buf + 8, 2), idxw_be32(buf + 12, 2);
    CHECK(dw_write_gz(path_in(p, sizeof p, "bomb.gz"), buf, 16 + body) == 0);
    uint8_t one[1] = {0};
    char lab[512];
    CHECK(idxw_write_labels(path_in(lab, sizeof lab, "one-label"), one, 1) == 0);
    expect_fail("gzip bomb", bn_idx_load(&ds, p, lab), &ds, p, "bomb", "more than");
    idxw_be32(buf + 4, 1u << 20), idxw_be32(buf + 8, 28), idxw_be32(buf + 12, 28);
    CHECK(dw_write_gz(path_in(p, sizeof p, "liar.gz"), buf, 16 + 100) == 0);
    expect_fail("header promising 822 MB in a tiny gzip", bn_idx_load(&ds, p, lab), &ds, p, "cannot inflate",
                "truncated");
    free(buf);
}

/* ---- CSV ----------------------------------------------------------------------------------------------- */
/* The fixture as CSV text: a header when asked, line ends as given. */
static void fixture_csv(char *out, size_t size, bool header, const char *eol)
{
    size_t len = 0;
    if (header) {
        len += (size_t)snprintf(out + len, size - len, "label");
        for (int j = 0; j < DIM; j++)
            len += (size_t)snprintf(out + len, size - len, ",pixel%d", j);
        len += (size_t)snprintf(out + len, size - len, "%s", eol);
    }
    for (int i = 0; i < N; i++) {
        len += (size_t)snprintf(out + len, size - len, "%d", labels[i]);
        for (int j = 0; j < DIM; j++)
            len += (size_t)snprintf(out + len, size - len, ",%d", pixels[i * DIM + j]);
        len += (size_t)snprintf(out + len, size - len, "%s", eol);
    }
}

static void csv_loads(void)
{
    static const struct {
        const char *name;
        bool header;
        const char *eol;
    } forms[] = {{"header, LF", true, "\n"}, {"no header, LF", false, "\n"}, {"header, CRLF", true, "\r\n"},
                 {"no header, CRLF", false, "\r\n"}};
    char text[4096], p[512];
    path_in(p, sizeof p, "fixture.csv");
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        fixture_csv(text, sizeof text, forms[f].header, forms[f].eol);
        bn_dataset ds;
        CHECK(dw_write_text(p, text) == 0);
        int st = bn_csv_load(&ds, p, ROWS, COLS);
        CHECKF(st == BN_OK && same_as_fixture(&ds), "%s: %s", forms[f].name, bn_errmsg());
        bn_dataset_free(&ds);
        text[strlen(text) - 1] = '\0'; /* the last line without its '\n' */
        CHECK(dw_write_text(p, text) == 0);
        st = bn_csv_load(&ds, p, ROWS, COLS);
        CHECKF(st == BN_OK && same_as_fixture(&ds), "%s, no final newline: %s", forms[f].name, bn_errmsg());
        bn_dataset_free(&ds);
    }
    /* gzip-compressed, blanks around values, a byte order mark; and square by default. */
    fixture_csv(text, sizeof text, true, "\n");
    CHECK(dw_write_gz(path_in(p, sizeof p, "fixture.csv.gz"), text, strlen(text)) == 0);
    bn_dataset ds;
    int st = bn_csv_load(&ds, p, ROWS, COLS);
    CHECKF(st == BN_OK && same_as_fixture(&ds), "csv.gz: %s", bn_errmsg());
    bn_dataset_free(&ds);
    CHECK(dw_write_text(path_in(p, sizeof p, "blanks.csv"), "\xEF\xBB\xBF 7 ,1,2 ,3,\t4\n0,5,6,7,8\n") == 0);
    st = bn_csv_load(&ds, p, 0, 0);
    CHECKF(st == BN_OK && ds.n == 2 && ds.rows == 2 && ds.cols == 2 && ds.labels[0] == 7 && ds.pixels[3] == 4 &&
               ds.pixels[7] == 8, "blanks and a BOM: %s", bn_errmsg());
    bn_dataset_free(&ds);
    CHECK(dw_write_text(path_in(p, sizeof p, "header-only.csv"), "label,a,b,c,d\r\n") == 0);
    st = bn_csv_load(&ds, p, 0, 0);
    CHECKF(st == BN_OK && ds.n == 0 && ds.dim == 4 && ds.storage, "a header and no rows: %s", bn_errmsg());
    bn_dataset_free(&ds);
}

/* text must fail, the message naming the file and containing want1 and want2. */
static void csv_fails(const char *text, int rows, int cols, const char *want1, const char *want2)
{
    char p[512];
    bn_dataset ds;
    CHECK(dw_write_text(path_in(p, sizeof p, "bad.csv"), text) == 0);
    int st = bn_csv_load(&ds, p, rows, cols);
    const char *msg = bn_errmsg();
    CHECKF(st < 0 && ds.storage == NULL, "'%s' loaded (status %d)", text, st);
    CHECKF(strstr(msg, p) && strstr(msg, want1) && (!want2 || strstr(msg, want2)),
           "'%s': the message lacks the path, '%s' or '%s': %s", text, want1, want2 ? want2 : "", msg);
}

static void csv_bad_rows(void)
{
    csv_fails("1,2,3,4,5\n1,2,3,4\n", 0, 0, "line 2, column 5", "rows have 5 columns");
    csv_fails("1,2,3,4,5\n1,2,3,4,5,6\n", 0, 0, "line 2, column 6", "'6'");
    csv_fails("label,a,b,c,d\n1,2,x3,4,5\n", 0, 0, "line 2, column 3", "'x3' is not a number");
    csv_fails("1,2,3,4,5\n1,2,3,256,5\n", 0, 0, "line 2, column 4", "'256' is out of range");
    csv_fails("1,2,3,4,5\n1,2,-3,4,5\n", 0, 0, "line 2, column 3", "'-3'");
    csv_fails("1,2,3,4,5\n1,2,3,4,5.5\r\n", 0, 0, "line 2, column 5", "'5.5'");
    csv_fails("1,2,3,4,5\n1,2,,4,5\n", 0, 0, "line 2, column 3", "''");
    csv_fails("1,2,3,4,5\n\n1,2,3,4,5\n", 0, 0, "line 2, column 1", "empty");
    csv_fails("1,2,3,4,5\r\n\r\n", 0, 0, "line 2", "empty");
    csv_fails("1,2,3,4,5\n1,2,3,4,12345678901234567890\n", 0, 0, "line 2, column 5", "out of range");
    csv_fails("", 0, 0, "empty", NULL);
    csv_fails("1,2,3\n", 0, 0, "not a square", NULL);
    csv_fails("1,2,3,4,5\n", 3, 3, "4 pixels per row", "3x3");
    csv_fails("7\n", 0, 0, "one column", NULL);
}

/* Every prefix of a valid CSV loads fewer rows or fails with line and column: never a crash. A cut inside the
 * last number of a line leaves a shorter number that CSV cannot tell from a whole one (a last line needs no
 * '\n'), so only that one value may differ. */
static void csv_truncated_everywhere(void)
{
    char text[4096], p[512];
    fixture_csv(text, sizeof text, true, "\r\n");
    path_in(p, sizeof p, "cut.csv");
    for (size_t len = 0; len < strlen(text); len++) {
        bn_dataset ds;
        CHECK(idxw_write_bytes(p, text, len) == 0);
        int st = bn_csv_load(&ds, p, ROWS, COLS);
        if (st == BN_OK)
            CHECKF(ds.n <= N && (ds.n == 0 || memcmp(ds.pixels, pixels, ds.n * DIM - 1) == 0) &&
                       memcmp(ds.labels, labels, ds.n) == 0, "cut at %zu: %zu rows, not those of the file", len, ds.n);
        else
            CHECKF(strstr(bn_errmsg(), p) && (strstr(bn_errmsg(), "line") || strstr(bn_errmsg(), "empty")),
                   "cut at %zu: %s", len, bn_errmsg());
        bn_dataset_free(&ds);
    }
}

static void not_files(void)
{
    bn_dataset ds;
    char p[512];
    expect_fail("a folder as CSV", bn_csv_load(&ds, dir, 0, 0), &ds, dir, "directory", NULL);
    expect_fail("a folder as gzip IDX", bn_idx_load(&ds, dir, plain_labels), &ds, dir, "directory", NULL);
    path_in(p, sizeof p, "no-such.csv.gz");
    expect_fail("a missing CSV", bn_csv_load(&ds, p, 0, 0), &ds, p, "no such file", NULL);
}

/* ---- finding ------------------------------------------------------------------------------------------- */
static void make_folder(char *out, size_t size, const char *name)
{
    path_in(out, size, name);
    CHECKF(mkdir(out, 0700) == 0, "mkdir %s", out);
}

/* src copied to dst, gzip-compressed when gz. */
static void copy_file(const char *src, const char *dst, bool gz)
{
    size_t size = 0;
    uint8_t *bytes = idxw_read_all(src, &size);
    CHECKF(bytes && (gz ? dw_write_gz(dst, bytes, size) : idxw_write_bytes(dst, bytes, size)) == 0, "writing %s", dst);
    free(bytes);
}

/* The fixture as the four files of a set in folder d: PREFIX{train,TEST}-{images,labels}SEPidxN-ubyte[.gz]. */
static void write_set(const char *d, const char *prefix, const char *test, const char *sep, bool gz)
{
    for (int r = 0; r < 4; r++) {
        char p[800];
        bool images = r % 2 == 0;
        snprintf(p, sizeof p, "%s/%s%s-%s%sidx%d-ubyte%s", d, prefix, r < 2 ? "train" : test,
                 images ? "images" : "labels", sep, images ? 3 : 1, gz ? ".gz" : "");
        copy_file(images ? plain_images : plain_labels, p, gz);
    }
}

/* bn_data_find at d (with set) finds a set whose train images end with `train_images`. */
static void expect_found(const char *what, const char *d, const char *set, const char *train_images,
                         const char *test_labels)
{
    bn_data_files *f = malloc(sizeof *f);
    int st = f ? bn_data_find(f, d, set) : BN_E_NOMEM;
    CHECKF(st == BN_OK, "%s: %s", what, bn_errmsg());
    if (st == BN_OK) {
        size_t a = strlen(f->train.images), b = strlen(train_images), c = strlen(f->test.labels);
        CHECKF(a >= b && strcmp(f->train.images + a - b, train_images) == 0, "%s: train images '%s', want '%s'", what,
               f->train.images, train_images);
        CHECKF(c >= strlen(test_labels) && strcmp(f->test.labels + c - strlen(test_labels), test_labels) == 0,
               "%s: test labels '%s', want '%s'", what, f->test.labels, test_labels);
    }
    free(f);
}

static void expect_not_found(const char *what, const char *d, const char *set, const char *w1, const char *w2)
{
    bn_data_files *f = malloc(sizeof *f);
    int st = f ? bn_data_find(f, d, set) : BN_OK;
    const char *msg = bn_errmsg();
    CHECKF(st < 0, "%s: found a set", what);
    CHECKF(strstr(msg, w1) && (!w2 || strstr(msg, w2)), "%s: the message lacks '%s' or '%s': %s", what, w1,
           w2 ? w2 : "", msg);
    free(f);
}

static void finds_names(void)
{
    char d[512];
    make_folder(d, sizeof d, "dotted");
    write_set(d, "", "t10k", ".", false);
    expect_found("dot before idx", d, NULL, "/train-images.idx3-ubyte", "/t10k-labels.idx1-ubyte");
    make_folder(d, sizeof d, "both");
    write_set(d, "", "t10k", "-", true);
    write_set(d, "", "t10k", "-", false);
    expect_found("plain over .gz", d, NULL, "/train-images-idx3-ubyte", "/t10k-labels-idx1-ubyte");
    make_folder(d, sizeof d, "emnist");
    write_set(d, "emnist-letters-", "test", "-", true);
    expect_found("a prefix and test-", d, NULL, "/emnist-letters-train-images-idx3-ubyte.gz",
                 "/emnist-letters-test-labels-idx1-ubyte.gz");
    write_set(d, "emnist-digits-", "test", "-", true);
    expect_not_found("two sets", d, NULL, "emnist-digits, emnist-letters", "2 data sets");
    expect_found("--set emnist-digits", d, "emnist-digits", "/emnist-digits-train-images-idx3-ubyte.gz",
                 "/emnist-digits-test-labels-idx1-ubyte.gz");
    expect_not_found("an unknown set", d, "kmnist", "no data set named 'kmnist'", "emnist-letters");
    char p[800];
    snprintf(p, sizeof p, "%s/emnist-digits-test-labels-idx1-ubyte.gz", d);
    CHECK(unlink(p) == 0);
    expect_found("a partial set beside a whole one", d, NULL, "/emnist-letters-train-images-idx3-ubyte.gz",
                 "/emnist-letters-test-labels-idx1-ubyte.gz");
    make_folder(d, sizeof d, "partial");
    write_set(d, "", "t10k", "-", true);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", d);
    CHECK(unlink(p) == 0);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte'", d);
    expect_not_found("a missing file", d, NULL, p, "not found");
    make_folder(d, sizeof d, "nothing");
    expect_not_found("an empty folder", d, NULL, "train-images-idx3-ubyte", "holds no data set");
}

static void finds_csv(void)
{
    char d[512], p[800], text[4096];
    make_folder(d, sizeof d, "csv");
    fixture_csv(text, sizeof text, true, "\n");
    snprintf(p, sizeof p, "%s/mnist_train.csv", d);
    CHECK(dw_write_text(p, text) == 0);
    bn_data_files *f = malloc(sizeof *f);
    CHECK(f && bn_data_find(f, p, NULL) == BN_OK && strcmp(f->train.csv, p) == 0 && !f->test.csv[0]);
    expect_not_found("a CSV without its test twin, as a folder", d, NULL, "mnist_test.csv", "not found");
    snprintf(p, sizeof p, "%s/mnist_test.csv", d);
    CHECK(dw_write_text(p, text) == 0);
    CHECK(f && bn_data_find(f, p, NULL) == BN_OK && strcmp(f->test.csv, p) == 0 && strstr(f->train.csv, "mnist_train"));
    CHECK(f && bn_data_find(f, d, NULL) == BN_OK && strstr(f->train.csv, "/mnist_train.csv") &&
          strstr(f->test.csv, "/mnist_test.csv") && strcmp(f->set, "mnist") == 0);
    free(f);
    expect_not_found("an IDX file as --data", plain_images, NULL, "is a file", NULL);
}

/* ---- layout: EMNIST ------------------------------------------------------------------------------------ */
/* The fixture stored as EMNIST stores it: each image transposed (COLS x ROWS), labels 1 higher; found by its
 * EMNIST name, loaded with transpose and offset 1, it is the fixture again. */
static void emnist_right_way_up(void)
{
    uint8_t stored[N * DIM], shifted[N];
    for (int i = 0; i < N; i++) {
        shifted[i] = (uint8_t)(labels[i] + 1);
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                stored[i * DIM + c * ROWS + r] = pixels[i * DIM + r * COLS + c];
    }
    char d[512], p[800], q[800];
    make_folder(d, sizeof d, "emnist-fixture");
    snprintf(p, sizeof p, "%s/emnist-letters-train-images-idx3-ubyte", d);
    snprintf(q, sizeof q, "%s/emnist-letters-train-labels-idx1-ubyte", d);
    CHECK(idxw_write_images(p, stored, N, COLS, ROWS) == 0 && idxw_write_labels(q, shifted, N) == 0);
    snprintf(q, sizeof q, "%s/emnist-letters-test-images-idx3-ubyte.gz", d);
    copy_file(p, q, true);
    snprintf(p, sizeof p, "%s/emnist-letters-train-labels-idx1-ubyte", d);
    snprintf(q, sizeof q, "%s/emnist-letters-test-labels-idx1-ubyte.gz", d);
    copy_file(p, q, true);
    bn_data_files *f = malloc(sizeof *f);
    bn_dataset train, test;
    bn_data_layout layout = {.transpose = true, .label_offset = 1};
    int st = f ? bn_data_find(f, d, NULL) : BN_E_NOMEM;
    if (!st)
        st = bn_data_load(f, &layout, &train, &test);
    CHECKF(st == BN_OK, "EMNIST fixture: %s", bn_errmsg());
    if (!st) {
        CHECKF(same_as_fixture(&train) && same_as_fixture(&test), "EMNIST fixture: not the right way up and 0-based "
               "(train %dx%d, first label %d)", train.rows, train.cols, train.labels[0]);
        bn_dataset_free(&train), bn_dataset_free(&test);
    }
    layout.label_offset = 4; /* label 0 + 1 = 1 is below it */
    st = f ? bn_data_load(f, &layout, &train, &test) : BN_E_NOMEM;
    CHECKF(st < 0 && strstr(bn_errmsg(), "label offset 4") && strstr(bn_errmsg(), "emnist-letters-train-labels"),
           "a label below --label-offset: %s", bn_errmsg());
    free(f);
}

/* ---- writing ------------------------------------------------------------------------------------------- */
static void round_trips(void)
{
    bn_dataset ds, back;
    char a[512], b[512];
    CHECK(bn_idx_load(&ds, plain_images, plain_labels) == BN_OK);
    CHECKF(bn_csv_write(&ds, path_in(a, sizeof a, "written.csv")) == BN_OK, "%s", bn_errmsg());
    CHECKF(bn_csv_load(&back, a, ROWS, COLS) == BN_OK && same_as_fixture(&back), "CSV round trip: %s", bn_errmsg());
    bn_dataset_free(&back);
    CHECKF(bn_idx_write(&ds, path_in(a, sizeof a, "w-images"), path_in(b, sizeof b, "w-labels")) == BN_OK, "%s",
           bn_errmsg());
    CHECKF(bn_idx_load(&back, a, b) == BN_OK && same_as_fixture(&back), "IDX round trip: %s", bn_errmsg());
    bn_dataset_free(&back);
    bn_dataset_free(&ds);
}

int main(void)
{
    if (!bn_test_tmpdir(dir, sizeof dir, "data"))
        return EXIT_FAILURE;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DIM; j++)
            pixels[i * DIM + j] = (uint8_t)(13 * i + j);
    CHECK(idxw_write_images(path_in(plain_images, sizeof plain_images, "images"), pixels, N, ROWS, COLS) == 0);
    CHECK(idxw_write_labels(path_in(plain_labels, sizeof plain_labels, "labels"), labels, N) == 0);
    copy_file(plain_images, path_in(gz_images, sizeof gz_images, "images.gz"), true);
    copy_file(plain_labels, path_in(gz_labels, sizeof gz_labels, "labels.gz"), true);

    bn_test_case("gzip IDX loads as the plain file, in one member or two", gz_loads_like_plain);
    bn_test_case("gzip IDX truncated at every offset", gz_truncated_everywhere);
    bn_test_case("gzip with a bad CRC, length, data, or trailing garbage", gz_corrupt);
    bn_test_case("gzip bombs and lying headers", gz_bombs);
    bn_test_case("CSV: header or not, LF or CRLF, gzip, blanks, BOM", csv_loads);
    bn_test_case("CSV: each bad row names line, column and value", csv_bad_rows);
    bn_test_case("CSV truncated at every offset", csv_truncated_everywhere);
    bn_test_case("folders and missing files", not_files);
    bn_test_case("finder: dot names, .gz, prefixes, sets, missing files", finds_names);
    bn_test_case("finder: CSV pairs and twins", finds_csv);
    bn_test_case("EMNIST: transposed, labels 1..N, comes out right way up", emnist_right_way_up);
    bn_test_case("IDX and CSV written and read back", round_trips);

    bn_test_remove_tree(dir);
    return bn_test_exit("data");
}
