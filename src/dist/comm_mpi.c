/* bn_comm over MPI: every sum is an MPI_Iallreduce in place on a duplicate of MPI_COMM_WORLD, one request per
 * slot, so a layer's gradients travel while the layers below are computed. Ranks that share a node's memory
 * (MPI_COMM_TYPE_SHARED) also get MPI-3 shared windows (MPI_Win_allocate_shared), a barrier over the node, and
 * sums over the ranks of the same place on the other nodes, so that the network keeps one copy per node and
 * the node's ranks add their gradients in place (net_share.c); BLASNET_MPI_SUM=allreduce turns that off.
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED); errors come back as values (MPI_ERRORS_RETURN)
 * instead of aborting inside MPI. */
#include "comm_launch.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#define MAX_WINDOWS 8
#define ALIGN 64 /* bytes: a cache line, as the network's own block aligns each region */
#define PAGE 4096
#define ROOM_MARGIN (1u << 20) /* bytes to spare beside the window */

typedef struct {
    MPI_Comm world, node, across; /* every rank; this node's; this node rank's on every node */
    MPI_Request request[BN_COMM_SLOTS];
    MPI_Win window[MAX_WINDOWS];
    int windows;
    bool failed;         /* an MPI call failed: the end aborts every rank instead of finalizing */
    char node_why[256];  /* why the node's memory could not be mapped, for comm_launch_node_problem */
} mpi_ctx;

static mpi_ctx the_ctx; /* MPI is initialised once per process: one context */

static int start_sum(mpi_ctx *m, MPI_Comm over, int slot, void *data, size_t n, bn_comm_op op)
{
    if (n > INT_MAX || slot < 0 || slot >= BN_COMM_SLOTS)
        return BN_E_INVALID;
    MPI_Datatype type = MPI_UINT64_T;
    MPI_Op how = op == BN_COMM_MAX_U64 || op == BN_COMM_MAX_DOUBLE ? MPI_MAX : MPI_SUM;
    if (op == BN_COMM_SUM_FLOAT)
        type = MPI_FLOAT;
    else if (op == BN_COMM_SUM_DOUBLE || op == BN_COMM_MAX_DOUBLE)
        type = MPI_DOUBLE;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, (int)n, type, how, over, &m->request[slot]);
    m->failed |= rc != MPI_SUCCESS;
    return rc == MPI_SUCCESS ? BN_OK : BN_E_IO;
}

static int mpi_begin(void *ctx, int slot, void *data, size_t n, bn_comm_op op)
{
    mpi_ctx *m = ctx;
    return start_sum(m, m->world, slot, data, n, op);
}

static int mpi_begin_across(void *ctx, int slot, void *data, size_t n, bn_comm_op op)
{
    mpi_ctx *m = ctx;
    return start_sum(m, m->across, slot, data, n, op);
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

/* Win_sync before and after the barrier: the memory model of MPI's unified windows asks for both. */
static int mpi_node_sync(void *ctx)
{
    mpi_ctx *m = ctx;
    for (int i = 0; i < m->windows; i++)
        MPI_Win_sync(m->window[i]);
    int rc = MPI_Barrier(m->node);
    for (int i = 0; i < m->windows; i++)
        MPI_Win_sync(m->window[i]);
    m->failed |= rc != MPI_SUCCESS;
    return rc == MPI_SUCCESS ? BN_OK : BN_E_IO;
}

/* The file system Open MPI backs a shared window with: /dev/shm for its POSIX shared memory, else a file in
 * its session directory, under $TMPDIR or /tmp (the window's file is unlinked once every rank has mapped it). */
static const char *window_dir(void)
{
    const char *shmem = getenv("OMPI_MCA_shmem"), *tmp = getenv("TMPDIR");
    if (shmem && strcmp(shmem, "posix") == 0)
        return "/dev/shm";
    return tmp && *tmp ? tmp : "/tmp";
}

/* A window larger than the room left where it is backed is not refused: its pages fail later, with SIGBUS,
 * when touched. So the room is checked first, and every rank learns whether any node lacks it, so all take
 * the same way out. */
static int check_room(mpi_ctx *m, size_t need)
{
    const char *dir = window_dir();
    struct statvfs fs;
    int room_here = 1, room = 1;
    unsigned long long free_mb = 0, need_mb = (need + ROOM_MARGIN) >> 20;
    if (statvfs(dir, &fs) == 0) {
        free_mb = (unsigned long long)fs.f_bavail * fs.f_frsize >> 20;
        room_here = room = free_mb >= need_mb;
    }
    if (MPI_Allreduce(MPI_IN_PLACE, &room, 1, MPI_INT, MPI_MIN, m->world) != MPI_SUCCESS) {
        m->failed = true;
        return BN_E_IO;
    }
    if (room)
        return BN_OK;
    if (room_here)
        snprintf(m->node_why, sizeof m->node_why, "another node has too little room for its ranks' shared memory");
    else
        snprintf(m->node_why, sizeof m->node_why, "%s has %llu MB free but this node's ranks need %llu MB there",
                 dir, free_mb, need_mb);
    return BN_E_NOMEM;
}

/* Each rank's own segment (node rank 0's after the lead part), allocated apart (alloc_shared_noncontig) so
 * that its pages can sit near the rank that writes them, zeroed by its owner, and started on a cache line
 * (Open MPI returns segments 8 bytes past a page boundary). */
static int mpi_node_map(void *ctx, size_t lead_bytes, size_t own_bytes, void **lead, void **own)
{
    mpi_ctx *m = ctx;
    int rank, size;
    MPI_Comm_rank(m->node, &rank);
    MPI_Comm_size(m->node, &size);
    if (m->windows == MAX_WINDOWS)
        return BN_E_INVALID;
    int status = check_room(m, lead_bytes + (size_t)size * (own_bytes + ALIGN + PAGE));
    if (status)
        return status;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    void *base = NULL;
    MPI_Win win;
    size_t bytes = own_bytes + (rank == 0 ? lead_bytes : 0) + ALIGN; /* room to start each one aligned */
    int rc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, m->node, &base, &win);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        m->failed = true;
        return BN_E_NOMEM;
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    m->window[m->windows++] = win;
    memset(base, 0, bytes);
    for (int k = 0; k < size; k++) {
        MPI_Aint got;
        int unit;
        char *at = NULL;
        MPI_Win_shared_query(win, k, &got, &unit, &at);
        if (k == 0)
            *lead = at;
        at += (ALIGN - (uintptr_t)at % ALIGN) % ALIGN;
        own[k] = at + (k == 0 ? lead_bytes : 0);
    }
    return mpi_node_sync(ctx);
}

