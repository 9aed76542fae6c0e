/* Atomic file replacement: the new bytes go to a hidden temporary file in the target's folder, are flushed
 * and fsync'ed, then renamed over the target, and the folder is fsync'ed so the rename itself is durable.
 * A failure (or a crash, or kill -9) at any moment before the rename leaves the previous file at the path
 * intact. Every output blasnet writes goes through here: models, checkpoints, data files, logs, pictures.
 * Messages name the caller's path, never the temporary file. Not public API: the bn_out_* functions are
 * the CLI's too (it links the library's internal objects), which writes its logs and pictures through them. */
#ifndef BN_ATOMIC_FILE_H
#define BN_ATOMIC_FILE_H

#include "blasnet.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes len bytes to f and pushes stdio's buffer into the kernel. Returns 0 or an errno value (EIO where
 * the C library set none), so a full disk (ENOSPC) or a file-size limit (EFBIG) surfaces as an error and
 * never as a silently short file. Inline so tests can aim this exact code at /dev/full without reaching
 * the library's hidden symbols. */
static inline int bn_write_flush(FILE *f, const void *data, size_t len)
{
    errno = 0;
    if (len > 0 && fwrite(data, 1, len, f) != len)
        return errno ? errno : EIO;
    errno = 0;
    if (fflush(f) != 0)
        return errno ? errno : EIO;
    return 0;
}

/* A file being written to replace `shown`. Where shown is a symbolic link to a file, that file is the one
 * replaced (the link stays); an existing target must be a regular file (a device such as /dev/null, a pipe
 * or a folder is refused: renaming over it would replace the device node itself), and the new file takes
 * its permission bits. */
typedef struct bn_out {
    char *shown;  /* the caller's path, for messages */
    char *target; /* the file replaced: shown, or the file its link points to */
    char *tmp;    /* ".NAME.tmp.PID.N" beside target; NULL once committed */
    char *dir;    /* target's folder */
    int fd;       /* -1 when closed */
    bool failed;  /* a write failed: the file will not be committed */
} bn_out;

/* Creates the temporary file (O_EXCL). BN_E_INVALID when path names no file ("" or ending in '/') or an
 * existing non-regular file or a dangling link; BN_E_IO with the OS reason; BN_E_NOMEM. */
int bn_out_open(bn_out *out, const char *path);
/* Appends len bytes with write(2), retried until done: a call either lands whole or fails (a row of a log
 * is never left half written by this process). */
int bn_out_write(bn_out *out, const void *data, size_t len);
/* Makes what was written durable and visible at the path: fsync, then, the first time, rename over the
 * target and fsync its folder. Later writes append to the file in place, and a later commit fsyncs them
 * (a log is published at its first commit and grows after it). */
int bn_out_commit(bn_out *out);
/* bn_out_commit, then close. On failure the temporary file is removed and the target left as it was. */
int bn_out_close(bn_out *out);
/* Closes without committing: a file never committed leaves no trace and the target as it was. */
void bn_out_discard(bn_out *out);
/* The temporary file's path, for a program that writes it by name (gnuplot); NULL once committed. */
const char *bn_out_temp_path(const bn_out *out);

/* Replaces path with data (len bytes): bn_out_open, bn_out_write, bn_out_close. */
int bn_atomic_write(const char *path, const void *data, size_t len);

#endif
