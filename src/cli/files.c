/* The files a command reads and writes, declared up front and checked before it reads any data or runs any
 * step: an output may not be one of the inputs (compared by device and inode, so a symbolic or hard link
 * does not get past it), two outputs may not be one file, and every output needs an existing, writable
 * folder and must be a regular file if it exists. A run that cannot save its result fails in its first
 * second, and no output can destroy an input. The writing itself is atomic (atomic_file.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends a copy of (what, path) to *list; a failed allocation is remembered and reported by the check. */
static void add(cli_files *f, cli_file **list, int *n, const char *what, const char *path, const char *may_replace)
{
    if (!path)
        return;
    cli_file *grown = realloc(*list, ((size_t)*n + 1) * sizeof **list);
    char *w = strdup(what), *p = strdup(path);
    if (!grown || !w || !p) {
        f->failed = true;
        free(w), free(p);
        if (grown)
            *list = grown;
        return;
    }
    *list = grown;
    grown[(*n)++] = (cli_file){.what = w, .path = p, .may_replace = may_replace};
}

void files_reads(cli_files *f, const char *what, const char *path)
{
    add(f, &f->in, &f->n_in, what, path, NULL);
}

void files_writes(cli_files *f, const char *what, const char *path)
{
    add(f, &f->out, &f->n_out, what, path, NULL);
}

void files_writes_over(cli_files *f, const char *what, const char *path, const char *input)
{
    add(f, &f->out, &f->n_out, what, path, input);
}

void files_free(cli_files *f)
{
    for (int i = 0; i < f->n_in; i++)
        free(f->in[i].what), free(f->in[i].path);
    for (int i = 0; i < f->n_out; i++)
        free(f->out[i].what), free(f->out[i].path);
    free(f->in), free(f->out);
    *f = (cli_files){0};
}

/* ---- one output ---------------------------------------------------------------------------------------- */
/* What an output is on disk: the file written (the path, or what its link points to), its folder, and
 * whether it exists already. */
typedef struct {
    char target[PATH_MAX];
    char folder[PATH_MAX];
    const char *base; /* within target */
    struct stat st;   /* the existing file's, when exists */
    struct stat dir;  /* the folder's */
    bool exists;
} out_place;

static const char *kind_of(mode_t mode)
{
    return S_ISDIR(mode) ? "a folder" : S_ISFIFO(mode) ? "a pipe" : S_ISSOCK(mode) ? "a socket"
         : S_ISCHR(mode) || S_ISBLK(mode) ? "a device" : "not a regular file";
}

/* The target of o and its status: refused when it names a folder, is a dangling link or is no regular file. */
static cli_exit find_target(const char *cmd, const cli_file *o, out_place *at)
{
    size_t len = strlen(o->path);
    struct stat lst;
    if (len == 0 || o->path[len - 1] == '/')
        return cli_error(EXIT_USAGE, cmd, "%s '%s' names a folder; give it a file name", o->what, o->path);
    if (len >= PATH_MAX)
        return cli_error(EXIT_USAGE, cmd, "%s '%.60s...' is longer than %d bytes", o->what, o->path, PATH_MAX - 1);
    at->exists = lstat(o->path, &lst) == 0;
    if (at->exists && S_ISLNK(lst.st_mode)) {
        if (!realpath(o->path, at->target) || stat(at->target, &at->st) != 0)
            return cli_error(EXIT_USAGE, cmd, "%s '%s' is a symbolic link to a file that does not exist; give the "
                                              "path of the file itself", o->what, o->path);
    } else {
        memcpy(at->target, o->path, len + 1);
        at->st = lst;
    }
    if (at->exists && !S_ISREG(at->st.st_mode))
        return cli_error(EXIT_USAGE, cmd, "%s '%s' is %s; blasnet replaces its outputs whole, so give the path of a "
                                          "regular file%s", o->what, o->path, kind_of(at->st.st_mode),
                         S_ISDIR(at->st.st_mode) ? " (a name inside that folder, say)" : ", or leave the flag out");
    return EXIT_OK;
}

