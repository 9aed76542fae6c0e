/* Where a run's plans come from, and the file that keeps measured ones (FFTW's wisdom, for blasnet's
 * products). By default plans are TUNED: chosen from times measured on this machine and kept in
 * $XDG_CACHE_HOME/blasnet/wisdom (~/.cache/blasnet/wisdom), measured the first time a shape runs. The file is
 * an input like any other: read bounded, refused whole when damaged (and measured again), replaced
 * atomically. BLASNET_WISDOM=off, --plan or BLASNET_PLAN give the cost model's or a forced plan instead,
 * the same on every machine; BLASNET_WISDOM=FILE keeps the wisdom in FILE. Under mpirun rank 0 reads the
 * file and sends it to the others, and no rank measures: ranks that share cores would time each other. */
#include "cli.h"

#include "atomic_file.h"
#include "comm.h"
#include "error.h"
#include "file_read.h"
#include "net_plan.h"
#include "net_wisdom.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WISDOM_HEAD "# blasnet wisdom:" /* the first line bn_wisdom_format writes */

/* The wisdom file: BLASNET_WISDOM when it names one, else the XDG cache; false when plans are not tuned
 * (*why then says what gives them instead). */
static bool wisdom_path(const cli_args *a, char *path, size_t size, const char **why)
{
    const char *env = getenv("BLASNET_WISDOM"), *plan_env = getenv("BLASNET_PLAN");
    path[0] = '\0';
    if (a->plan_name && a->plan != BN_PLAN_TUNED)
        return *why = "--plan", false;
    if (!a->plan_name && plan_env && *plan_env && strcmp(plan_env, "tuned") != 0)
        return *why = "BLASNET_PLAN", false;
    if (env && strcmp(env, "off") == 0)
        return *why = "BLASNET_WISDOM=off", false;
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = 0;
    if (env && *env)
        n = snprintf(path, size, "%s", env);
    else if (cache && cache[0] == '/') /* the XDG rule: a relative value is ignored */
        n = snprintf(path, size, "%s/blasnet/wisdom", cache);
    else if (home && home[0] == '/')
        n = snprintf(path, size, "%s/.cache/blasnet/wisdom", home);
    if (n < 0 || (size_t)n >= size)
        path[0] = '\0';
    return true;
}

/* The file's bytes (rank 0 reads them), to every rank: the length, then the text, as sums of 64-bit words
 * that only rank 0 fills. */
static int share_text(const bn_comm *comm, uint8_t **text, size_t *len)
{
    uint64_t n = comm->rank == 0 ? *len : 0;
    int status = bn_comm_combine(comm, &n, 1, BN_COMM_SUM_U64);
    if (status || n > BN_WISDOM_MAX_BYTES)
        return status ? status : BN_E_FORMAT;
    size_t words = (size_t)(n + 7) / 8;
    uint64_t *w = calloc(words ? words : 1, sizeof *w);
    if (!w)
        return BN_E_NOMEM;
    if (comm->rank == 0 && n)
        memcpy(w, *text, (size_t)n);
    status = words ? bn_comm_combine(comm, w, words, BN_COMM_SUM_U64) : BN_OK;
    free(*text);
    *text = (uint8_t *)w;
    *len = (size_t)n;
    return status;
}

/* The file's text into *text (NULL, 0 when there is none yet); a file that cannot be read is said once and
 * planned without. */
static void read_wisdom(const char *cmd, const char *path, uint8_t **text, size_t *len, bool *keep_off)
{
    struct stat st;
    *text = NULL, *len = 0;
    if (!path[0] || (stat(path, &st) != 0 && errno == ENOENT))
        return;
    if (bn_read_file(path, BN_WISDOM_MAX_BYTES, "a wisdom file", text, len)) {
        *keep_off = true; /* what cannot be read is not replaced either */
        fprintf(stderr, "blasnet %s: warning: %s; planned without it, and it stays as it is\n", cmd, bn_errmsg());
    }
}

