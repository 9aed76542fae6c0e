#!/usr/bin/env bash
# A busy machine (issue 25, part 4): the default `blasnet train` alone, and two of them side by side on the
# same cores, under each way OpenMP's threads may wait. Each figure is samples/s of the training loop; the
# settings are interleaved round by round, and the medians over the rounds are printed with each side-by-side
# run's share of the solo run of its round.
#   bench/busy-machine.sh BLASNET [ROUNDS] [SETTING...]
# A setting is the environment the runs get: "default" (whatever blasnet does unasked), or assignments such
# as GOMP_SPINCOUNT=10000 or OMP_WAIT_POLICY=passive. Never run it beside a build or a test suite.
set -euo pipefail
exe=$(realpath "$1")
rounds=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(default GOMP_SPINCOUNT=100000 GOMP_SPINCOUNT=10000 GOMP_SPINCOUNT=1000
                                       OMP_WAIT_POLICY=passive)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BLASNET_WISDOM=$work/wisdom
"$exe" tune > /dev/null 2>&1 # the default run's plans, measured once, before any timing

rate() { sed -n 's/^train: .* s, \([0-9]*\) samples\/s.*/\1/p' "$1"; }
run() { # setting, output file
  if [ "$1" = default ]; then "$exe" train --epochs 1 --quiet > "$2" 2>&1
  else env "$1" "$exe" train --epochs 1 --quiet > "$2" 2>&1; fi
}

for ((r = 0; r < rounds; r++)); do
  for s in "${settings[@]}"; do
    run "$s" "$work/solo"
    run "$s" "$work/a" & run "$s" "$work/b" & wait
    echo "$s $(rate "$work/solo") $(rate "$work/a") $(rate "$work/b")" >> "$work/figures"
  done
done

python3 - "$work/figures" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, solo, a, b = line.split()
    rows.setdefault(s, []).append((int(solo), int(a), int(b)))
first = rows[next(iter(rows))]
print(f"{'setting':28} {'solo/s':>9} {'vs first':>9} {'side by side/s':>15} {'share of solo':>14}")
for s, rs in rows.items():
    solo = statistics.median(r[0] for r in rs)
    pair = statistics.median((r[1] + r[2]) / 2 for r in rs)
    share = statistics.median((r[1] + r[2]) / 2 / r[0] for r in rs)
    vs_first = statistics.median(r[0] / f[0] for r, f in zip(rs, first))  # the same round's default
    print(f"{s:28} {solo:9.0f} {vs_first:8.2f}x {pair:15.0f} {100 * share:13.0f}%")
PY
