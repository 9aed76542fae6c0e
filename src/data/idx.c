/* IDX files (the MNIST format): big-endian header, then raw uint8, plain or gzip-compressed. Every field is
 * checked against the file size before anything is allocated or trusted, the body is read straight into the
 * data set's storage, and each failure names the file and the numbers involved. */
#include "atomic_file.h"
#include "blasnet.h"
#include "dataset.h"
#include "error.h"
#include "file_read.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES 0x00000803u

/* One IDX file being read: its stream, its header's dimensions, and the body size they promise. */
typedef struct {
    bn_stream s;
    uint32_t dims[3];
    uint64_t body;
} idx_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static int check_magic(const char *path, uint32_t got, uint32_t magic)
{
    const char *what = got == IDX_MAGIC_IMAGES   ? " (an IDX image file)"
                       : got == IDX_MAGIC_LABELS ? " (an IDX label file)"
                                                 : "";
    return bn_fail(BN_E_FORMAT, "'%s' has magic 0x%08x%s, expected 0x%08x (IDX %s file)", path, got, what, magic,
                   magic == IDX_MAGIC_IMAGES ? "image" : "label");
}

/* The body size the header's dimensions promise, each checked against overflow and implausible sizes. */
static int body_size(idx_file *f, const uint8_t *header, int ndims)
{
    const char *path = f->s.path;
    uint64_t count = 1;
    for (int i = 0; i < ndims; i++) {
        f->dims[i] = be32(header + 4 + 4 * i);
        if (f->dims[i] == 0 && i > 0)
            return bn_fail(BN_E_FORMAT, "'%s': dimension %d is 0", path, i);
        if (f->dims[i] > (1u << 30) || __builtin_mul_overflow(count, (uint64_t)f->dims[i], &count))
            return bn_fail(BN_E_FORMAT, "'%s': dimension %d = %u is implausibly large", path, i, f->dims[i]);
    }
    if (count > UINT64_MAX - 16)
        return bn_fail(BN_E_FORMAT, "'%s': dimensions overflow", path);
    f->body = count;
    return BN_OK;
}

/* What the file's size says of the header's promise, before anything is allocated: a plain file must be
 * exactly that long; a gzip file must be able to inflate to it. */
static int check_size(const idx_file *f, size_t header)
{
    uint64_t expect = header + f->body;
    const bn_stream *s = &f->s;
    char words[32];
    if (s->file_size < 0 && expect > bn_stream_max_size(s))
        return bn_fail(BN_E_FORMAT, "'%s' promises %llu bytes, more than blasnet reads from a pipe or device (%s); "
                                    "save it to a file", s->path, (unsigned long long)expect,
                       bn_format_bytes(bn_stream_max_size(s), words, sizeof words));
    if (s->file_size < 0 || (!s->gz && (uint64_t)s->file_size == expect))
        return BN_OK;
    if (!s->gz)
        return bn_fail(BN_E_FORMAT, "'%s' is %lld bytes, but its header promises %llu (%s)", s->path,
                       (long long)s->file_size, (unsigned long long)expect,
                       (uint64_t)s->file_size < expect ? "truncated" : "trailing bytes");
    if (expect > bn_stream_max_size(s))
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %lld gzip bytes cannot inflate to the %llu its header "
                                    "promises", s->path, (long long)s->file_size, (unsigned long long)expect);
    return BN_OK;
}

/* Opens path and reads its header: magic, dimension count, and that the dimensions fit the file. */
static int open_idx(idx_file *f, const char *path, uint32_t magic, int ndims)
{
    uint8_t header[16];
    size_t size = 4 + 4 * (size_t)ndims, got = 0;
    int status = bn_stream_open(&f->s, path);
    if (!status)
        status = bn_stream_read(&f->s, header, size, &got);
    if (status)
        return status;
    /* The magic first, whenever there are 4 bytes: a label file given as images should say so, not
     * "truncated". */
    if (got >= 4 && be32(header) != magic)
        return check_magic(path, be32(header), magic);
    if (got < size)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, shorter than the %zu-byte IDX header", path, got,
                       size);
    status = body_size(f, header, ndims);
    return status ? status : check_size(f, size);
}

