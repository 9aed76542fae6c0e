/* A small test harness: each CHECK prints file:line and the values on failure, and bn_test_exit() turns any
 * failure into a non-zero exit status, which is how Meson judges a test. Header-only on purpose. */
#ifndef BN_TEST_HARNESS_H
#define BN_TEST_HARNESS_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int bn_test_failures;
static int bn_test_checks;

#define CHECK(cond)                                                                                             \
    do {                                                                                                        \
        bn_test_checks++;                                                                                       \
        if (!(cond)) {                                                                                          \
            bn_test_failures++;                                                                                 \
            fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);                                    \
        }                                                                                                       \
    } while (0)

/* Like CHECK, with a printf-style explanation of the values involved. */
#define CHECKF(cond, ...)                                                                                       \
    do {                                                                                                        \
        bn_test_checks++;                                                                                       \
        if (!(cond)) {                                                                                          \
            bn_test_failures++;                                                                                 \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);                                    \
            fprintf(stderr, __VA_ARGS__);                                                                       \
            fputc('\n', stderr);                                                                                \
        }                                                                                                       \
    } while (0)

/* |got - want| <= abs_tol + rel_tol * |want| */
#define CHECK_CLOSE(got, want, abs_tol, rel_tol)                                                                \
    do {                                                                                                        \
        double g_ = (double)(got), w_ = (double)(want);                                                         \
        CHECKF(fabs(g_ - w_) <= (abs_tol) + (rel_tol) * fabs(w_), "got %.9g, want %.9g (diff %.3g)", g_, w_,    \
               fabs(g_ - w_));                                                                                  \
    } while (0)

/* Makes a fresh folder $TMPDIR/blasnet-NAME-XXXXXX (TMPDIR defaults to /tmp) in buf; false, after saying
 * why, if it cannot. */
static inline bool bn_test_tmpdir(char *buf, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/blasnet-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (mkdtemp(buf))
        return true;
    perror("mkdtemp");
    return false;
}

/* Removes a test's folder (made by bn_test_tmpdir, so its name needs no quoting beyond the quotes here);
 * a leftover is a warning, not a failed test. */
static inline void bn_test_remove_tree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

/* Runs one named case and prints "ok: NAME" or "FAIL: NAME (k of n checks)", so a red test says what broke
 * without opening the file. */
static inline void bn_test_case(const char *name, void (*fn)(void))
{
    int checks = bn_test_checks, failures = bn_test_failures;
    fn();
    if (bn_test_failures > failures)
        fprintf(stderr, "FAIL: %s (%d of %d checks failed)\n", name, bn_test_failures - failures,
                bn_test_checks - checks);
    else
        printf("ok: %s (%d checks)\n", name, bn_test_checks - checks);
}

static inline int bn_test_exit(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, bn_test_checks, bn_test_failures);
    return bn_test_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