/* The node's ranks share memory for the step when every node has as many of them (so each node rank's part
 * is the same everywhere), unless BLASNET_MPI_SUM=allreduce. */
static int setup_node(mpi_ctx *m, comm_launch *launch, char *why, size_t why_size)
{
    const char *mode = getenv("BLASNET_MPI_SUM");
    if (mode && strcmp(mode, "node") != 0 && strcmp(mode, "allreduce") != 0) { /* every rank sees it: one says so */
        snprintf(why, why_size, "%s", "");
        if (launch->comm.rank == 0)
            snprintf(why, why_size, "BLASNET_MPI_SUM=%s: give node (the default) or allreduce", mode);
        return BN_E_INVALID;
    }
    /* For tests of the path across nodes on one machine: every BLASNET_MPI_NODE_SIZE consecutive ranks play
     * one node. */
    const char *fake = getenv("BLASNET_MPI_NODE_SIZE");
    char *end = NULL;
    long per_node = fake ? strtol(fake, &end, 10) : 0;
    if (fake && (end == fake || *end || per_node < 1 || per_node > INT_MAX)) {
        snprintf(why, why_size, "%s", "");
        if (launch->comm.rank == 0)
            snprintf(why, why_size, "BLASNET_MPI_NODE_SIZE=%s: give a positive number of ranks per node", fake);
        return BN_E_INVALID;
    }
    int rc = per_node > 0 ? MPI_Comm_split(m->world, launch->comm.rank / (int)per_node, 0, &m->node)
                          : MPI_Comm_split_type(m->world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &m->node);
    if (rc != MPI_SUCCESS) {
        snprintf(why, why_size, "MPI could not group the ranks by node");
        return BN_E_IO;
    }
    int node_rank, node_size, sizes[2];
    MPI_Comm_rank(m->node, &node_rank);
    MPI_Comm_size(m->node, &node_size);
    launch->local_ranks = node_size;
    sizes[0] = node_size;
    sizes[1] = -node_size;
    MPI_Allreduce(MPI_IN_PLACE, sizes, 2, MPI_INT, MPI_MAX, m->world);
    bool even = sizes[0] == -sizes[1];
    if (!even || node_size == 1 || (mode && strcmp(mode, "allreduce") == 0))
        return BN_OK;
    if (MPI_Comm_split(m->world, node_rank, launch->comm.rank, &m->across) != MPI_SUCCESS) {
        snprintf(why, why_size, "MPI could not group the ranks across nodes");
        return BN_E_IO;
    }
    bn_comm *c = &launch->comm;
    c->node_rank = node_rank;
    c->node_size = node_size;
    c->node_map = mpi_node_map;
    c->node_sync = mpi_node_sync;
    c->begin_across = mpi_begin_across;
    return BN_OK;
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
    m->node = m->across = MPI_COMM_NULL;
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
    return setup_node(m, launch, why, why_size);
}

void comm_launch_end(comm_launch *launch, int code)
{
    if (!launch->launched)
        return;
    launch->launched = false;
    mpi_ctx *m = &the_ctx;
    if (m->failed)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    for (int i = 0; i < m->windows; i++) {
        MPI_Win_unlock_all(m->window[i]);
        MPI_Win_free(&m->window[i]);
    }
    m->windows = 0;
    if (m->across != MPI_COMM_NULL)
        MPI_Comm_free(&m->across);
    if (m->node != MPI_COMM_NULL)
        MPI_Comm_free(&m->node);
    MPI_Comm_free(&m->world);
    MPI_Finalize();
}

const char *comm_launch_node_problem(void)
{
    return the_ctx.node_why;
}

const char *comm_launch_library(void)
{
    static char name[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(name, &len);
    name[strcspn(name, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." */
    return name;
}
