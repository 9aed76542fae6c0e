/* The monotonic clock in integer nanoseconds: what the tuner times candidates with, the step's barrier
 * bounds its yielding with, and the trainer and the measuring planner read (in their own units). */
#ifndef BN_CLOCK_H
#define BN_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bn_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
