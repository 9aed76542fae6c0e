/* What the benchmark programs share: an allocator that is 64-byte aligned (a cache line, an AVX-512 vector)
 * and ends the program with one line naming it on failure (a benchmark cannot go on without its buffers),
 * and the CPU's model name for the report header. They need nothing of libblasnet (engines.c links none). */
#ifndef BN_BENCH_UTIL_H
#define BN_BENCH_UTIL_H

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

#endif
