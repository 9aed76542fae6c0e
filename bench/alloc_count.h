/* Counts every heap allocation made in this process, inside shared libraries too (OpenBLAS, oneDNN, BLIS,
 * libgomp, libstdc++): alloc_count.c defines malloc and its siblings in the executable, which ELF symbol
 * interposition makes every library call, and forwards them to glibc's own allocator. No LD_PRELOAD. */
#ifndef BN_BENCH_ALLOC_COUNT_H
#define BN_BENCH_ALLOC_COUNT_H

typedef struct alloc_stats {
    unsigned long long calls;   /* malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc */
    unsigned long long bytes;   /* requested, summed */
    unsigned long long largest; /* the largest single request */
} alloc_stats;

/* Totals since the process started; `largest` since the last alloc_count_reset_largest(). */
alloc_stats alloc_count_now(void);
void alloc_count_reset_largest(void);

#endif
