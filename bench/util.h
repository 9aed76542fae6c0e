/* What the benchmark programs share: an allocator that is 64-byte aligned (a cache line, an AVX-512 vector)
 * and ends the program with one line naming it on failure (a benchmark cannot go on without its buffers),
 * the CPU's model name and the load for the report header, operands, and the flags' checked readers. They
 * need nothing of libblasnet (engines.c links none). */
#ifndef BN_BENCH_UTIL_H
#define BN_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
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

/* splitmix64 in [-1, 1), from seed: operands for a benchmark, which needs values, not statistics. */
static inline void bench_fill_splitmix(float *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        x[i] = (float)((double)(z >> 40) / (double)(1u << 23) - 1.0);
    }
}

static inline double bench_frobenius(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

/* The 1-minute load average: on a shared machine, a figure taken under someone else's load is noise. */
static inline double bench_load_average(void)
{
    double load = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = NAN;
        fclose(f); /* read-only: nothing to lose on close */
    }
    return load;
}

static inline const char *bench_env_or_unset(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "(unset)";
}

#endif
