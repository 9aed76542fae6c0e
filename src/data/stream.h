/* Reading a data file front to back, plain or gzip-compressed, straight into the caller's memory: the one
 * reader behind IDX and CSV data. A gzip file is recognised by its magic (1f 8b), not by its name, and is
 * inflated by zlib directly into the destination, with no temporary file and no copy. */
#ifndef BN_STREAM_H
#define BN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef struct bn_stream {
    const char *path; /* for messages; the caller's string */
    int fd;
    bool gz;          /* inflating */
    bool in_member;   /* gz: inside a member (its end not seen yet) */
    bool at_end;      /* no more bytes will come */
    z_stream z;
    uint8_t *in;      /* gz: compressed input; plain: the first bytes, read to look for the magic */
    size_t in_cap, in_len, in_pos; /* plain: in[in_pos..in_len) not handed out yet */
    int64_t file_size;   /* bytes on disk when a regular file, else -1 */
    uint64_t total_out;  /* bytes handed out so far */
} bn_stream;

/* Opens path (a folder is refused with a message that says so). */
int bn_stream_open(bn_stream *s, const char *path);
/* Up to n bytes into buf; *got < n only at the end of the data. A corrupt or truncated gzip stream, or
 * bytes after its last member, is an error naming the file and the offset. */
int bn_stream_read(bn_stream *s, void *buf, size_t n, size_t *got);
/* Reads exactly one more byte to see whether the data has ended: *more is true if it has not. */
int bn_stream_has_more(bn_stream *s, bool *more);
/* The most bytes the data can hold: the file size when plain; for gzip, deflate's largest expansion
 * (1032:1) of the file size, so a header promising more is known to lie before anything is allocated; from a
 * pipe or device, whose size nobody knows, BN_PIPE_CAP (file_read.h). */
uint64_t bn_stream_max_size(const bn_stream *s);
void bn_stream_close(bn_stream *s);

#endif
