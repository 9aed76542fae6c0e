#!/usr/bin/env bash
# The second of the README's two commands, and what CI runs: installs dependencies, builds with warnings as
# errors, runs the whole suite (MNIST included) and the short benchmark, runs the product suites again with
# the oneDNN GEMM engine, runs the suite again under AddressSanitizer and UBSan, runs the fuzzers for a
# bounded time, and ends with one `N passed, N failed` line over everything.
# FUZZ_SECONDS (default 40: four fuzzers in under 3 minutes) bounds each fuzzer; BLASNET_SKIP_SAN=1 skips the
# sanitizer build.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh test || exit 1
./data/fetch-mnist.sh || exit 1

status=0
logs=()
run_suite() { # dir, meson setup args...
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" > "$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; status=1; return; }
  fi
  ninja -C "$dir" > "$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; status=1; return; }
  meson test -C "$dir" --print-errorlogs --num-processes 2 ${SUITES:-} || status=1
  logs+=("$dir/meson-logs/testlog.json")
}

echo "== release build, warnings as errors"
run_suite build-test --werror -Dbuildtype=release
if [ -f build-test/build.ninja ]; then
  echo "== benchmark, short version (checks every backend against naive before timing it)"
  meson test -C build-test --benchmark --logbase benchlog || status=1
  logs+=(build-test/meson-logs/benchlog.json)
fi
echo "== oneDNN engine (-Dgemm_engine=dnnl): every suite that runs products, warnings as errors"
SUITES="--suite math --suite train --suite plans" run_suite build-dnnl --werror -Dbuildtype=release \
  -Dgemm_engine=dnnl
if [ "${BLASNET_SKIP_SAN:-0}" != 1 ]; then
  echo "== AddressSanitizer + UBSan build (findings are fatal)"
  run_suite build-san --werror -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
fi
if [ -x scripts/fuzz.sh ]; then
  echo "== fuzzers"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-40}" || status=1
  [ -f build-fuzz/fuzz-results.json ] && logs+=(build-fuzz/fuzz-results.json)
fi

python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
PY
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
