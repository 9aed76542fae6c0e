/* How a process joins the other ranks of a data-parallel run: src/comm_mpi.c in a build with MPI (-Dmpi),
 * src/comm_none.c without. MPI is started only when a launcher (mpirun, srun) started this process, so a
 * plain run neither initialises MPI nor waits for it. Not part of libblasnet: the CLI, the tests and the
 * benchmark link it beside the library. */
#ifndef BN_COMM_LAUNCH_H
#define BN_COMM_LAUNCH_H

#include "blasnet_comm.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct comm_launch {
    bn_comm comm;    /* rank 0 of 1 when not launched */
    bool launched;   /* MPI runs: end it with comm_launch_end */
    int local_ranks; /* ranks on this node, this one included */
} comm_launch;

/* The rank count a launcher announced in the environment: Open MPI's mpirun, or a PMI launcher (MPICH's
 * hydra, Slurm's srun); 1 for a PMIx launch, which does not say; 0 when no launcher started this process. */
static inline int comm_launch_env_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 1)
            return atoi(v);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

/* Joins the ranks when a launcher started this process, else fills a comm of one rank and stays single.
 * BN_OK, or a status with the reason in why (empty when rank 0 reports a reason every rank shares). */
int comm_launch_start(comm_launch *launch, char *why, size_t why_size);
/* Leaves the run: a clean MPI_Finalize when every exchange worked (the callers make every failure known to
 * all ranks before they end), else MPI_Abort with code, so that no rank waits for a sum that will never come.
 * Nothing when not launched. */
void comm_launch_end(comm_launch *launch, int code);
/* Why the node's shared memory could not be mapped (bn_net_set_comm failed with BN_E_NOMEM), or "". */
const char *comm_launch_node_problem(void);
/* "Open MPI v4.1.4", or "none". */
const char *comm_launch_library(void);

#endif
