/* The whole-file reader shared by the IDX and checkpoint loaders. */
#include "file_read.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Reads f to EOF into a buffer that starts at `cap` bytes and doubles when the file is longer than it said
 * (a pipe, or a file that grew): returns the status and leaves the buffer in *out. */
static int read_to_eof(FILE *f, const char *path, size_t cap, uint8_t **out, size_t *out_size)
{
    uint8_t *buf = malloc(cap);
    size_t size = 0;
    int status = BN_OK;
    for (;;) {
        if (!buf) {
            status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to read '%s'", cap, path);
            break;
        }
        size += fread(buf + size, 1, cap - size, f);
        if (ferror(f)) {
            status = bn_fail_errno(BN_E_IO, "cannot read '%s' (after %zu bytes)", path, size);
            break;
        }
        if (feof(f))
            break;
        if (cap > SIZE_MAX / 2) {
            status = bn_fail(BN_E_NOMEM, "'%s' is too large to read", path);
            break;
        }
        cap *= 2;
        uint8_t *grown = realloc(buf, cap);
        if (!grown)
            free(buf);
        buf = grown;
    }
    if (status) {
        free(buf);
        buf = NULL;
        size = 0;
    }
    *out = buf;
    *out_size = size;
    return status;
}

int bn_read_file(const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bn_fail_errno(BN_E_IO, "cannot open '%s'", path);
    struct stat st;
    size_t cap = 4096;
    int status = BN_OK;
    if (fstat(fileno(f), &st) != 0) {
        status = bn_fail_errno(BN_E_IO, "cannot stat '%s'", path);
    } else if (S_ISDIR(st.st_mode)) {
        status = bn_fail(BN_E_IO, "'%s' is a directory, not a regular file", path);
    } else {
        /* +1: the read meets EOF without growing the buffer. */
        if (S_ISREG(st.st_mode) && st.st_size >= 0 && (uint64_t)st.st_size < SIZE_MAX - 1)
            cap = (size_t)st.st_size + 1;
        status = read_to_eof(f, path, cap, data, size);
    }
    fclose(f); /* read-only: nothing to lose on close */
    return status;
}
