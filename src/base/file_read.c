/* Reading a file into one buffer that grows only as far as the caller allows (file_read.h). */
#include "file_read.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIRST_CAP ((size_t)1 << 16)

int bn_in_open(bn_in *in, const char *path)
{
    *in = (bn_in){.fd = -1, .path = path, .file_size = -1};
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0)
        return bn_fail_errno(BN_E_IO, "cannot open '%s'", path);
    struct stat st;
    int status = BN_OK;
    if (fstat(in->fd, &st) != 0)
        status = bn_fail_errno(BN_E_IO, "cannot stat '%s'", path);
    else if (S_ISDIR(st.st_mode))
        status = bn_fail(BN_E_IO, "'%s' is a directory, not a regular file", path);
    else if (S_ISREG(st.st_mode))
        in->file_size = (int64_t)st.st_size;
    if (status)
        bn_in_close(in);
    return status;
}

/* More room, up to want bytes (and the one behind them): 64 KiB, then doubling, or at once the whole file when
 * its size is known and wanted. Called when the buffer is full and in->len < want. */
static int grow(bn_in *in, uint64_t want)
{
    uint64_t whole = in->file_size >= 0 ? (uint64_t)in->file_size + 1 : 0; /* +1: the read meets EOF in place */
    uint64_t cap = in->cap ? 2 * (uint64_t)in->cap : FIRST_CAP;
    cap = cap < whole && whole <= want ? whole : cap; /* straight to the whole file where it is wanted */
    cap = cap < want ? cap : want;
    if (cap > SIZE_MAX - 1)
        return bn_fail(BN_E_NOMEM, "'%s' is too large to read", in->path);
    uint8_t *grown = realloc(in->buf, (size_t)cap + 1);
    if (!grown)
        return bn_fail(BN_E_NOMEM, "cannot allocate %llu bytes to read '%s'", (unsigned long long)cap, in->path);
    in->buf = grown;
    in->cap = (size_t)cap;
    return BN_OK;
}

int bn_in_fill(bn_in *in, uint64_t want)
{
    while (in->len < want) {
        int status = in->len == in->cap ? grow(in, want) : BN_OK;
        if (status)
            return status;
        ssize_t got = read(in->fd, in->buf + in->len, in->cap - in->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return bn_fail_errno(BN_E_IO, "cannot read '%s' (after %zu bytes)", in->path, in->len);
        if (got == 0)
            break;
        in->len += (size_t)got;
    }
    return BN_OK;
}

uint8_t *bn_in_take(bn_in *in, size_t *size)
{
    uint8_t *buf = in->buf;
    *size = in->len;
    in->buf = NULL;
    bn_in_close(in);
    return buf;
}

void bn_in_close(bn_in *in)
{
    if (in->fd >= 0)
        close(in->fd); /* read-only: nothing to lose on close */
    free(in->buf);
    *in = (bn_in){.fd = -1, .file_size = -1};
}

const char *bn_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= ((uint64_t)1 << 30) && bytes % ((uint64_t)1 << 30) == 0)
        snprintf(buf, size, "%llu GiB", (unsigned long long)(bytes >> 30));
    else if (bytes >= ((uint64_t)1 << 20) && bytes % ((uint64_t)1 << 20) == 0)
        snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    return buf;
}

int bn_read_file(const char *path, uint64_t cap, const char *what, uint8_t **data, size_t *size)
{
    bn_in in;
    char words[32];
    *data = NULL;
    *size = 0;
    int status = bn_in_open(&in, path);
    if (status)
        return status;
    if (in.file_size >= 0 && (uint64_t)in.file_size > cap)
        status = bn_fail(BN_E_FORMAT, "'%s' is %lld bytes, more than blasnet reads for %s (%s)", path,
                         (long long)in.file_size, what, bn_format_bytes(cap, words, sizeof words));
    if (!status)
        status = bn_in_fill(&in, cap + 1);
    if (!status && in.len > cap)
        status = bn_fail(BN_E_FORMAT, "'%s' holds more than blasnet reads for %s (%s): stopped there", path, what,
                         bn_format_bytes(cap, words, sizeof words));
    if (status) {
        bn_in_close(&in);
        return status;
    }
    *data = bn_in_take(&in, size);
    return BN_OK;
}
