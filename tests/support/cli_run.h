/* Running the built blasnet binary (BN_BLASNET_EXE) from a test, with fork/exec: stdout, stderr and the exit
 * status captured, and the checks every CLI test makes of them (no crash, one error line naming the flag or
 * the file, the exit code). Header-only; the tests' files go under root, which the test makes. */
#ifndef BN_TEST_CLI_RUN_H
#define BN_TEST_CLI_RUN_H

#include "harness.h"
#include "idx_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BN_BLASNET_EXE
#error "BN_BLASNET_EXE must name the built blasnet binary (tests/meson.build passes it)"
#endif

static char root[256];

typedef struct {
    int code;   /* exit status, or -1 when the process did not exit normally */
    int signal; /* the signal that ended it, 0 if none */
    char *out, *err;
} cli_result;

static char *slurp(const char *path)
{
    size_t size = 0;
    uint8_t *bytes = idxw_read_all(path, &size);
    if (!bytes)
        return calloc(1, 1);
    bytes[size] = '\0'; /* idxw_read_all leaves one spare byte */
    return (char *)bytes;
}

/* Runs blasnet with args (NULL-terminated, without argv[0]) and stdin from stdin_path; stdout and stderr go to
 * files so neither can fill a pipe and stall the child. */
static cli_result run_argv_in(const char *const *args, const char *stdin_path)
{
    cli_result r = {.code = -1};
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", root);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", root);
    const char *argv[64] = {"blasnet"};
    int argc = 1;
    while (args[argc - 1] && argc < 63) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        r.out = calloc(1, 1);
        r.err = calloc(1, 1);
        return r;
    }
    if (pid == 0) {
        int in = open(stdin_path, O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(120);
        unsetenv("BLASNET_DATA"); /* every call names its --data, or means to test the absence of one */
        execv(BN_BLASNET_EXE, (char *const *)argv);
        _exit(121);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            break;
        }
    if (WIFEXITED(status))
        r.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        r.signal = WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    CHECKF(r.code != 120 && r.code != 121, "could not start %s (status %d)", BN_BLASNET_EXE, r.code);
    return r;
}

/* run_argv_in with stdin from /dev/null. */
static cli_result run_argv(const char *const *args)
{
    return run_argv_in(args, "/dev/null");
}

#define RUN(...) run_argv((const char *const[]){__VA_ARGS__, NULL})

static void result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

/* Lines of text, leaving out the CLI's informational "blasnet: note:" lines (the OpenBLAS-kernel notice that
 * this machine's OPENBLAS_CORETYPE triggers): an error should be one line besides those. */
static int error_lines(const char *text, char *first, size_t first_size)
{
    int n = 0;
    if (first_size)
        first[0] = '\0';
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        bool note = strncmp(p, "blasnet: note:", 14) == 0;
        if (!note && len > 0) {
            if (n == 0 && first_size)
                snprintf(first, first_size, "%.*s", (int)len, p);
            n++;
        }
        p += len + (nl ? 1 : 0);
    }
    return n;
}

/* Nothing crashed: a normal exit, and no sanitizer or fault text in either stream. */
static void no_crash(const char *what, const cli_result *r)
{
    CHECKF(r->signal == 0 && r->code >= 0, "%s: ended by signal %d", what, r->signal);
    CHECKF(!strstr(r->out, "Segmentation") && !strstr(r->err, "Segmentation"), "%s: segfault text", what);
    CHECKF(!strstr(r->err, "runtime error:") && !strstr(r->err, "AddressSanitizer"), "%s: sanitizer report: %s",
           what, r->err);
}

/* Runs args: exit `code` and exactly one error line, which names `named`; the result is the caller's to free. */
static cli_result expect_one_error_line(const char *what, int code, const char *named, const char *const *args)
{
    char line[1024];
    cli_result r = run_argv(args);
    no_crash(what, &r);
    int lines = error_lines(r.err, line, sizeof line);
    CHECKF(r.code == code, "%s: exit %d, want %d; stderr: %s", what, r.code, code, r.err);
    CHECKF(lines == 1, "%s: %d error lines on stderr, want 1: %s", what, lines, r.err);
    CHECKF(strstr(line, named) != NULL, "%s: the error line does not name %s: %s", what, named, line);
    return r;
}

/* Exit 2 and exactly one error line that names `flag`. */
static void expect_usage_error(const char *flag, const char *const *args)
{
    char what[256] = "`";
    for (int i = 0; args[i]; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", i ? " " : "", args[i]);
    snprintf(what + strlen(what), sizeof what - strlen(what), "`");
    cli_result r = expect_one_error_line(what, 2, flag, args);
    result_free(&r);
}

#define USAGE(flag, ...) expect_usage_error(flag, (const char *const[]){__VA_ARGS__, NULL})

/* Runs args: exit 0, without a crash. */
static void expect_success(const char *what, const char *const *args)
{
    cli_result r = run_argv(args);
    no_crash(what, &r);
    CHECKF(r.code == 0, "%s: exit %d: %s", what, r.code, r.err);
    result_free(&r);
}

#define OK_RUN(what, ...) expect_success(what, (const char *const[]){__VA_ARGS__, NULL})

/* Exit 1 and one error line that names `file` (a path or a file's base name). */
static void expect_data_error(const char *what, const char *file, const char *const *args)
{
    cli_result r = expect_one_error_line(what, 1, file, args);
    CHECKF(!strstr(r.out, "test:"), "%s: printed a test line after a data error", what);
    result_free(&r);
}

#define DATA_ERROR(what, file, ...) expect_data_error(what, file, (const char *const[]){__VA_ARGS__, NULL})

static void make_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", root, name);
    CHECKF(mkdir(out, 0700) == 0, "mkdir %s: %s", out, strerror(errno));
}

static void file_in(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* Lines of text that contain needle. */
static int lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        n += strstr(line, needle) != NULL;
        p += len + (nl ? 1 : 0);
    }
    return n;
}

#endif
