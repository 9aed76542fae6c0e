/* Atomic file replacement: the new bytes go to a temporary file in the target's folder, are flushed and
 * fsync'ed, then renamed over the target, and the folder is fsync'ed so the rename itself is durable.
 * A failure (or a crash, or kill -9) at any moment leaves the previous file at the path intact. */
#ifndef BN_ATOMIC_FILE_H
#define BN_ATOMIC_FILE_H

#include <errno.h>
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

/* Replaces path with data (len bytes) through ".NAME.tmp.PID.N" in the same folder. Returns BN_OK, or
 * BN_E_IO with a message naming the file and the OS reason (the temporary file is then removed), or
 * BN_E_INVALID when path names no file ("" or ending in '/'), or BN_E_NOMEM. */
int bn_atomic_write(const char *path, const void *data, size_t len);

#endif
