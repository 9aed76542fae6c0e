/* Atomic replacement of a file: a temporary file in the target's folder (rename is only atomic within one
 * file system), written with write(2), fsync'ed, renamed over the target, then the folder fsync'ed. Every
 * step is checked; the first failure is recorded with the caller's path and strerror, and the temporary
 * file is removed. */
#include "atomic_file.h"

#include "error.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LIMIT (1 << 20) /* far beyond PATH_MAX: only here to bound the arithmetic */

/* Distinguishes temp files of concurrent saves from one process (two threads saving the same path). */
static atomic_uint temp_counter;

static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode) ? "a folder" : S_ISFIFO(mode) ? "a pipe" : S_ISSOCK(mode) ? "a socket"
         : S_ISCHR(mode) || S_ISBLK(mode) ? "a device" : "not a regular file";
}

/* The file that writing shown replaces (shown itself, or the file its link points to) into out->target,
 * and its status into *st when it exists. */
static int resolve_target(bn_out *out, struct stat *st, bool *exists)
{
    const char *path = out->shown;
    struct stat lst;
    *exists = lstat(path, &lst) == 0;
    if (!*exists && errno != ENOENT)
        return bn_fail_errno(BN_E_IO, "cannot write '%s'", path);
    if (*exists && S_ISLNK(lst.st_mode)) {
        out->target = realpath(path, NULL);
        if (!out->target || stat(out->target, st) != 0)
            return bn_fail(BN_E_INVALID, "cannot write '%s': it is a symbolic link to a file that does not exist; "
                                         "give the path of the file itself", path);
    } else {
        out->target = strdup(path);
        *st = lst;
        if (!out->target)
            return bn_fail(BN_E_NOMEM, "cannot allocate a name for '%s'", path);
    }
    if (*exists && !S_ISREG(st->st_mode))
        return bn_fail(BN_E_INVALID, "cannot write '%s': it is %s; blasnet replaces its outputs whole, so give the "
                                     "path of a regular file", path, file_kind(st->st_mode));
    return BN_OK;
}

/* out->dir and out->tmp = folder + "." + base + ".tmp." + pid + "." + counter: the dot hides it from ls. */
static int name_temp(bn_out *out)
{
    const char *target = out->target, *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0; /* the folder part, its '/' included */
    unsigned serial = atomic_fetch_add_explicit(&temp_counter, 1u, memory_order_relaxed);
    char suffix[64];
    int suffix_len = snprintf(suffix, sizeof suffix, ".tmp.%ld.%u", (long)getpid(), serial);
    size_t tmp_size = dir_len + 1 + strlen(base) + (size_t)suffix_len + 1;
    out->tmp = malloc(tmp_size);
    out->dir = malloc(dir_len + 2);
    if (!out->tmp || !out->dir)
        return bn_fail(BN_E_NOMEM, "cannot allocate a temporary name for '%s'", out->shown);
    snprintf(out->tmp, tmp_size, "%.*s.%s%s", (int)dir_len, target, base, suffix);
    if (dir_len <= 1)
        strcpy(out->dir, dir_len ? "/" : ".");
    else
        snprintf(out->dir, dir_len, "%.*s", (int)(dir_len - 1), target); /* without the trailing '/' */
    return BN_OK;
}

int bn_out_open(bn_out *out, const char *path)
{
    *out = (bn_out){.fd = -1};
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return bn_fail(BN_E_INVALID, "'%s' names a folder, not a file", path);
    if (len > PATH_LIMIT) /* keeps the sums and %.*s's int in name_temp safe */
        return bn_fail(BN_E_INVALID, "path '%.64s...' is longer than %d bytes", path, PATH_LIMIT);
    struct stat st;
    bool exists = false;
    int status = (out->shown = strdup(path)) ? BN_OK : bn_fail(BN_E_NOMEM, "cannot allocate a name for '%s'", path);
    if (!status)
        status = resolve_target(out, &st, &exists);
    if (!status)
        status = name_temp(out);
    if (!status && (out->fd = open(out->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0)
        status = bn_fail_errno(BN_E_IO, "cannot write '%s'", path);
    if (!status && exists && fchmod(out->fd, st.st_mode & 07777) != 0)
        status = bn_fail_errno(BN_E_IO, "cannot give the new '%s' the old one's permissions", path);
    if (status)
        bn_out_discard(out);
    return status;
}

static int failed_write(bn_out *out, int err)
{
    out->failed = true;
    errno = err;
    return bn_fail_errno(BN_E_IO, "cannot write '%s'", out->shown);
}

int bn_out_write(bn_out *out, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (out->failed)
        return bn_fail(BN_E_IO, "cannot write '%s': an earlier write to it failed", out->shown);
    while (len > 0) {
        ssize_t n = write(out->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return failed_write(out, n < 0 ? errno : EIO);
        p += n;
        len -= (size_t)n;
    }
    return BN_OK;
}

/* Makes the rename durable: without this a power loss can bring back the old directory entry. File systems
 * that cannot fsync a directory say EINVAL (or ENOTSUP); the rename then is as durable as they allow. */
static int sync_folder(const bn_out *out)
{
    int fd = open(out->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bn_fail_errno(BN_E_IO, "wrote '%s' but cannot open its folder '%s' to make that durable", out->shown,
                             out->dir);
    int status = BN_OK;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
        status = bn_fail_errno(BN_E_IO, "wrote '%s' but cannot fsync its folder '%s'", out->shown, out->dir);
    if (close(fd) != 0 && status == BN_OK)
        status = bn_fail_errno(BN_E_IO, "wrote '%s' but cannot close its folder '%s'", out->shown, out->dir);
    return status;
}

/* The rename that publishes the file, once. */
static int publish(bn_out *out)
{
    if (!out->tmp)
        return BN_OK;
    if (rename(out->tmp, out->target) != 0)
        return bn_fail_errno(BN_E_IO, "cannot replace '%s'", out->shown);
    free(out->tmp);
    out->tmp = NULL;
    return sync_folder(out);
}

int bn_out_commit(bn_out *out)
{
    if (out->failed)
        return bn_fail(BN_E_IO, "cannot write '%s': an earlier write to it failed", out->shown);
    if (fsync(out->fd) != 0)
        return failed_write(out, errno);
    return publish(out);
}

int bn_out_close(bn_out *out)
{
    int status = out->failed ? bn_fail(BN_E_IO, "cannot write '%s': an earlier write to it failed", out->shown)
                             : BN_OK;
    if (!status && fsync(out->fd) != 0)
        status = failed_write(out, errno);
    /* close can still report a deferred write error (NFS, quota): a file we cannot close is not saved. */
    if (close(out->fd) != 0 && !status)
        status = failed_write(out, errno);
    out->fd = -1;
    if (!status)
        status = publish(out);
    bn_out_discard(out);
    return status;
}

void bn_out_discard(bn_out *out)
{
    if (out->fd >= 0)
        close(out->fd); /* abandoning it: its own error adds nothing */
    if (out->tmp)
        unlink(out->tmp);
    free(out->shown), free(out->target), free(out->tmp), free(out->dir);
    *out = (bn_out){.fd = -1};
}

const char *bn_out_temp_path(const bn_out *out)
{
    return out->tmp;
}

int bn_atomic_write(const char *path, const void *data, size_t len)
{
    bn_out out;
    int status = bn_out_open(&out, path);
    if (status)
        return status;
    status = bn_out_write(&out, data, len);
    if (status) {
        bn_out_discard(&out);
        return status;
    }
    return bn_out_close(&out);
}
