/* What the benchmark programs share: an allocator that is 64-byte aligned (a cache line, an AVX-512 vector)
 * and ends the program with one line naming it on failure (a benchmark cannot go on without its buffers),
 * and the CPU's model name for the report header. They need nothing of libblasnet (engines.c links none). */
#ifndef BN_BENCH_UTIL_H
#define BN_BENCH_UTIL_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *bench_xmalloc(const char *program, size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "%s: cannot allocate %.1f MiB\n", program, bytes / 1048576.0);
        exit(1);
    }
    return p;
}

/* "model name" of /proc/cpuinfo, or "unknown". */
static inline void bench_cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(f); /* read-only: nothing to lose on close */
}

/* An integer in [lo, hi] from the whole of text (no wrap, no trailing junk), or -1 after one line that names the
 * program, the flag and the range. */
static inline int bench_read_int(const char *program, const char *flag, const char *text, long lo, long hi,
                                 int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s '%s' must be an integer in %ld..%ld\n", program, flag, text, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A finite number in [lo, hi] from the whole of text, or -1 after one line. */
static inline int bench_read_double(const char *program, const char *flag, const char *text, double lo, double hi,
                                    double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "%s: %s '%s' must be a number in %g..%g\n", program, flag, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A comma-separated list of integers in [lo, hi] into out (at most cap): the count, or -1 (no wrap, no junk,
 * no empty item). */
static inline int bench_parse_list(const char *text, int *out, int cap, long lo, long hi)
{
    int n = 0;
    while (*text) {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (end == text || errno || v < lo || v > hi || n == cap || (*end != ',' && *end != '\0'))
            return -1;
        out[n++] = (int)v;
        text = *end ? end + 1 : end;
    }
    return n;
}

#endif