/* The body, exactly as long as the header promised, into dst; then the data must end. */
static int read_body(idx_file *f, uint8_t *dst)
{
    size_t got = 0;
    bool more = false;
    int status = bn_stream_read(&f->s, dst, f->body, &got);
    if (!status && got < f->body)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: its data ends after %zu of the %llu bytes its header "
                                    "promises", f->s.path, got, (unsigned long long)f->body);
    if (!status)
        status = bn_stream_has_more(&f->s, &more);
    if (!status && more)
        return bn_fail(BN_E_FORMAT, "'%s' holds more than the %llu bytes its header promises (trailing bytes%s)",
                       f->s.path, (unsigned long long)f->body, f->s.gz ? ", or a gzip bomb" : "");
    return status;
}

/* Both files' headers, and that they describe the same samples. */
static int open_pair(idx_file *images, const char *images_path, idx_file *labels, const char *labels_path)
{
    int status = open_idx(images, images_path, IDX_MAGIC_IMAGES, 3);
    if (!status)
        status = open_idx(labels, labels_path, IDX_MAGIC_LABELS, 1);
    if (!status && images->dims[0] != labels->dims[0])
        status = bn_fail(BN_E_FORMAT, "'%s' holds %u images but '%s' holds %u labels", images_path,
                         images->dims[0], labels_path, labels->dims[0]);
    if (!status && (uint64_t)images->dims[1] * images->dims[2] > BN_MAX_WIDTH)
        status = bn_fail(BN_E_FORMAT, "'%s': images of %ux%u pixels are larger than blasnet supports", images_path,
                         images->dims[1], images->dims[2]);
    return status;
}

int bn_idx_load(bn_dataset *ds, const char *images_path, const char *labels_path)
{
    memset(ds, 0, sizeof *ds);
    idx_file images = {.s.fd = -1}, labels = {.s.fd = -1};
    uint8_t *block = NULL;
    int status = open_pair(&images, images_path, &labels, labels_path);
    if (status)
        goto out;
    /* One block owns both: the labels sit behind the pixels, so a data set frees with one call. */
    size_t pixel_bytes = images.body, n = images.dims[0];
    if (!(block = malloc(pixel_bytes + n + 1))) {
        status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes for '%s'", pixel_bytes + n, images_path);
        goto out;
    }
    status = read_body(&images, block);
    if (!status)
        status = read_body(&labels, block + pixel_bytes);
    if (status)
        goto out;
    *ds = (bn_dataset){.pixels = block, .labels = block + pixel_bytes, .n = n, .rows = (int)images.dims[1],
                       .cols = (int)images.dims[2], .dim = (int)(images.dims[1] * images.dims[2]), .storage = block};
    block = NULL;
out:
    free(block);
    bn_stream_close(&images.s);
    bn_stream_close(&labels.s);
    return status;
}

/* header (magic and dims, big-endian) then body, replacing path atomically. */
static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims, const uint8_t *body,
                     size_t body_size)
{
    size_t header = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(header + body_size + 1);
    if (!buf)
        return bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to write '%s'", header + body_size, path);
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    memcpy(buf + header, body, body_size);
    int status = bn_atomic_write(path, buf, header + body_size);
    free(buf);
    return status;
}

int bn_dataset_check_shape(const bn_dataset *ds, const char *path)
{
    if (ds->rows < 1 || ds->cols < 1 || (int64_t)ds->rows * ds->cols != ds->dim || ds->dim > BN_MAX_WIDTH)
        return bn_fail(BN_E_INVALID, "not writing '%s': images of %dx%d (%d pixels) are not a shape blasnet reads "
                                     "back (1 to %d pixels, rows times columns)", path, ds->rows, ds->cols, ds->dim,
                       BN_MAX_WIDTH);
    return BN_OK;
}

int bn_idx_write(const bn_dataset *ds, const char *images_path, const char *labels_path)
{
    int status = bn_dataset_check_shape(ds, images_path);
    if (status)
        return status;
    if (ds->n > UINT32_MAX)
        return bn_fail(BN_E_INVALID, "%zu images do not fit an IDX file (at most %u)", ds->n, UINT32_MAX);
    uint32_t idims[3] = {(uint32_t)ds->n, (uint32_t)ds->rows, (uint32_t)ds->cols}, ldims[1] = {(uint32_t)ds->n};
    status = write_idx(images_path, IDX_MAGIC_IMAGES, idims, 3, ds->pixels, ds->n * (size_t)ds->dim);
    return status ? status : write_idx(labels_path, IDX_MAGIC_LABELS, ldims, 1, ds->labels, ds->n);
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
