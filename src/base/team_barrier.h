/* The barrier between the ops of a step's one region (net/step_run.c): a waiting thread spins briefly, then
 * yields its core instead of sleeping on a futex. libgomp's `#pragma omp barrier` spins GOMP_SPINCOUNT times and then
 * sleeps on a futex, and the CLI bounds that spin (cli/wait_policy.c) so that two runs side by side do not
 * spin away each other's cores. But a sleeping thread must be woken, and on these guests a wake costs tens of
 * microseconds: at batch 512 a step's barriers wait longer than the bounded spin, and 784-1024-1024-10 under
 * the default plan ran at 0.93x of `--plan library` with GOMP_SPINCOUNT=1000, 0.93x at 10,000, 1.05x at 30,000
 * and 1.08x at 300,000 (Zen 3 guest, 2026-12-07, bench/ab.py train 7, one epoch, both sides at each spin).
 * sched_yield gives the core to whatever else is runnable on it (a second run, a build) and returns at once
 * when nothing is, so a run alone polls without a wake-up and a busy machine still gets its cores. A wait
 * past BN_BARRIER_YIELD_NS means the thread waited for is not running at all (a host that took its virtual
 * CPU away): polling then only keeps the core from it, so the waiting thread sleeps in short naps instead. */
#ifndef BN_TEAM_BARRIER_H
#define BN_TEAM_BARRIER_H

#include "clock.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Polls before the first yield: a barrier that the other threads reach within about a microsecond costs no
 * system call. */
#define BN_BARRIER_SPINS 256
/* Yielding lasts this long (a step's longest op at batch 512 on 2 cores is a few ms; its waits are far
 * shorter), then the thread naps BN_BARRIER_NAP_NS at a time. */
#define BN_BARRIER_YIELD_NS 2000000
#define BN_BARRIER_NAP_NS 50000

/* The count and the generation 64 bytes apart, on two cache lines: the arrivals' writes do not disturb the
 * waiters' polls. Padding rather than _Alignas, so that the struct it lives in (net->step, from calloc)
 * needs no more than malloc's alignment. */
typedef struct {
    atomic_uint arrived;
    char apart[64 - sizeof(atomic_uint)];
    atomic_uint generation;
} bn_team_barrier;

/* Before the region that uses it opens (the fork orders these stores before every thread's first wait). */
static inline void bn_team_barrier_reset(bn_team_barrier *b)
{
    atomic_store_explicit(&b->arrived, 0u, memory_order_relaxed);
    atomic_store_explicit(&b->generation, 0u, memory_order_relaxed);
}

static inline void bn_team_barrier_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Every one of the region's nt threads calls it; none returns before all have arrived, and each then sees
 * what the others wrote before they arrived (their arrival releases it, the last one's release of the next
 * generation passes it on). The last to arrive resets the count before it opens the next generation, and no
 * thread can arrive at the next barrier before it has seen that generation. */
static inline void bn_team_barrier_wait(bn_team_barrier *b, int nt)
{
    const unsigned gen = atomic_load_explicit(&b->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1u, memory_order_acq_rel) + 1u == (unsigned)nt) {
        atomic_store_explicit(&b->arrived, 0u, memory_order_relaxed);
        atomic_store_explicit(&b->generation, gen + 1u, memory_order_release);
        return;
    }
    uint64_t yield_until = 0;
    for (unsigned polls = 0; atomic_load_explicit(&b->generation, memory_order_acquire) == gen; polls++) {
        if (polls < BN_BARRIER_SPINS) {
            bn_team_barrier_pause();
            continue;
        }
        const uint64_t now = bn_clock_ns();
        if (polls == BN_BARRIER_SPINS)
            yield_until = now + BN_BARRIER_YIELD_NS;
        if (now < yield_until) {
            sched_yield();
        } else {
            const struct timespec nap = {0, BN_BARRIER_NAP_NS};
            nanosleep(&nap, NULL);
        }
    }
}

#endif
