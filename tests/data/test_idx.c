/* The IDX reader on files written here: a valid pair loads with the right pixels, labels and dimensions;
 * every broken file (magic, truncation at every offset, trailing bytes, count mismatch, zero or absurd
 * dimensions, missing file, a folder) gives a non-zero status and a message naming the file and the problem. */
#define _GNU_SOURCE /* mkdtemp */
#include "blasnet.h"
#include "harness.h"
#include "idx_write.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

/* A 5-image 3x4 set (odd sizes on purpose) whose every byte is predictable: pixel j of image i is 13*i + j. */
enum { N = 5, ROWS = 3, COLS = 4, DIM = ROWS * COLS };
static uint8_t pixels[N * DIM], labels[N] = {3, 0, 9, 1, 7};
static char good_images[512], good_labels[512];

static bool contains_ci(const char *haystack, const char *needle)
{
    return strcasestr(haystack, needle) != NULL;
}

/* Loads and expects failure: a non-zero status, a zeroed data set, and a message with the path in it and at
 * least one of the NULL-terminated words naming the problem (any of them, case-insensitive). */
static void expect_fail(const char *what, const char *images, const char *labels_path, const char *bad_path,
                        ...)
{
    bn_dataset ds;
    memset(&ds, 0xAB, sizeof ds);
    int st = bn_idx_load(&ds, images, labels_path);
    const char *msg = bn_errmsg();
    CHECKF(st < 0, "%s: status %d, want an error", what, st);
    CHECKF(ds.storage == NULL && ds.n == 0 && ds.pixels == NULL, "%s: failed load left a non-empty data set",
           what);
    CHECKF(strstr(msg, bad_path) != NULL, "%s: message does not name '%s': %s", what, bad_path, msg);
    va_list ap;
    va_start(ap, bad_path);
    bool named = false;
    char words[256] = "";
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *)) {
        named |= contains_ci(msg, w);
        strncat(words, w, sizeof words - strlen(words) - 3);
        strcat(words, " ");
    }
    va_end(ap);
    CHECKF(named, "%s: message does not name the problem (want one of: %s): %s", what, words, msg);
    if (st == BN_OK)
        bn_dataset_free(&ds);
}

static void valid_pair_loads(void)
{
    bn_dataset ds;
    int st = bn_idx_load(&ds, good_images, good_labels);
    CHECKF(st == BN_OK, "valid pair: %s", bn_errmsg());
    if (st)
        return;
    CHECK(ds.n == N);
    CHECK(ds.rows == ROWS);
    CHECK(ds.cols == COLS);
    CHECK(ds.dim == DIM);
    CHECK(ds.storage != NULL);
    CHECK(memcmp(ds.pixels, pixels, sizeof pixels) == 0);
    CHECK(memcmp(ds.labels, labels, sizeof labels) == 0);
    CHECK(bn_dataset_max_label(&ds) == 9);

    /* Batches come out scaled to [0,1], rows in the order asked. */
    float x[2 * DIM];
    int32_t lab[2];
    uint32_t rows[5] = {4, 2, 0, 1, 3};
    bn_dataset_gather(&ds, rows, 1, 2, x, lab);
    CHECK(lab[0] == 9 && lab[1] == 3);
    CHECK_CLOSE(x[0], 26.0 / 255.0, 1e-7, 0); /* image 2, pixel 0 = 26; float rounding only */
    CHECK_CLOSE(x[DIM + 11], 11.0 / 255.0, 1e-7, 0);

    bn_dataset s = bn_dataset_slice(&ds, 3, 10); /* clamped to the 2 that exist */
    CHECK(s.n == 2 && s.labels[0] == 1 && s.storage == NULL && s.pixels == ds.pixels + 3 * DIM);
    bn_dataset_free(&ds);
    CHECK(ds.storage == NULL && ds.n == 0);
}

