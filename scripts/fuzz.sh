#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UBSan) and runs each for a bounded time
# (first argument, seconds; default 60) from its seed corpus in tests/fuzz/corpus/. A crash fails the run and
# leaves the input in build-fuzz/crashes/: add it to tests/fuzz/corpus/<target>/ as a regression test.
# Writes build-fuzz/fuzz-results.json in the shape of Meson's test log, so the test script counts it.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
dir=build-fuzz

if ! command -v clang > /dev/null; then
  echo "fuzz.sh: clang not found: apt-get install clang libclang-rt-14-dev libomp-dev" >&2
  exit 1
fi
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all > "$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
fi
targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/meson.build | tr -d "' " | tr ',' ' ')
for t in $targets; do
  ninja -C "$dir" "tests/fuzz_$t" > "$dir.build.log" 2>&1 || { tail -30 "$dir.build.log"; exit 1; }
done

mkdir -p "$dir/crashes"
: > "$dir/fuzz-results.json"
status=0
for t in $targets; do
  work="$dir/corpus-$t"
  mkdir -p "$work"
  echo "fuzzing $t for ${seconds}s"
  if "$dir/tests/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$dir/crashes/$t-" "$work" "tests/fuzz/corpus/$t" > "$dir/fuzz-$t.log" 2>&1; then
    result=OK
    grep -E "stat::number_of_executed_units|Done" "$dir/fuzz-$t.log" | tail -2
  else
    result=FAIL
    status=1
    tail -40 "$dir/fuzz-$t.log"
    echo "fuzz.sh: $t crashed; the input is in $dir/crashes/" >&2
  fi
  printf '{"name": "fuzz_%s", "result": "%s"}\n' "$t" "$result" >> "$dir/fuzz-results.json"
done
exit $status
