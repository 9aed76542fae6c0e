/* Atomic replacement of a file: temp file in the same folder (rename is only atomic within one file
 * system), write + fflush + fsync + checked fclose, rename, fsync of the folder. Every step is checked;
 * the first failure is recorded with the path and strerror, and the temp file is removed. */
#include "atomic_file.h"

#include "error.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LIMIT (1 << 20) /* far beyond PATH_MAX: only here to bound the arithmetic */

/* Distinguishes temp files of concurrent saves from one process (two threads saving the same path). */
static atomic_uint temp_counter;

/* Makes the rename durable: without this a power loss can bring back the old directory entry. File systems
 * that cannot fsync a directory say EINVAL (or ENOTSUP); the rename then is as durable as they allow. */
static int sync_folder(const char *dir, const char *path)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bn_fail_errno(BN_E_IO, "wrote '%s' but cannot open its folder '%s' to make that durable", path,
                             dir);
    int status = BN_OK;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
        status = bn_fail_errno(BN_E_IO, "wrote '%s' but cannot fsync its folder '%s'", path, dir);
    if (close(fd) != 0 && status == BN_OK)
        status = bn_fail_errno(BN_E_IO, "wrote '%s' but cannot close its folder '%s'", path, dir);
    return status;
}

/* Everything from creating tmp to renaming it over path. *created says whether tmp was made here: on
 * failure the caller removes it then, and only then (O_EXCL refused a name someone else holds). */
static int write_temp_and_rename(const char *tmp, const char *path, const void *data, size_t len, bool *created)
{
    *created = false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return bn_fail_errno(BN_E_IO, "cannot create '%s'", tmp);
    *created = true;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int status = bn_fail_errno(BN_E_IO, "cannot open a stream on '%s'", tmp);
        close(fd);
        return status;
    }
    int err = bn_write_flush(f, data, len);
    if (err) {
        errno = err;
        int status = bn_fail_errno(BN_E_IO, "cannot write %zu bytes to '%s'", len, tmp);
        fclose(f); /* already failing: its own error adds nothing */
        return status;
    }
    if (fsync(fileno(f)) != 0) {
        int status = bn_fail_errno(BN_E_IO, "cannot fsync '%s'", tmp);
        fclose(f);
        return status;
    }
    /* fclose can still report a deferred write error (NFS, quota): a file we cannot close is not saved. */
    if (fclose(f) != 0)
        return bn_fail_errno(BN_E_IO, "cannot close '%s'", tmp);
    if (rename(tmp, path) != 0)
        return bn_fail_errno(BN_E_IO, "cannot rename '%s' to '%s'", tmp, path);
    return BN_OK;
}

int bn_atomic_write(const char *path, const void *data, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (*base == '\0')
        return bn_fail(BN_E_INVALID, "'%s' names a folder, not a file", path);
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* the folder part, its '/' included */

    /* tmp = folder + "." + base + ".tmp." + pid + "." + counter; the dot hides it from plain ls and globs. */
    unsigned serial = atomic_fetch_add_explicit(&temp_counter, 1u, memory_order_relaxed);
    char suffix[64];
    int suffix_len = snprintf(suffix, sizeof suffix, ".tmp.%ld.%u", (long)getpid(), serial);
    size_t base_len = strlen(base);
    if (suffix_len < 0 || dir_len + base_len > PATH_LIMIT) /* keeps the sums below and %.*s's int safe */
        return bn_fail(BN_E_INVALID, "path '%.64s...' is longer than %d bytes", path, PATH_LIMIT);
    size_t tmp_size = dir_len + 1 + base_len + (size_t)suffix_len + 1;
    char *tmp = malloc(tmp_size);
    char *dir = malloc(dir_len + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return bn_fail(BN_E_NOMEM, "cannot allocate a temporary name for '%s'", path);
    }
    snprintf(tmp, tmp_size, "%.*s.%s%s", (int)dir_len, path, base, suffix);
    if (dir_len == 0)
        strcpy(dir, ".");
    else if (dir_len == 1)
        strcpy(dir, "/");
    else
        snprintf(dir, dir_len, "%.*s", (int)(dir_len - 1), path); /* without the trailing '/' */

    bool created;
    int status = write_temp_and_rename(tmp, path, data, len, &created);
    if (status == BN_OK)
        status = sync_folder(dir, path);
    else if (created)
        unlink(tmp); /* the message already holds the first error; this one would add nothing */
    free(tmp);
    free(dir);
    return status;
}
