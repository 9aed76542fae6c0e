/* Bounded reading: every reader in blasnet takes at most a documented number of bytes, so no input (a pipe
 * that never ends, /dev/zero, a gzip bomb, a header that promises terabytes) can take the machine's memory.
 * The caps, one place for all (README "Your files and memory" lists them):
 *   - a data file (IDX or CSV) read from a pipe or device: BN_PIPE_CAP bytes of data;
 *   - a gzip'd CSV: BN_GZ_CSV_RATIO times its compressed size plus BN_GZ_CSV_FLOOR (an IDX file already has
 *     its header's promise, checked against what the compressed size can inflate to);
 *   - one CSV line: BN_CSV_LINE_CAP characters, blanks included (4 per pixel of the widest image);
 *   - a model or checkpoint: the size its header declares, never above BN_CHECKPOINT_CAP.
 * Not public API: the CLI links the library's internal objects and reads pictures and logs with them. */
#ifndef BN_FILE_READ_H
#define BN_FILE_READ_H

#include "blasnet.h"

#include <stddef.h>
#include <stdint.h>

#define BN_PIPE_CAP ((uint64_t)4 << 30)
#define BN_GZ_CSV_RATIO 64u /* MNIST's CSV gzips 8.6:1 at -9 */
#define BN_GZ_CSV_FLOOR ((uint64_t)64 << 20)
#define BN_CSV_LINE_CAP (4u * ((uint64_t)BN_MAX_WIDTH + 1u))
#define BN_CHECKPOINT_CAP ((uint64_t)4 << 30) /* 268M parameters with Adam's two moments and best weights */

/* A file being read into one growing buffer. */
typedef struct bn_in {
    int fd;
    const char *path;  /* the caller's string, for messages */
    int64_t file_size; /* a regular file's size; -1 for a pipe, a device or a socket */
    uint8_t *buf;      /* buf[0..len) read so far (malloc'd; buf[len] is always addressable) */
    size_t len, cap;
} bn_in;

/* Opens path for reading; a folder is refused with a message that says so. */
int bn_in_open(bn_in *in, const char *path);
/* Reads until in->len >= want or the file ends (in->len < want then). The buffer grows by doubling and
 * never past want bytes, so a header's promise costs memory only as the bytes arrive. */
int bn_in_fill(bn_in *in, uint64_t want);
/* The buffer, now the caller's to free; in is then closed. */
uint8_t *bn_in_take(bn_in *in, size_t *size);
void bn_in_close(bn_in *in);

/* The whole of path, at most cap bytes: a regular file larger than cap is refused before anything is read,
 * a pipe or device once it gives cap + 1 bytes. what names the kind of file in that message ("a picture").
 * *data (malloc'd, the caller frees it) is NULL on failure. */
int bn_read_file(const char *path, uint64_t cap, const char *what, uint8_t **data, size_t *size);

/* "4 GiB", "256 MiB", "1536 bytes": a cap in words, into buf. */
const char *bn_format_bytes(uint64_t bytes, char *buf, size_t size);

#endif
