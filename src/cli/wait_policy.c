/* How blasnet's OpenMP threads wait at a barrier, set before the runtime starts. libgomp reads
 * GOMP_SPINCOUNT and OMP_WAIT_POLICY once, when it loads; with neither set, a waiting thread spins 300,000
 * times before it sleeps. Alone on its cores that costs nothing, but two runs side by side on the same two
 * cores spin away each other's time slices: each kept 2-8% of its solo samples/s (Zen 3 guest, 2026-12-07,
 * bench/busy-machine.sh). With a spin of 1,000 (what libgomp itself falls back to when it has more threads
 * than cores) each kept 41%, and a solo run 0.97x of its speed (median of 10 interleaved rounds, inside the
 * machine's noise); 300 kept 53% but cost a solo run 12%, passive waiting 63% and 23%. So the CLI re-executes
 * itself once with GOMP_SPINCOUNT=1000, unless the user set either variable: their choice stands. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

#define POLITE_SPINCOUNT "1000"

void wait_policy_apply(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("GOMP_SPINCOUNT", POLITE_SPINCOUNT, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT"); /* no /proc (a chroot): run as the runtime already is */
}