cli_exit plans_open(const char *cmd, const cli_args *a, bn_net *net, const bn_comm *comm, int rows, bool measure,
                    cli_plans *p)
{
    memset(p, 0, sizeof *p);
    const char *why = NULL;
    bool blas = strcmp(bn_backend_name(bn_net_backend(net)), "blas") == 0;
    if (!blas || !wisdom_path(a, p->path, sizeof p->path, &why)) {
        why = blas ? why : "the backend runs no plans";
        bn_plan_mode mode = a->plan_name ? a->plan : bn_net_plan_mode(net);
        /* tuned without a wisdom file (BLASNET_WISDOM=off): the model, measuring nothing */
        int status = bn_net_plan(net, mode == BN_PLAN_TUNED ? BN_PLAN_ESTIMATE : mode, rows);
        snprintf(p->source, sizeof p->source, "%s (%s)", bn_plan_mode_name(bn_net_plan_mode(net)), why);
        return status ? runtime_error(cmd, status, NULL) : EXIT_OK;
    }
    bool ranks = comm && comm->size > 1, speak = !comm || comm->rank == 0;
    uint8_t *text = NULL;
    size_t len = 0;
    p->quiet = !speak;
    if (speak)
        read_wisdom(cmd, p->path, &text, &len, &p->keep_off);
    int status = ranks ? share_text(comm, &text, &len) : BN_OK;
    unsigned flags = ranks || !measure ? BN_WISDOM_NO_MEASURE : 0;
    if (!status && (status = bn_net_wisdom_import(net, (const char *)text, len, flags)) == BN_E_FORMAT) {
        /* A file blasnet wrote (its first line) is blasnet's to repair; anything else is left as it is. */
        bool ours = len >= sizeof WISDOM_HEAD - 1 && memcmp(text, WISDOM_HEAD, sizeof WISDOM_HEAD - 1) == 0;
        p->keep_off = !ours;
        if (speak)
            fprintf(stderr, "blasnet %s: warning: the wisdom file '%s' is damaged (%s): ignored; %s%s\n", cmd,
                    p->path, bn_errmsg(), flags & BN_WISDOM_NO_MEASURE ? "the cost model plans instead" : "the plans "
                    "are measured again", flags & BN_WISDOM_NO_MEASURE ? "" : ours ? " and the file rewritten"
                    : ", in memory: it is not a file blasnet wrote, so it stays as it is");
        status = bn_net_wisdom_import(net, NULL, 0, flags);
    }
    free(text);
    p->tuned = true;
    snprintf(p->source, sizeof p->source, "tuned, from %s", p->path[0] ? p->path : "measurements in memory");
    if (!status)
        status = bn_net_plan(net, BN_PLAN_TUNED, rows);
    return status ? runtime_error(cmd, status, NULL) : EXIT_OK;
}

/* mkdir -p of path's folder, private to the user as a cache is (0700). */
static int make_folder_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* The network's wisdom into the file, atomically; 0, or a reason. */
static const char *write_wisdom(const bn_net *net, const char *path)
{
    if (!path[0])
        return "no cache folder: neither XDG_CACHE_HOME nor HOME is set";
    size_t need = bn_net_wisdom_export(net, NULL, 0);
    if (need > BN_WISDOM_MAX_BYTES) /* it could not be read back: keep the file as it is */
        return "the wisdom has outgrown the 4 MiB a file may hold: delete the file to start it again";
    char *text = malloc(need + 1);
    if (!text)
        return "no memory for its text";
    bn_net_wisdom_export(net, text, need + 1);
    int status = make_folder_of(path) ? bn_fail_errno(BN_E_IO, "cannot make the folder of '%s'", path)
                                      : bn_atomic_write(path, text, need);
    free(text);
    return status ? bn_errmsg() : NULL;
}

void plans_keep(const char *cmd, bn_net *net, cli_plans *p, const char *tune_hint)
{
    bn_net_wisdom_counts c = bn_net_wisdom_take_counts(net);
    p->digest = bn_net_plan_digest(net);
    if (!p->tuned || p->quiet)
        return;
    if (c.missing && tune_hint)
        fprintf(stderr, "blasnet %s: note: %d product%s not in the wisdom file use%s the cost model (ranks do not "
                        "measure: they share the cores); measure them first: %s\n",
                cmd, c.missing, c.missing == 1 ? "" : "s", c.missing == 1 ? "s" : "", tune_hint);
    if (!c.measured)
        return;
    p->measured += c.measured;
    const char *why = p->keep_off ? "the file there was not read as blasnet's wisdom, so it is not replaced"
                                  : write_wisdom(net, p->path);
    p->unsaved = p->unsaved || why;
    if (why)
        fprintf(stderr, "blasnet %s: plans measured on this machine in %.1f s (%d entries), kept in memory only: "
                        "%s\n", cmd, c.seconds, c.measured, why);
    else
        fprintf(stderr, "blasnet %s: plans measured on this machine in %.1f s (%d entries), kept in %s\n", cmd,
                c.seconds, c.measured, p->path);
}