/* A folder that outputs go into: it must exist, be a folder and be writable. label says whose it is. */
static cli_exit usable_folder(const char *cmd, const char *label, const char *folder, struct stat *st)
{
    if (stat(folder, st) != 0)
        return cli_error(EXIT_USAGE, cmd, "%s: the folder '%s' does not exist; make it first (mkdir -p '%s')", label,
                         folder, folder);
    if (!S_ISDIR(st->st_mode))
        return cli_error(EXIT_USAGE, cmd, "%s: '%s' is not a folder", label, folder);
    if (access(folder, W_OK | X_OK) != 0)
        return cli_error(EXIT_USAGE, cmd, "%s: the folder '%s' is not writable (%s); choose another folder", label,
                         folder, strerror(errno));
    return EXIT_OK;
}

/* The target's folder, which must be usable. */
static cli_exit check_folder(const char *cmd, const cli_file *o, out_place *at)
{
    char *slash = strrchr(at->target, '/');
    at->base = slash ? slash + 1 : at->target;
    size_t dir_len = slash ? (size_t)(slash - at->target) : 0;
    snprintf(at->folder, sizeof at->folder, "%.*s", (int)dir_len, at->target);
    if (!slash)
        strcpy(at->folder, ".");
    else if (dir_len == 0)
        strcpy(at->folder, "/");
    char label[PATH_MAX + 64];
    snprintf(label, sizeof label, "%s '%s'", o->what, o->path);
    return usable_folder(cmd, label, at->folder, &at->dir);
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* An existing output must not be any input, unless it is the one input it may replace. */
static cli_exit check_against_inputs(const char *cmd, const cli_files *f, const cli_file *o, const out_place *at)
{
    if (!at->exists)
        return EXIT_OK;
    for (int i = 0; i < f->n_in; i++) {
        const cli_file *in = &f->in[i];
        struct stat st;
        if (stat(in->path, &st) != 0 || !same_inode(&st, &at->st))
            continue; /* an input that cannot be opened is its reader's to report */
        if (o->may_replace && strcmp(o->may_replace, in->what) == 0)
            continue;
        return cli_error(EXIT_USAGE, cmd, "%s '%s' is the same file as %s '%s': writing it would destroy that "
                                          "input; choose another name for %s", o->what, o->path, in->what, in->path,
                         o->what);
    }
    return EXIT_OK;
}

/* Two outputs are one file when they are one name in one folder, or, existing, one inode (a hard link). */
static cli_exit check_pairs(const char *cmd, const cli_files *f, const out_place *places)
{
    for (int i = 0; i < f->n_out; i++)
        for (int j = 0; j < i; j++) {
            const out_place *a = &places[i], *b = &places[j];
            bool one_name = same_inode(&a->dir, &b->dir) && strcmp(a->base, b->base) == 0;
            if (one_name || (a->exists && b->exists && same_inode(&a->st, &b->st)))
                return cli_error(EXIT_USAGE, cmd, "%s '%s' and %s '%s' are one file: give each output its own name",
                                 f->out[j].what, f->out[j].path, f->out[i].what, f->out[i].path);
        }
    return EXIT_OK;
}

cli_exit files_check(const char *cmd, const cli_files *f)
{
    if (f->failed)
        return cli_error(EXIT_RUNTIME, cmd, "out of memory listing the files to read and write");
    out_place *places = calloc((size_t)f->n_out + 1, sizeof *places);
    if (!places)
        return cli_error(EXIT_RUNTIME, cmd, "out of memory checking %d outputs", f->n_out);
    cli_exit rc = EXIT_OK;
    for (int i = 0; !rc && i < f->n_out; i++) {
        rc = find_target(cmd, &f->out[i], &places[i]);
        if (!rc)
            rc = check_folder(cmd, &f->out[i], &places[i]);
        if (!rc)
            rc = check_against_inputs(cmd, f, &f->out[i], &places[i]);
    }
    if (!rc)
        rc = check_pairs(cmd, f, places);
    free(places);
    return rc;
}

cli_exit files_check_folder(const char *cmd, const char *what, const char *folder)
{
    struct stat st;
    return usable_folder(cmd, what, folder, &st);
}

cli_exit files_check_pair(const char *cmd, const char *in_what, const char *in, const char *out_what, const char *out)
{
    cli_files f = {0};
    files_reads(&f, in_what, in);
    files_writes(&f, out_what, out);
    cli_exit rc = files_check(cmd, &f);
    files_free(&f);
    return rc;
}
