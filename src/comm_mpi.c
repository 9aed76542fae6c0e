/* bn_comm over MPI: every sum is an MPI_Iallreduce in place on a duplicate of MPI_COMM_WORLD, one request per
 * slot, so a layer's gradients travel while the layers below are computed. Only the main thread calls MPI
 * (MPI_THREAD_FUNNELED); errors come back as values (MPI_ERRORS_RETURN) instead of aborting inside MPI. */
#include "comm_launch.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    MPI_Comm world;
    MPI_Request request[BN_COMM_SLOTS];
    bool failed; /* an MPI call failed: the end aborts every rank instead of finalizing */
} mpi_ctx;

static mpi_ctx the_ctx; /* MPI is initialised once per process: one context */

static int mpi_begin(void *ctx, int slot, void *data, size_t n, bn_comm_op op)
{
    mpi_ctx *m = ctx;
    if (n > INT_MAX || slot < 0 || slot >= BN_COMM_SLOTS)
        return BN_E_INVALID;
    MPI_Datatype type = MPI_UINT64_T;
    MPI_Op how = op == BN_COMM_MAX_U64 ? MPI_MAX : MPI_SUM;
    if (op == BN_COMM_SUM_FLOAT)
        type = MPI_FLOAT;
    else if (op == BN_COMM_SUM_DOUBLE)
        type = MPI_DOUBLE;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, (int)n, type, how, m->world, &m->request[slot]);
    m->failed |= rc != MPI_SUCCESS;
    return rc == MPI_SUCCESS ? BN_OK : BN_E_IO;
}

/* Open MPI moves a non-blocking collective on only inside MPI calls: the step calls this between layers. */
static void mpi_progress(void *ctx)
{
    mpi_ctx *m = ctx;
    int done;
    MPI_Testall(BN_COMM_SLOTS, m->request, &done, MPI_STATUSES_IGNORE);
}

static int mpi_wait(void *ctx, int slot)
{
    mpi_ctx *m = ctx;
    int rc = MPI_Wait(&m->request[slot], MPI_STATUS_IGNORE);
    m->failed |= rc != MPI_SUCCESS;
    return rc == MPI_SUCCESS ? BN_OK : BN_E_IO;
}

/* How many ranks share this node's memory. */
static int node_ranks(MPI_Comm world)
{
    MPI_Comm node;
    int n = 1;
    if (MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return 1;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

int comm_launch_start(comm_launch *launch, char *why, size_t why_size)
{
    *launch = (comm_launch){.comm = {.rank = 0, .size = 1}, .local_ranks = 1};
    if (comm_launch_env_size() == 0)
        return BN_OK; /* a plain run: MPI is never started */
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(why, why_size, "MPI_Init failed: run blasnet under mpirun, or without it for one process");
        return BN_E_IO;
    }
    mpi_ctx *m = &the_ctx;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->world);
    for (int i = 0; i < BN_COMM_SLOTS; i++)
        m->request[i] = MPI_REQUEST_NULL;
    launch->launched = true;
    MPI_Comm_rank(m->world, &launch->comm.rank);
    MPI_Comm_size(m->world, &launch->comm.size);
    launch->comm.ctx = m;
    launch->comm.begin = mpi_begin;
    launch->comm.progress = mpi_progress;
    launch->comm.wait = mpi_wait;
    launch->local_ranks = node_ranks(m->world);
    return BN_OK;
}

void comm_launch_end(comm_launch *launch, int code)
{
    if (!launch->launched)
        return;
    launch->launched = false;
    if (the_ctx.failed)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    MPI_Comm_free(&the_ctx.world);
    MPI_Finalize();
}

const char *comm_launch_library(void)
{
    static char name[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(name, &len);
    name[strcspn(name, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." */
    return name;
}
