/* blasnet train as one rank of several (under mpirun): joining the ranks, their threads, which rank speaks,
 * and the agreement that ends the start-up, so that a rank that failed to read its files stops every rank
 * with its one line instead of leaving them waiting. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cli.h"
#include "blasnet_comm.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Threads per rank: --threads or OMP_NUM_THREADS when given, else the node's cores shared among its ranks
 * (never more than the cores mpirun bound this rank to), so a default run never oversubscribes. */
static void set_rank_threads(const char *cmd, const cli_args *a, const comm_launch *l)
{
    const int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t mask;
    const int bound = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : cores;
    const char *env = getenv("OMP_NUM_THREADS");
    int threads = a->threads;
    if (!args_given(a, OPT_THREADS) && !(env && *env)) {
        threads = cores / l->local_ranks < bound ? cores / l->local_ranks : bound;
        threads = threads < 1 ? 1 : threads;
        bn_set_threads(threads);
    }
    if (l->comm.rank != 0)
        return;
    if (threads * l->local_ranks > cores)
        fprintf(stderr, "blasnet %s: warning: %d ranks x %d threads on this node exceed its %d cores, so they take "
                        "turns; give --threads %d (the default)\n",
                cmd, l->local_ranks, threads, cores, cores / l->local_ranks > 0 ? cores / l->local_ranks : 1);
    else if (threads > bound)
        fprintf(stderr, "blasnet %s: warning: mpirun bound each rank to %d cores but it runs %d threads; add "
                        "--bind-to none or --map-by slot:PE=%d to mpirun\n", cmd, bound, threads, threads);
}

cli_exit ranks_start(const char *cmd, const cli_args *a, comm_launch *l)
{
    char why[512];
    if (comm_launch_start(l, why, sizeof why)) /* an empty why: another rank says it */
        return why[0] ? cli_error(EXIT_RUNTIME, cmd, "%s", why) : EXIT_RUNTIME;
    if (!l->launched)
        return EXIT_OK;
    cli_set_rank(l->comm.rank, l->comm.size);
    /* Rank 0 alone prints results; the others keep stderr for their own errors. */
    if (l->comm.rank > 0 && !freopen("/dev/null", "w", stdout))
        return cli_error(EXIT_RUNTIME, cmd, "cannot silence stdout of rank %d", l->comm.rank);
    set_rank_threads(cmd, a, l);
    return EXIT_OK;
}

bool ranks_speak(const comm_launch *l)
{
    return l->comm.rank == 0;
}

cli_exit ranks_agree(const char *cmd, const comm_launch *l, cli_exit rc)
{
    if (!l->launched)
        return rc;
    const bn_comm *c = &l->comm;
    uint64_t worst = (uint64_t)rc;
    int status = c->begin(c->ctx, BN_COMM_SLOTS - 1, &worst, 1, BN_COMM_MAX_U64);
    if (!status)
        status = c->wait(c->ctx, BN_COMM_SLOTS - 1);
    if (status)
        return cli_error(EXIT_RUNTIME, cmd, "the ranks could not compare their start (%s): another rank has ended",
                         bn_strerror(status));
    return rc ? rc : (cli_exit)worst; /* a rank that failed said why; the others end quietly with its code */
}
