#!/bin/sh
# Interleaved rounds of blasnet-bench-mpi on one machine: 1 process x 2 threads, then 2 ranks x 1 thread with
# the gradients summed in the node's shared memory, then 2 ranks x 1 thread summed by MPI_Iallreduce
# (BLASNET_MPI_SUM=allreduce). Prints each round's best samples/s per run, then the best of each and the two
# ratios to one process. Neighbours make single runs swing by 2x, so only best-of-rounds ratios are quoted.
# usage: bench/mpi-rounds.sh [BUILD_DIR]; env L (layers), B (batch), S (steps per run), N (rounds)
set -eu
BUILD=${1:-build}
L=${L:-784,1024,1024,10}
B=${B:-256}
S=${S:-40}
N=${N:-8}
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Cooperlake}" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BENCH="$BUILD/bench/blasnet-bench-mpi -l $L -b $B -s $S"
best() { sed 's/.*best *\([0-9]*\)).*/\1/'; }
for r in $(seq "$N"); do
    echo "one $($BENCH -t 2 | best)"
    echo "node $(mpirun --oversubscribe --mca btl self,vader -np 2 $BENCH -t 1 | best)"
    echo "allreduce $(BLASNET_MPI_SUM=allreduce mpirun --oversubscribe --mca btl self,vader -np 2 $BENCH -t 1 | best)"
done | awk '{ print; if ($2 > top[$1]) top[$1] = $2 }
    END { printf "best samples/s: one %d, node %d, allreduce %d; node/one %.2f, allreduce/one %.2f\n", top["one"],
          top["node"], top["allreduce"], top["node"] / top["one"], top["allreduce"] / top["one"] }'