static void mnist_folder_loads(void)
{
    char sub[512], p[600];
    snprintf(sub, sizeof sub, "%s/mnist", dir);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(idxw_write_synth_pair(sub, "train", 60, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(sub, "t10k", 17, 28, 28, 10, 2) == 0);
    bn_dataset train, test;
    int st = bn_mnist_load(sub, &train, &test);
    CHECKF(st == BN_OK, "bn_mnist_load: %s", bn_errmsg());
    if (!st) {
        CHECK(train.n == 60 && test.n == 17 && train.dim == 784 && test.rows == 28 && test.cols == 28);
        CHECK(bn_dataset_max_label(&train) == 9);
        bn_dataset_free(&train);
        bn_dataset_free(&test);
    }

    /* Test images of another shape than the training images: the message should say which file. */
    CHECK(idxw_write_synth_pair(sub, "t10k", 17, 20, 20, 10, 2) == 0);
    st = bn_mnist_load(sub, &train, &test);
    CHECKF(st < 0, "28x28 train with 20x20 test: status %d", st);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", sub);
    CHECKF(strstr(bn_errmsg(), p) != NULL, "shape mismatch message does not name '%s': %s", p, bn_errmsg());
    CHECK(train.storage == NULL && test.storage == NULL);

    /* A missing test file after a good training pair: fails, names it, and frees the training set. */
    CHECK(unlink(p) == 0);
    st = bn_mnist_load(sub, &train, &test);
    CHECKF(st < 0 && strstr(bn_errmsg(), p) != NULL, "missing t10k images: status %d: %s", st, bn_errmsg());
    CHECK(train.storage == NULL && test.storage == NULL);

    /* A folder that does not exist. */
    snprintf(p, sizeof p, "%s/no-such-folder", dir);
    st = bn_mnist_load(p, &train, &test);
    CHECKF(st < 0 && strstr(bn_errmsg(), p) != NULL, "missing folder: status %d: %s", st, bn_errmsg());
}

/* Writes bytes [0, len) of src to name and returns its path in buf. */
static const char *write_prefix(char *buf, size_t size, const char *name, const uint8_t *src, size_t len)
{
    path_in(buf, size, name);
    CHECK(idxw_write_bytes(buf, src, len) == 0);
    return buf;
}

static void truncated_everywhere(void)
{
    size_t isize = 0, lsize = 0; /* 0 when a read fails */
    uint8_t *img = idxw_read_all(good_images, &isize), *lab = idxw_read_all(good_labels, &lsize);
    CHECK(img && isize == 16 + sizeof pixels);
    CHECK(lab && lsize == 8 + N);
    if (!img || !lab) {
        free(img);
        free(lab);
        return;
    }
    char p[512], what[64];
    /* Every shorter length of each file: inside the magic, the header, and the body. */
    for (size_t len = 0; len < isize; len++) {
        snprintf(what, sizeof what, "images cut to %zu bytes", len);
        write_prefix(p, sizeof p, "cut-images", img, len);
        expect_fail(what, p, good_labels, p, "truncated", "short", NULL);
    }
    for (size_t len = 0; len < lsize; len++) {
        snprintf(what, sizeof what, "labels cut to %zu bytes", len);
        write_prefix(p, sizeof p, "cut-labels", lab, len);
        expect_fail(what, good_images, p, p, "truncated", "short", NULL);
    }

    /* One byte too many. */
    uint8_t *longer = malloc(isize + 1);
    CHECK(longer != NULL);
    if (longer) {
        memcpy(longer, img, isize);
        longer[isize] = 0;
        write_prefix(p, sizeof p, "long-images", longer, isize + 1);
        expect_fail("images with a trailing byte", p, good_labels, p, "trailing", "extra", NULL);
        memcpy(longer, lab, lsize);
        write_prefix(p, sizeof p, "long-labels", longer, lsize + 1);
        expect_fail("labels with a trailing byte", good_images, p, p, "trailing", "extra", NULL);
        free(longer);
    }
    free(img);
    free(lab);
}

static void bad_headers(void)
{
    char p[512];
    uint32_t d3[3] = {N, ROWS, COLS}, d1[1] = {N};

    path_in(p, sizeof p, "magic-images");
    CHECK(idxw_write(p, IDXW_MAGIC_LABELS, 3, d3, pixels, sizeof pixels) == 0);
    expect_fail("image file with the label magic", p, good_labels, p, "magic", NULL);
    /* What a gzip file starts with: it is read as one, and its stream is corrupt. */
    CHECK(idxw_write(p, 0x1f8b0808u, 3, d3, pixels, sizeof pixels) == 0);
    expect_fail("image file with gzip's magic", p, good_labels, p, "gzip", NULL);
    CHECK(idxw_write(p, 0x00000D03u, 3, d3, pixels, sizeof pixels) == 0); /* float32 element type */
    expect_fail("image file of float32", p, good_labels, p, "magic", NULL);

    path_in(p, sizeof p, "magic-labels");
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 1, d1, labels, sizeof labels) == 0);
    expect_fail("label file with the image magic", good_images, p, p, "magic", NULL);
    expect_fail("image and label files swapped", good_labels, good_images, good_labels, "magic", NULL);

    /* Counts that disagree: the message should name both files; the label file at least. */
    uint8_t six[6] = {1, 2, 3, 4, 5, 6};
    path_in(p, sizeof p, "six-labels");
    CHECK(idxw_write_labels(p, six, 6) == 0);
    expect_fail("5 images, 6 labels", good_images, p, p, "label", "count", NULL);
    CHECKF(strstr(bn_errmsg(), good_images) != NULL, "count mismatch message lacks the image file: %s",
           bn_errmsg());

    path_in(p, sizeof p, "zero-rows");
    uint32_t zr[3] = {N, 0, COLS};
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, zr, NULL, 0) == 0);
    expect_fail("zero rows", p, good_labels, p, "0", "zero", "empty", NULL);
    path_in(p, sizeof p, "zero-cols");
    uint32_t zc[3] = {N, ROWS, 0};
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, zc, NULL, 0) == 0);
    expect_fail("zero cols", p, good_labels, p, "0", "zero", "empty", NULL);

    /* Absurd sizes in a small file: refused from the header alone, as a format error. A reader that
     * trusted the header would try to allocate terabytes and report NOMEM (or crash). */
    path_in(p, sizeof p, "huge-count");
    uint32_t huge[3] = {1u << 31, 28, 28};
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, huge, pixels, sizeof pixels) == 0);
    expect_fail("2^31 images in a 76-byte file", p, good_labels, p, "large", "truncated", "promises", NULL);
    bn_dataset ds;
    CHECKF(bn_idx_load(&ds, p, good_labels) == BN_E_FORMAT, "2^31 images: want BN_E_FORMAT: %s", bn_errmsg());
    uint32_t big[3] = {1u << 30, 1u << 30, 1u << 30}; /* 2^90 bytes: overflows any 64-bit product */
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, big, pixels, sizeof pixels) == 0);
    expect_fail("2^30 x 2^30 x 2^30 images", p, good_labels, p, "large", "overflow", "truncated", NULL);
    uint32_t maxed[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, maxed, pixels, sizeof pixels) == 0);
    expect_fail("UINT32_MAX dimensions", p, good_labels, p, "large", "overflow", "truncated", NULL);
    path_in(p, sizeof p, "huge-labels");
    uint32_t hl[1] = {UINT32_MAX};
    CHECK(idxw_write(p, IDXW_MAGIC_LABELS, 1, hl, labels, sizeof labels) == 0);
    expect_fail("UINT32_MAX labels in a 13-byte file", good_images, p, p, "large", "truncated", "promises", NULL);
    /* Images too wide for any network (5000x5000 > BN_MAX_WIDTH inputs), in a file whose size is consistent. */
    path_in(p, sizeof p, "wide-images");
    uint32_t wide[3] = {0, 5000, 5000}, zero1[1] = {0};
    CHECK(idxw_write(p, IDXW_MAGIC_IMAGES, 3, wide, NULL, 0) == 0);
    char zl[512];
    path_in(zl, sizeof zl, "zero-labels");
    CHECK(idxw_write(zl, IDXW_MAGIC_LABELS, 1, zero1, NULL, 0) == 0);
    expect_fail("5000x5000 images", p, zl, p, "large", "support", NULL);
}

