#!/usr/bin/env bash
# The weights of a few seeded runs, hashed, so that a refactoring can show it changed no bit (issue 23).
#   scripts/checksums.sh record BUILD [TAG]   write tests/train/checksums/KEY.txt for this machine
#   scripts/checksums.sh check BUILD [TAG]    compare with it: exit 0 same, 1 different, 77 nothing recorded
# BUILD is a build folder (blasnet and tests/weights-sum in it); TAG names the build kind (default: release).
# Each run is one epoch of MNIST (data/mnist, or $BLASNET_DATA) at 2 threads under the estimate plan or a
# forced one, never measure, whose plans may change the last bits; one run is 2 MPI ranks where mpirun is
# installed. The bits depend on the CPU's vector kernels, OpenBLAS's kernel, the GEMM engine and the build,
# so the record is kept per KEY = kernel-isa-engine-tag, and a machine without one is skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
build=${2:-build}
tag=${3:-release}
[ "$mode" = record ] || [ "$mode" = check ] || { echo "usage: $0 record|check BUILD [TAG]" >&2; exit 2; }
exe=$build/src/cli/blasnet
sum=$build/tests/weights-sum
data=${BLASNET_DATA:-data/mnist}
[ -x "$exe" ] && [ -x "$sum" ] || { echo "checksums: build $build first" >&2; exit 2; }
if [ ! -f "$data/train-images-idx3-ubyte" ]; then
  echo "checksums: no MNIST in $data (./data/fetch-mnist.sh): skipped"
  exit 77
fi

info=$(OMP_NUM_THREADS=2 "$exe" info)
kernel=$(sed -n 's/^blas kernel: *\([A-Za-z0-9_]*\).*/\1/p' <<< "$info")
engine=$(sed -n 's/^gemm engine: *\([a-z0-9]*\).*/\1/p' <<< "$info")
isa=sse
grep -q '^vector extensions:.* avx2' <<< "$info" && isa=avx2
grep -q '^vector extensions:.* avx512f' <<< "$info" && isa=avx512
key=$kernel-$isa-$engine-$tag
file=tests/train/checksums/$key.txt

if [ "$mode" = check ] && [ ! -f "$file" ]; then
  echo "checksums: nothing recorded for $key (record with: $0 record $build $tag): skipped"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
got=$tmp/got.txt
common=(--data "$data" --epochs 1 --threads 2 --quiet)
train() { # name, flags...
  local name=$1
  shift
  "$exe" train "${common[@]}" "$@" --save "$tmp/$name.bin" > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  echo "$name $("$sum" "$tmp/$name.bin")" >> "$got"
}
train default --plan estimate
train sgd-tanh --plan rows --optimizer sgd --nesterov --act tanh --hidden 128,64 --batch 96 \
  --schedule step --lr-decay 0.5 --weight-decay 1e-4 --clip-norm 1 --dropout 0.1 --seed 7
train adamw-sigmoid --plan tiles --optimizer adamw --act sigmoid --hidden 300 --batch 128 --schedule cosine \
  --weight-decay 0.01 --seed 3
train adam-leaky --plan library --act leaky_relu --hidden 256 --batch 50 --seed 11
mpi=no
libs=$(ldd "$exe" 2> /dev/null || true) # read whole: grep -q would close the pipe early under pipefail
if command -v mpirun > /dev/null && grep -q libmpi <<< "$libs"; then
  mpi=yes
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe \
    "$exe" train --data "$data" --epochs 1 --threads 1 --quiet --plan estimate --batch 64 \
    --save "$tmp/mpi.bin" > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  echo "mpi-2-ranks $("$sum" "$tmp/mpi.bin")" >> "$got"
fi

if [ "$mode" = record ]; then
  mkdir -p tests/train/checksums
  cp "$got" "$file"
  echo "checksums: recorded $file"
  cat "$file"
  exit 0
fi
# A machine without mpirun (or a build without MPI) checks the other runs.
want=$tmp/want.txt
if [ $mpi = yes ]; then cp "$file" "$want"; else grep -v '^mpi-' "$file" > "$want"; fi
if diff "$want" "$got" > "$tmp/diff"; then
  echo "checksums: $key: the seeded runs' weights are the recorded bits$([ $mpi = no ] && echo ' (no MPI run here)')"
  exit 0
fi
echo "checksums: $key: the weights changed (< recorded, > now):"
cat "$tmp/diff"
exit 1
