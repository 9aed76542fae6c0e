/* The allocation counter of alloc_count.h: definitions of the allocator's entry points in the executable,
 * each one a relaxed atomic count and a call of glibc's __libc_ implementation, so a library's memory is
 * still glibc's (free works on it either way). glibc documents this as its supported way to replace malloc;
 * mallinfo2() cannot replace it, since it reports what is in use now, not what was allocated and freed.
 * Under ASan the sanitizer owns malloc, so these are not defined and its malloc hook counts instead. */
#include "alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

static _Atomic unsigned long long n_calls, n_bytes, n_largest;

/* The caller recording: a window of allocation numbers [first, ...) mapped onto callers[0..cap). */
static void **volatile recorded;
static volatile size_t recorded_cap;
static _Atomic unsigned long long recording_from;

static void count(size_t size, void *caller)
{
    unsigned long long i = atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_bytes, size, memory_order_relaxed);
    unsigned long long big = atomic_load_explicit(&n_largest, memory_order_relaxed);
    while (size > big &&
           !atomic_compare_exchange_weak_explicit(&n_largest, &big, size, memory_order_relaxed, memory_order_relaxed))
        ;
    void **into = recorded;
    unsigned long long k = i - atomic_load_explicit(&recording_from, memory_order_relaxed);
    if (into && i >= atomic_load_explicit(&recording_from, memory_order_relaxed) && k < recorded_cap)
        into[k] = caller;
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

void alloc_count_callers_start(void **callers, size_t cap)
{
    recorded = NULL;
    recorded_cap = cap;
    atomic_store(&recording_from, atomic_load(&n_calls));
    recorded = callers;
}

unsigned long alloc_count_callers_stop(void)
{
    recorded = NULL;
    return (unsigned long)(atomic_load(&n_calls) - atomic_load(&recording_from));
}

#if defined(__SANITIZE_ADDRESS__)
/* From <sanitizer/allocator_interface.h>, which ships with clang but not with gcc; libasan exports it. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void asan_malloc_hook(const volatile void *ptr, size_t size)
{
    (void)ptr;
    count(size, NULL); /* the caller is somewhere inside ASan's interceptor: unattributed */
}

static void asan_free_hook(const volatile void *ptr)
{
    (void)ptr;
}

bool alloc_count_install(void)
{
    /* Both hooks are required: the runtime refuses (returns 0) when either is NULL. */
    return __sanitizer_install_malloc_and_free_hooks(asan_malloc_hook, asan_free_hook) != 0;
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void __libc_free(void *p);

/* The project builds with -fvisibility=hidden; an entry point left hidden would not be in the executable's
 * dynamic symbol table, and the libraries would keep calling glibc's. */
#define EXPORTED __attribute__((visibility("default")))
#define CALLER __builtin_return_address(0)

bool alloc_count_install(void)
{
    return true; /* interposed from the start */
}

EXPORTED void *malloc(size_t size)
{
    count(size, CALLER);
    return __libc_malloc(size);
}

EXPORTED void *calloc(size_t n, size_t size)
{
    count(n && size > (size_t)-1 / n ? (size_t)-1 : n * size, CALLER); /* an overflowing request still counts */
    return __libc_calloc(n, size);
}

EXPORTED void *realloc(void *p, size_t size)
{
    count(size, CALLER);
    return __libc_realloc(p, size);
}

EXPORTED void free(void *p)
{
    __libc_free(p);
}

EXPORTED int posix_memalign(void **out, size_t align, size_t size)
{
    count(size, CALLER);
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORTED void *aligned_alloc(size_t align, size_t size)
{
    count(size, CALLER);
    return __libc_memalign(align, size);
}

EXPORTED void *memalign(size_t align, size_t size)
{
    count(size, CALLER);
    return __libc_memalign(align, size);
}

EXPORTED void *valloc(size_t size)
{
    count(size, CALLER);
    return __libc_valloc(size);
}
#endif
