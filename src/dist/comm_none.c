/* comm_launch.h in a build without MPI: always one process. Started by mpirun with several ranks, each would
 * train the whole model alone and all would write the same files, so that is refused. */
#include "comm_launch.h"

#include <stdio.h>

int comm_launch_start(comm_launch *launch, char *why, size_t why_size)
{
    *launch = (comm_launch){.comm = {.rank = 0, .size = 1}, .local_ranks = 1};
    int size = comm_launch_env_size();
    if (size <= 1)
        return BN_OK;
    snprintf(why, why_size, "started as one of %d ranks, but this blasnet was built without MPI: install "
                            "libopenmpi-dev and reconfigure with -Dmpi=enabled", size);
    return BN_E_INVALID;
}

void comm_launch_end(comm_launch *launch, int code)
{
    (void)launch;
    (void)code;
}

const char *comm_launch_node_problem(void)
{
    return "";
}

const char *comm_launch_library(void)
{
    return "none";
}
