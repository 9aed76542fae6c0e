/* The allocation counter of alloc_count.h: definitions of the allocator's entry points in the executable,
 * each one a relaxed atomic count and a call of glibc's __libc_ implementation, so a library's memory is
 * still glibc's (free works on it either way). glibc documents this as its supported way to replace malloc;
 * mallinfo2() cannot replace it, since it reports what is in use now, not what was allocated and freed. */
#include "alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void __libc_free(void *p);

/* The project builds with -fvisibility=hidden; an entry point left hidden would not be in the executable's
 * dynamic symbol table, and the libraries would keep calling glibc's. */
#define EXPORTED __attribute__((visibility("default")))

static _Atomic unsigned long long n_calls, n_bytes, n_largest;

static void count(size_t size)
{
    atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_bytes, size, memory_order_relaxed);
    unsigned long long big = atomic_load_explicit(&n_largest, memory_order_relaxed);
    while (size > big &&
           !atomic_compare_exchange_weak_explicit(&n_largest, &big, size, memory_order_relaxed, memory_order_relaxed))
        ;
}

alloc_stats alloc_count_now(void)
{
    alloc_stats s = {atomic_load(&n_calls), atomic_load(&n_bytes), atomic_load(&n_largest)};
    return s;
}

void alloc_count_reset_largest(void)
{
    atomic_store(&n_largest, 0);
}

EXPORTED void *malloc(size_t size)
{
    count(size);
    return __libc_malloc(size);
}

EXPORTED void *calloc(size_t n, size_t size)
{
    count(n && size > (size_t)-1 / n ? (size_t)-1 : n * size); /* an overflowing request still counts */
    return __libc_calloc(n, size);
}

EXPORTED void *realloc(void *p, size_t size)
{
    count(size);
    return __libc_realloc(p, size);
}

EXPORTED void free(void *p)
{
    __libc_free(p);
}

EXPORTED int posix_memalign(void **out, size_t align, size_t size)
{
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0)
        return EINVAL;
    count(size);
    void *p = __libc_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORTED void *aligned_alloc(size_t align, size_t size)
{
    count(size);
    return __libc_memalign(align, size);
}

EXPORTED void *memalign(size_t align, size_t size)
{
    count(size);
    return __libc_memalign(align, size);
}

EXPORTED void *valloc(size_t size)
{
    count(size);
    return __libc_valloc(size);
}
