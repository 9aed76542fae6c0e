/* Plain or gzip data files as one stream (stream.h). Plain files are read with read(2) straight into the
 * destination; gzip members are inflated by zlib into the destination with a 1 MiB input buffer, member
 * after member, and anything after the last member that is not another member is an error. */
#include "stream.h"

#include "error.h"
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_CAP ((size_t)1 << 20)
#define DEFLATE_MAX_RATIO 1032u /* the most one compressed byte can expand to, plus slack below */

/* read(2) until n bytes or the end of the file; *got receives the count. */
static int read_fd(bn_stream *s, uint8_t *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(s->fd, buf + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return bn_fail_errno(BN_E_IO, "cannot read '%s' (after %llu bytes)", s->path,
                                 (unsigned long long)s->total_out);
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return BN_OK;
}

static int open_fd(bn_stream *s, const char *path)
{
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return bn_fail_errno(BN_E_IO, "cannot open '%s'", path);
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return bn_fail_errno(BN_E_IO, "cannot stat '%s'", path);
    if (S_ISDIR(st.st_mode))
        return bn_fail(BN_E_IO, "'%s' is a directory, not a regular file", path);
    s->file_size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    return BN_OK;
}

int bn_stream_open(bn_stream *s, const char *path)
{
    *s = (bn_stream){.path = path, .fd = -1, .file_size = -1};
    int status = open_fd(s, path);
    if (!status && !(s->in = malloc(IN_CAP)))
        status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to read '%s'", IN_CAP, path);
    s->in_cap = IN_CAP;
    if (!status)
        status = read_fd(s, s->in, 2, &s->in_len); /* enough to see gzip's magic */
    if (status)
        return status;
    s->gz = s->in_len == 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->gz)
        return BN_OK;
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)s->in_len;
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip wrapper, its CRC-32 and length checked */
        return bn_fail(BN_E_NOMEM, "cannot start zlib to read '%s'", path);
    s->in_member = true;
    return BN_OK;
}

/* Moves unread input to the front and reads more behind it; *eof when the file gave nothing. */
static int refill(bn_stream *s, bool *eof)
{
    if (s->z.avail_in && s->z.next_in != s->in)
        memmove(s->in, s->z.next_in, s->z.avail_in);
    size_t have = s->z.avail_in, got = 0;
    int status = read_fd(s, s->in + have, s->in_cap - have, &got);
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)(have + got);
    *eof = got == 0;
    return status;
}

/* After a member's end: another member follows (1f 8b), or the file ends; anything else is garbage. */
static int next_member(bn_stream *s)
{
    bool eof = false;
    int status = BN_OK;
    while (!status && s->z.avail_in < 2 && !eof)
        status = refill(s, &eof);
    if (status)
        return status;
    if (s->z.avail_in == 0) {
        s->at_end = true;
        return BN_OK;
    }
    if (s->z.avail_in < 2 || s->z.next_in[0] != 0x1f || s->z.next_in[1] != 0x8b)
        return bn_fail(BN_E_FORMAT, "'%s': trailing garbage after the gzip data (after %llu bytes of data)", s->path,
                       (unsigned long long)s->total_out);
    if (inflateReset(&s->z) != Z_OK)
        return bn_fail(BN_E_FORMAT, "'%s': zlib could not start the next gzip member", s->path);
    s->in_member = true;
    return BN_OK;
}

/* One inflate call's outcome: progress, the member's end, or an error naming what zlib found. Input is read
 * only when zlib can make no progress without it (it may still hold output from input already taken). */
static int inflate_step(bn_stream *s)
{
    uInt room = s->z.avail_out;
    int rc = inflate(&s->z, Z_NO_FLUSH);
    s->total_out += room - s->z.avail_out;
    if (rc == Z_BUF_ERROR) { /* no progress possible: the output has room, so it wants input */
        bool eof = false;
        int status = refill(s, &eof);
        if (!status && eof)
            status = bn_fail(BN_E_FORMAT, "'%s' is truncated: the gzip stream ends early (after %llu bytes of data)",
                             s->path, (unsigned long long)s->total_out);
        return status;
    }
    if (rc == Z_STREAM_END) {
        s->in_member = false;
        return next_member(s);
    }
    if (rc == Z_OK)
        return BN_OK;
    if (rc == Z_MEM_ERROR)
        return bn_fail(BN_E_NOMEM, "out of memory inflating '%s'", s->path);
    return bn_fail(BN_E_FORMAT, "'%s': corrupt gzip data (%s) near byte %llu of the data", s->path,
                   s->z.msg ? s->z.msg : "invalid stream", (unsigned long long)s->total_out);
}

static int read_gz(bn_stream *s, uint8_t *buf, size_t n, size_t *got)
{
    int status = BN_OK;
    *got = 0;
    while (!status && *got < n && !s->at_end) {
        size_t want = n - *got;
        s->z.next_out = buf + *got;
        s->z.avail_out = want > UINT32_MAX ? UINT32_MAX : (uInt)want; /* zlib counts in 32 bits */
        uInt before = s->z.avail_out;
        status = inflate_step(s);
        *got += before - s->z.avail_out;
    }
    return status;
}

int bn_stream_read(bn_stream *s, void *buf, size_t n, size_t *got)
{
    int status = BN_OK;
    *got = 0;
    if (s->gz) {
        status = read_gz(s, buf, n, got);
    } else {
        size_t held = s->in_len - s->in_pos, first = held < n ? held : n;
        memcpy(buf, s->in + s->in_pos, first);
        s->in_pos += first;
        size_t rest = 0;
        if (first < n)
            status = read_fd(s, (uint8_t *)buf + first, n - first, &rest);
        *got = first + rest;
        s->total_out += *got;
    }
    return status;
}

int bn_stream_has_more(bn_stream *s, bool *more)
{
    uint8_t byte;
    size_t got = 0;
    int status = bn_stream_read(s, &byte, 1, &got);
    *more = got == 1;
    return status;
}

uint64_t bn_stream_max_size(const bn_stream *s)
{
    if (s->file_size < 0)
        return BN_PIPE_CAP;
    return s->gz ? (uint64_t)s->file_size * DEFLATE_MAX_RATIO + 4096 : (uint64_t)s->file_size;
}

void bn_stream_close(bn_stream *s)
{
    if (s->gz)
        inflateEnd(&s->z);
    if (s->fd >= 0)
        close(s->fd); /* read-only: nothing to lose on close */
    free(s->in);
    *s = (bn_stream){.fd = -1};
}
