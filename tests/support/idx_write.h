/* Test helper: writes small IDX files (big-endian header, raw uint8 body) and synthetic MNIST-shaped data
 * sets, valid or deliberately broken, so the data tests need no downloaded files. Header-only; every write
 * is checked and a failure returns -1 with errno set, which the caller turns into a failed CHECK. */
#ifndef BN_TEST_IDX_WRITE_H
#define BN_TEST_IDX_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDXW_MAGIC_LABELS 0x00000801u
#define IDXW_MAGIC_IMAGES 0x00000803u

static inline void idxw_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes exactly `size` bytes to path (creating or truncating it); 0 on success, -1 on any failure. */
static inline int idxw_write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = size ? fwrite(bytes, 1, size, f) : 0;
    int close_rc = fclose(f);
    return put == size && close_rc == 0 ? 0 : -1;
}

/* An IDX file with `ndims` dimensions (1 for labels, 3 for images) and `body_size` body bytes. magic, dims
 * and body size are written as given, so a caller can make the header lie about the body. */
static inline int idxw_write(const char *path, uint32_t magic, int ndims, const uint32_t *dims,
                             const uint8_t *body, size_t body_size)
{
    size_t header = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(header + body_size + 1);
    if (!buf)
        return -1;
    idxw_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        idxw_be32(buf + 4 + 4 * i, dims[i]);
    if (body_size)
        memcpy(buf + header, body, body_size);
    int rc = idxw_write_bytes(path, buf, header + body_size);
    free(buf);
    return rc;
}

static inline int idxw_write_images(const char *path, const uint8_t *pixels, uint32_t n, uint32_t rows,
                                    uint32_t cols)
{
    uint32_t dims[3] = {n, rows, cols};
    return idxw_write(path, IDXW_MAGIC_IMAGES, 3, dims, pixels, (size_t)n * rows * cols);
}

static inline int idxw_write_labels(const char *path, const uint8_t *labels, uint32_t n)
{
    uint32_t dims[1] = {n};
    return idxw_write(path, IDXW_MAGIC_LABELS, 1, dims, labels, n);
}

/* Reads a whole file into a fresh buffer (*size bytes); NULL on failure. For truncating copies. */
static inline uint8_t *idxw_read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
    }
    if (fclose(f) != 0 && buf) {
        free(buf);
        buf = NULL;
    }
    *size = buf ? (size_t)len : 0;
    return buf;
}

/* Synthetic MNIST-like images: label k lights a 4x4 block at one of `classes` positions along the diagonal
 * band, over faint deterministic noise, so a small network can learn it (accuracy is not what these tests
 * check, but a learnable set keeps loss and accuracy lines meaningful). Pixels (n, rows*cols), labels (n). */
static inline void idxw_synth(uint8_t *pixels, uint8_t *labels, size_t n, int rows, int cols, int classes,
                              uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t *img = pixels + i * (size_t)rows * (size_t)cols;
        for (int p = 0; p < rows * cols; p++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64: any cheap noise will do */
            img[p] = (uint8_t)(s % 40);
        }
        int label = (int)(i % (size_t)classes);
        labels[i] = (uint8_t)label;
        int r0 = (label * (rows - 4)) / (classes > 1 ? classes - 1 : 1);
        int c0 = ((classes - 1 - label) * (cols - 4)) / (classes > 1 ? classes - 1 : 1);
        for (int r = r0; r < r0 + 4 && r < rows; r++)
            for (int c = c0; c < c0 + 4 && c < cols; c++)
                img[r * cols + c] = 250;
    }
}

/* dir/<prefix>-images-idx3-ubyte and dir/<prefix>-labels-idx1-ubyte from idxw_synth, prefix "train" or
 * "t10k" as bn_mnist_load expects. 0 on success. */
static inline int idxw_write_synth_pair(const char *dir, const char *prefix, uint32_t n, int rows, int cols,
                                        int classes, uint64_t seed)
{
    size_t dim = (size_t)rows * (size_t)cols;
    uint8_t *pixels = malloc(n * dim + 1), *labels = malloc((size_t)n + 1);
    char path[4096];
    int rc = -1;
    if (pixels && labels) {
        idxw_synth(pixels, labels, n, rows, cols, classes, seed);
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
        rc = idxw_write_images(path, pixels, n, (uint32_t)rows, (uint32_t)cols);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
        if (rc == 0)
            rc = idxw_write_labels(path, labels, n);
    }
    free(pixels);
    free(labels);
    return rc;
}

#endif
