/* IDX files (the MNIST format): big-endian header, then raw uint8. Every field is checked against the file
 * size before anything is trusted, and each failure names the file and the numbers involved. */
#include "blasnet.h"
#include "error.h"
#include "file_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES 0x00000803u

typedef struct {
    uint8_t *data; /* header included */
    size_t size;
} file_bytes;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks the header: magic, dimension count, and that the dimensions account for the exact file size. */
static int check_header(const file_bytes *f, const char *path, uint32_t magic, int ndims, uint32_t *dims)
{
    size_t header = 4 + 4 * (size_t)ndims;
    /* The magic first, whenever there are 4 bytes: a label file given as images should say so, not
     * "truncated". */
    if (f->size >= 4 && be32(f->data) != magic) {
        uint32_t got = be32(f->data);
        const char *what = got == IDX_MAGIC_IMAGES ? " (an IDX image file)"
                           : got == IDX_MAGIC_LABELS ? " (an IDX label file)"
                                                     : "";
        return bn_fail(BN_E_FORMAT, "'%s' has magic 0x%08x%s, expected 0x%08x (IDX %s file)", path, got, what,
                       magic, magic == IDX_MAGIC_IMAGES ? "image" : "label");
    }
    if (f->size < header)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, shorter than the %zu-byte IDX header", path,
                       f->size, header);
    uint64_t expect = header, count = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(f->data + 4 + 4 * i);
        if (dims[i] == 0 && i > 0)
            return bn_fail(BN_E_FORMAT, "'%s': dimension %d is 0", path, i);
        if (dims[i] > (1u << 30) || __builtin_mul_overflow(count, (uint64_t)dims[i], &count))
            return bn_fail(BN_E_FORMAT, "'%s': dimension %d = %u is implausibly large", path, i, dims[i]);
    }
    if (count > UINT64_MAX - expect)
        return bn_fail(BN_E_FORMAT, "'%s': dimensions overflow", path);
    expect += count;
    if ((uint64_t)f->size != expect)
        return bn_fail(BN_E_FORMAT, "'%s' is %zu bytes, but its header promises %llu (%s)", path, f->size,
                       (unsigned long long)expect, (uint64_t)f->size < expect ? "truncated" : "trailing bytes");
    return BN_OK;
}

/* Both files' headers, and that they describe the same samples. */
static int check_pair(const file_bytes *images, const char *images_path, const file_bytes *labels,
                      const char *labels_path, uint32_t idims[3])
{
    uint32_t ldims[1] = {0};
    int status = check_header(images, images_path, IDX_MAGIC_IMAGES, 3, idims);
    if (!status)
        status = check_header(labels, labels_path, IDX_MAGIC_LABELS, 1, ldims);
    if (!status && idims[0] != ldims[0])
        status = bn_fail(BN_E_FORMAT, "'%s' holds %u images but '%s' holds %u labels", images_path, idims[0],
                         labels_path, ldims[0]);
    if (!status && (uint64_t)idims[1] * idims[2] > BN_MAX_WIDTH)
        status = bn_fail(BN_E_FORMAT, "'%s': images of %ux%u pixels are larger than blasnet supports", images_path,
                         idims[1], idims[2]);
    return status;
}

int bn_idx_load(bn_dataset *ds, const char *images_path, const char *labels_path)
{
    memset(ds, 0, sizeof *ds);
    file_bytes images = {0}, labels = {0};
    uint32_t idims[3] = {0};
    int status = bn_read_file(images_path, &images.data, &images.size);
    if (!status)
        status = bn_read_file(labels_path, &labels.data, &labels.size);
    if (!status)
        status = check_pair(&images, images_path, &labels, labels_path, idims);
    if (status)
        goto out;
    /* One block owns both: the labels move in behind the pixels, so a data set frees with one call. */
    size_t pixel_bytes = images.size - 16, n = idims[0];
    uint8_t *block = realloc(images.data, images.size + n);
    if (!block) {
        status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes for '%s'", images.size + n, labels_path);
        goto out;
    }
    images.data = NULL; /* now owned by block */
    memcpy(block + images.size, labels.data + 8, n);
    ds->pixels = block + 16;
    ds->labels = block + 16 + pixel_bytes;
    ds->n = n;
    ds->rows = (int)idims[1];
    ds->cols = (int)idims[2];
    ds->dim = (int)(idims[1] * idims[2]);
    ds->storage = block;
out:
    free(images.data);
    free(labels.data);
    return status;
}

int bn_mnist_load(const char *dir, bn_dataset *train, bn_dataset *test)
{
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char paths[4][4096];
    for (int i = 0; i < 4; i++)
        if ((size_t)snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]) >= sizeof paths[i])
            return bn_fail(BN_E_INVALID, "data folder path '%s' is too long", dir);
    memset(test, 0, sizeof *test);
    int status = bn_idx_load(train, paths[0], paths[1]);
    if (status)
        return status;
    status = bn_idx_load(test, paths[2], paths[3]);
    if (!status && (test->rows != train->rows || test->cols != train->cols))
        status = bn_fail(BN_E_MISMATCH, "'%s' holds %dx%d images but '%s' holds %dx%d", paths[2], test->rows,
                         test->cols, paths[0], train->rows, train->cols);
    if (status) {
        bn_dataset_free(train);
        bn_dataset_free(test);
    }
    return status;
}

void bn_dataset_free(bn_dataset *ds)
{
    if (!ds)
        return;
    free(ds->storage);
    memset(ds, 0, sizeof *ds);
}

bn_dataset bn_dataset_slice(const bn_dataset *ds, size_t start, size_t count)
{
    bn_dataset view = *ds;
    if (start > ds->n)
        start = ds->n;
    if (count > ds->n - start)
        count = ds->n - start;
    view.pixels = ds->pixels + start * (size_t)ds->dim;
    view.labels = ds->labels + start;
    view.n = count;
    view.storage = NULL;
    return view;
}

int bn_dataset_max_label(const bn_dataset *ds)
{
    int max = -1;
    for (size_t i = 0; i < ds->n; i++)
        max = ds->labels[i] > max ? ds->labels[i] : max;
    return max;
}
