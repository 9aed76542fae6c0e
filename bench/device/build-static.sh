#!/bin/bash
# Builds fully static, stripped blasnet-bench and blasnet (glibc + libgomp + OpenBLAS 0.3.21 OpenMP with
# DYNAMIC_ARCH, so OPENBLAS_CORETYPE still picks the kernel) from a source tree and puts them in bench/device/bin.
# usage: bash bench/device/build-static.sh [SOURCE_TREE (default: a detached worktree of HEAD at /work/wt-sweep)]
#        BUILD=/work/build-static (the meson build folder, outside every tree)
# Builds from committed HEAD by default, so half-edited files in /work/main never end up in the binaries;
# pass /work/main to build the working tree as it is.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SRC=${1:-/work/wt-sweep}
BUILD=${BUILD:-/work/build-static}
if [ "$SRC" = /work/wt-sweep ]; then
    if [ -d "$SRC" ]; then git -C "$SRC" checkout -q --detach "$(git -C "$REPO" rev-parse HEAD)"
    else git -C "$REPO" worktree add --detach "$SRC" HEAD; fi
fi
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$SRC" -Ddefault_library=static -Dprefer_static=true -Dc_link_args=-static \
        -Dlibtorch_peer=disabled -Dmpi=disabled
fi
# libgomp.a warns that its (unused) offload-plugin loader calls dlopen: harmless, no `omp target` here.
ninja -C "$BUILD" bench/blasnet-bench src/cli/blasnet
# stripped copies beside the build; bench/device/bin gets them gzipped (26 MB -> 6.7 MB each; gzip is an
# Essential package everywhere, and sweep.sh falls back to python3's gzip module)
mkdir -p "$HERE/bin" "$BUILD/stripped"
strip -o "$BUILD/stripped/blasnet-bench" "$BUILD/bench/blasnet-bench"
strip -o "$BUILD/stripped/blasnet" "$BUILD/src/cli/blasnet"
rm -f "$HERE/bin/blasnet-bench" "$HERE/bin/blasnet"
for exe in blasnet-bench blasnet; do gzip -9 -n -c "$BUILD/stripped/$exe" > "$HERE/bin/$exe.gz"; done
{
    echo "built $(date -u +%FT%TZ) from $SRC at $(git -C "$SRC" rev-parse --short HEAD)$(git -C "$SRC" diff --quiet HEAD -- src bench include meson.build || echo ' + uncommitted changes')"
    echo "gcc: $(gcc --version | head -1); OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-openmp 2>/dev/null) (static, DYNAMIC_ARCH, OpenMP)"
    (cd "$BUILD/stripped" && file blasnet-bench blasnet && sha256sum blasnet-bench blasnet)
} > "$HERE/bin/BUILD_INFO"
cat "$HERE/bin/BUILD_INFO"
# must run with nothing installed: no dynamic section, and a kernel chosen by OPENBLAS_CORETYPE
for exe in blasnet-bench blasnet; do
    if readelf -l "$BUILD/stripped/$exe" | grep -q INTERP; then echo "$exe is not static" >&2; exit 1; fi
    echo "$exe: $(ldd "$BUILD/stripped/$exe" 2>&1 | tr -d '\t')"
done
env -i "$BUILD/stripped/blasnet-bench" --peak-only --peak-n 256 --threads 1
env -i OPENBLAS_CORETYPE=Haswell "$BUILD/stripped/blasnet" info | grep 'blas kernel'
