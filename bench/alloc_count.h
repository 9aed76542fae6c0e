/* Counts every heap allocation made in this process, inside shared libraries too (OpenBLAS, oneDNN, BLIS,
 * libgomp, libstdc++): alloc_count.c defines malloc and its siblings in the executable, which ELF symbol
 * interposition makes every library call, and forwards them to glibc's own allocator. No LD_PRELOAD. Under
 * AddressSanitizer, whose allocator owns malloc, the sanitizer's allocation hook counts instead (without the
 * caller's address). The one counter of the benchmark and the tests (test_alloc, test_share). */
#ifndef BN_BENCH_ALLOC_COUNT_H
#define BN_BENCH_ALLOC_COUNT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct alloc_stats {
    unsigned long long calls;   /* malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc */
    unsigned long long bytes;   /* requested, summed */
    unsigned long long largest; /* the largest single request */
} alloc_stats;

/* Puts the counter in place where it is not by construction (under ASan); false when it cannot be. Call it
 * once, before counting. */
bool alloc_count_install(void);

/* Totals since the process started (since alloc_count_install under ASan); `largest` since the last
 * alloc_count_reset_largest(). */
alloc_stats alloc_count_now(void);
void alloc_count_reset_largest(void);

/* From now until alloc_count_callers_stop, the caller of each allocation is kept, in order, in
 * callers[0..cap): the return address of the allocator's entry point (NULL under ASan: unattributed).
 * Keeping it allocates nothing. _stop returns how many allocations were made meanwhile (which may exceed
 * cap). One recording at a time. */
void alloc_count_callers_start(void **callers, size_t cap);
unsigned long alloc_count_callers_stop(void);

#endif