static void not_files(void)
{
    char p[512];
    path_in(p, sizeof p, "does-not-exist");
    expect_fail("missing image file", p, good_labels, p, "no such", "cannot open", NULL);
    expect_fail("missing label file", good_images, p, p, "no such", "cannot open", NULL);
    path_in(p, sizeof p, "a-folder");
    CHECK(mkdir(p, 0700) == 0);
    expect_fail("a folder as the image file", p, good_labels, p, "regular", "directory", NULL);
    expect_fail("a folder as the label file", good_images, p, p, "regular", "directory", NULL);
}

int main(void)
{
    if (!bn_test_tmpdir(dir, sizeof dir, "idx"))
        return EXIT_FAILURE;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DIM; j++)
            pixels[i * DIM + j] = (uint8_t)(13 * i + j);
    path_in(good_images, sizeof good_images, "images-idx3-ubyte");
    path_in(good_labels, sizeof good_labels, "labels-idx1-ubyte");
    CHECK(idxw_write_images(good_images, pixels, N, ROWS, COLS) == 0);
    CHECK(idxw_write_labels(good_labels, labels, N) == 0);

    bn_test_case("a valid pair loads", valid_pair_loads);
    bn_test_case("an MNIST folder loads", mnist_folder_loads);
    bn_test_case("a file truncated anywhere is refused", truncated_everywhere);
    bn_test_case("bad headers are refused", bad_headers);
    bn_test_case("folders and missing files are refused", not_files);

    bn_test_remove_tree(dir);
    return bn_test_exit("idx");
}
