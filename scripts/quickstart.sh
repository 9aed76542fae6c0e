#!/usr/bin/env bash
# The first of the README's two commands: installs dependencies, builds, fetches MNIST and trains the default
# model (784-512-10 ReLU, Adam on onecycle, 3 epochs), ending with the `test:` and `train:` lines.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build > /dev/null
ninja -C build > /dev/null
./data/fetch-mnist.sh
./build/src/cli/blasnet train "$@"
