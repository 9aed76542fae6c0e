/* Test helper: gzip-compressed copies of files and small CSV files, written here so the data tests need no
 * downloaded files. Header-only; a failure returns -1, which the caller turns into a failed CHECK. */
#ifndef BN_TEST_DATA_WRITE_H
#define BN_TEST_DATA_WRITE_H

#include "idx_write.h"

#include <zlib.h>

/* bytes as one gzip member at path. */
static inline int dw_write_gz(const char *path, const void *bytes, size_t size)
{
    gzFile g = gzopen(path, "wb");
    if (!g)
        return -1;
    int put = size ? gzwrite(g, bytes, (unsigned)size) : 0;
    int rc = gzclose(g);
    return put == (int)size && rc == Z_OK ? 0 : -1;
}

/* src, gzip-compressed, at dst. */
static inline int dw_gzip_file(const char *src, const char *dst)
{
    size_t size = 0;
    uint8_t *bytes = idxw_read_all(src, &size);
    int rc = bytes ? dw_write_gz(dst, bytes, size) : -1;
    free(bytes);
    return rc;
}

static inline int dw_write_text(const char *path, const char *text)
{
    return idxw_write_bytes(path, text, strlen(text));
}

#endif
