/* The barrier between the ops of a step's region (src/base/team_barrier.h): no thread leaves before every
 * thread has arrived, and each then sees what the others wrote before arriving, round after round, in
 * teams larger than the machine's cores too (where waiting threads must yield to the ones still working). */
#include "harness.h"
#include "team_barrier.h"

#include <omp.h>
#include <time.h>

#define ROUNDS 2000
#define MAX_TEAM 8

static bn_team_barrier barrier;
static int written[MAX_TEAM]; /* plain ints: the barrier alone orders them */

/* Each round every thread writes the round into its slot, waits, reads every slot, and waits again before
 * the next round may overwrite them. Returns the reads that saw another round. */
static long stale_reads(int team, int slow_thread, int slow_ns)
{
    long stale = 0;
    bn_team_barrier_reset(&barrier);
    for (int t = 0; t < MAX_TEAM; t++)
        written[t] = -1;
#pragma omp parallel num_threads(team) reduction(+ : stale)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int round = 0; round < ROUNDS; round++) {
            if (t == slow_thread && round % 64 == 0) { /* arrives late: the others poll, yield, then nap */
                const struct timespec late = {0, slow_ns};
                nanosleep(&late, NULL);
            }
            written[t] = round;
            bn_team_barrier_wait(&barrier, nt);
            for (int u = 0; u < nt; u++)
                stale += written[u] != round;
            bn_team_barrier_wait(&barrier, nt);
        }
    }
    return stale;
}

static void test_rounds(void)
{
    const int teams[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < sizeof teams / sizeof teams[0]; i++) {
        long stale = stale_reads(teams[i], -1, 0);
        CHECKF(stale == 0, "team of %d: %ld reads saw another round's value", teams[i], stale);
    }
}

/* Late by 0.2 ms (the others yield) and by 3 ms (past BN_BARRIER_YIELD_NS: they nap). */
static void test_late_thread(void)
{
    const int late_ns[] = {200000, 3000000};
    for (int team = 2; team <= 4; team++)
        for (int i = 0; i < 2; i++) {
            long stale = stale_reads(team, team - 1, late_ns[i]);
            CHECKF(stale == 0, "team of %d, the last thread %d us late: %ld reads saw another round's value", team,
                   late_ns[i] / 1000, stale);
        }
}

int main(void)
{
    omp_set_dynamic(0); /* the teams asked for, even beyond the cores */
    bn_test_case("every thread sees every write of the round, teams of 1 to 8", test_rounds);
    bn_test_case("a late thread: the others wait for it, polling, yielding, then napping", test_late_thread);
    return bn_test_exit("test_barrier");
}
