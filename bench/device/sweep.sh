#!/bin/bash
# One-shot thread-scaling sweep of blasnet on a bare 16-core x86-64 machine (issue 11, "Any core count").
# Needs nothing installed: static binaries in bench/device/bin; python3 only for the tables (and torch for the
# PyTorch peer, skipped when absent). Run from anywhere: bash bench/device/sweep.sh; results go to $OUT
# (default ./sweep-out), at most 6 files: sweep.log (everything), cpu.txt, bench.csv (every blasnet-bench
# record, first column = the invocation), bench.jsonl (each invocation's --json, one per line), torch.csv,
# summary.txt (tables, rewritten after every phase). Most important data first: 16 then 8 threads.
# Hard guard: no command runs past SWEEP_LIMIT_S seconds from the start (default 390), each is wrapped in
# timeout, and every file is written as it goes, so a kill still leaves the rows measured so far.
# Knobs: SWEEP_SMOKE=1 (tiny: threads 2,1, short budgets; for a 2-core check), SWEEP_TOP (largest thread
# count, default min(nproc,16)), SWEEP_CORE (OPENBLAS_CORETYPE; default the best for this CPU, as
# --blas-core auto picks), SWEEP_BUDGET (s per step figure, default 1), SWEEP_PYTHON (python3 with torch),
# SWEEP_TEAM=1 (issue 25's sweep instead: team_main below; SWEEP_TEAM_BUDGET s per variant, default 0.4).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$PWD/sweep-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T0=$(date +%s)
SMOKE=${SWEEP_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    LIMIT=${SWEEP_LIMIT_S:-150}; BUDGET=${SWEEP_BUDGET:-0.05}; PEAKN=1024; BATCHES=32,64
    TORCH_BUDGET=0.1; PLANS_BUDGET=0.02; PLAN_BATCHES="32"; MAXTOP=2; TEAM_BATCHES="32"; TEAM_BUDGET=0.05
else
    LIMIT=${SWEEP_LIMIT_S:-390}; BUDGET=${SWEEP_BUDGET:-1}; PEAKN=4096; BATCHES=32,256,64,128,512
    TORCH_BUDGET=1; PLANS_BUDGET=0.2; PLAN_BATCHES="32 256"; MAXTOP=16; TEAM_BATCHES="32 128 512"
    TEAM_BUDGET=${SWEEP_TEAM_BUDGET:-0.4}
fi
TMPD=$(mktemp -d /tmp/sweep.XXXXXX)
BIN=$HERE/bin
# bench/device/bin holds them gzipped (gzip, else python3's gzip module); an unpacked executable there wins
mkdir -p "$TMPD/bin"
for exe in blasnet-bench blasnet; do
    if [ -x "$BIN/$exe" ]; then cp "$BIN/$exe" "$TMPD/bin/"
    elif ! gzip -dc "$BIN/$exe.gz" > "$TMPD/bin/$exe" 2>/dev/null; then
        python3 -c 'import gzip, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
            "$BIN/$exe.gz" "$TMPD/bin/$exe" || echo "sweep.sh: cannot unpack $BIN/$exe.gz" >&2
    fi
    chmod +x "$TMPD/bin/$exe"
done
BENCH=$TMPD/bin/blasnet-bench
CLI=$TMPD/bin/blasnet

elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( LIMIT - $(elapsed) )); }

# guard NAME CAP_S CMD...: runs CMD under timeout min(CAP_S, time left); skipped when under 8 s are left.
guard() {
    local name=$1 cap=$2; shift 2
    local l; l=$(left)
    if [ "$l" -lt 8 ]; then echo "## [$name] SKIPPED: ${l}s left of the ${LIMIT}s guard"; return 125; fi
    local t=$(( cap < l ? cap : l ))
    echo
    echo "## [$name] start +$(elapsed)s, timeout ${t}s: $*"
    timeout -k 3 "$t" "$@"
    local rc=$?
    echo "## [$name] rc=$rc at +$(elapsed)s$([ $rc = 124 ] || [ $rc = 137 ] && echo ' -- TIMED OUT: rows above are partial')"
    return $rc
}

pick_python() { # the first python3 that has torch (found without importing it)
    for p in ${SWEEP_PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3 python; do
        command -v "$p" >/dev/null 2>&1 || continue
        "$p" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null \
            && { echo "$p"; return 0; }
    done
    return 1
}
PY=$(command -v python3 || command -v python || echo "")

summary() {
    [ -n "$PY" ] && "$PY" "$HERE/summary.py" "$OUT" > "$OUT/summary.txt.tmp" 2>&1 && mv "$OUT/summary.txt.tmp" "$OUT/summary.txt"
    rm -f "$OUT/summary.txt.tmp"
}

# collect NAME: this invocation's csv into bench.csv (run column first) and json into bench.jsonl
collect() {
    local name=$1 csv=$TMPD/$1.csv json=$TMPD/$1.json
    if [ -s "$csv" ]; then
        [ -s "$OUT/bench.csv" ] || sed -n '1s/^/run,/p' "$csv" > "$OUT/bench.csv"
        sed '1d' "$csv" | sed "s/^/$name,/" >> "$OUT/bench.csv"
    fi
    if [ -s "$json" ]; then
        if [ -n "$PY" ]; then
            "$PY" -c 'import json,sys; print(json.dumps({"run": sys.argv[1], "report": json.load(open(sys.argv[2]))}))' \
                "$name" "$json" >> "$OUT/bench.jsonl" 2>/dev/null || { echo "{\"run\": \"$name\", \"raw\": 1}"; cat "$json"; } >> "$OUT/bench.jsonl"
        else
            { echo "{\"run\": \"$name\", \"raw\": 1}"; cat "$json"; } >> "$OUT/bench.jsonl"
        fi
    else
        echo "## [$name] wrote no json/csv (killed or failed): its rows are only in sweep.log"
    fi
    summary
}

# bench NAME CAP_S THREADS ARGS...: blasnet-bench on the chosen kernel with both thread settings = THREADS
bench() {
    local name=$1 cap=$2 t=$3; shift 3
    local envs=(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t)
    [ -n "$CORE" ] && envs+=(OPENBLAS_CORETYPE=$CORE)
    guard "$name" "$cap" env "${envs[@]}" "$BENCH" --threads "$t" --peak-n "$PEAKN" "$@" \
        --json "$TMPD/$name.json" --csv "$TMPD/$name.csv"
    collect "$name"
}

# steps NAME THREADS CAP_S [SECTION]: the whole step at every batch, plans library,estimate,measure
# interleaved (each batch runs all three before the next batch), SECTION (cores) added to the run
steps() {
    bench "$1" "$3" "$2" --only "peak${4:+,$4},batch" --batches "$BATCHES" --backends blas \
        --plans library,estimate,measure --budget "$BUDGET"
}

torch_run() { # torch_run THREADS SETTINGS CAP_S
    local t=$1 s=$2 cap=$3
    [ -n "$TPY" ] || { echo "## [torch-$s-t$t] SKIPPED: no python3 with torch"; return; }
    local envs=()
    [ "$s" = best ] && envs+=(OMP_WAIT_POLICY=passive)  # bench/peers.py's "best" PyTorch setting
    guard "torch-$s-t$t" "$cap" env "${envs[@]}" "$TPY" "$HERE/torch_step.py" --threads "$t" \
        --batches "$BATCHES" --budget "$TORCH_BUDGET" --settings "$s" --csv "$OUT/torch.csv" \
        $([ "$t" = "$TOP" ] && [ "$s" = installed ] && echo --describe)
    summary
}

# setup: the machine into cpu.txt and the log, the OpenBLAS kernel (CORE), the thread counts (TL), python
setup() {
    echo "## blasnet device sweep: $(date -u +%FT%TZ), guard ${LIMIT}s, smoke=$SMOKE, OUT=$OUT"
    echo "## binaries: $(cat "$BIN/BUILD_INFO" 2>/dev/null | head -1)"
    local nproc_; nproc_=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
    {
        echo "== uname"; uname -a
        echo "== nproc: $nproc_ (online: $(getconf _NPROCESSORS_ONLN))"
        grep -E 'Cpus_allowed_list|Mems_allowed_list' /proc/self/status
        echo "== cgroup cpu.max: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo '?')"
        echo "== lscpu"; lscpu 2>/dev/null || echo "(no lscpu)"
        echo "== lscpu -e"; lscpu -e 2>/dev/null | head -40
        echo "== memory"; free -g 2>/dev/null || head -3 /proc/meminfo
        echo "== governor: $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo '?')"
        echo "== /proc/cpuinfo, first cpu"; sed '/^$/q' /proc/cpuinfo
        echo "== env"; env | grep -E '^(OMP|OPENBLAS|GOMP|KMP|MKL|GLIBC_TUNABLES|LD_)' | sort
    } > "$OUT/cpu.txt" 2>&1
    echo "nproc: $nproc_; $(grep Cpus_allowed_list /proc/self/status | tr -s '\t' ' '); cgroup cpu.max: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo '?')"
    lscpu 2>/dev/null | grep -E '^(Model name|Vendor ID|Socket|Core|Thread|CPU\(s\)|NUMA node\(s\)|L2|L3|CPU max MHz|Hypervisor)' || true
    local flags; flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)
    echo "vector flags: $(for f in avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16; do [[ " $flags " == *" $f "* ]] && printf '%s ' $f; done)"
    echo "env: $(env | grep -E '^(OMP|OPENBLAS|GOMP|KMP|MKL|GLIBC_TUNABLES)' | tr '\n' ' ')"

    # the best OpenBLAS kernel for this CPU: what `--blas-core auto` and bench/peers.py best_core pick
    CORE=${SWEEP_CORE:-$(env -u OPENBLAS_CORETYPE "$CLI" info --threads 1 2>/dev/null | sed -n 's/.*best for this CPU: \([A-Za-z0-9]*\).*/\1/p' | head -1)}
    if [ -z "$CORE" ]; then
        if [[ " $flags " == *" avx512_bf16 "* ]]; then CORE=Cooperlake
        elif [[ " $flags " == *" avx512f "* && " $flags " == *" avx512bw "* && " $flags " == *" avx512vl "* && " $flags " == *" avx512dq "* ]]; then CORE=SkylakeX
        elif [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then CORE=Haswell; fi
    fi
    echo "OPENBLAS_CORETYPE for every blasnet run: ${CORE:-(unset: no rule matched)}"
    guard info-auto 20 env -u OPENBLAS_CORETYPE "$CLI" info --blas-core auto --threads 1

    TOP=${SWEEP_TOP:-$(( nproc_ < MAXTOP ? nproc_ : MAXTOP ))}
    local list="" t
    for t in $TOP 16 8 4 2 1; do
        [ "$t" -le "$TOP" ] && [[ " $list " != *" $t "* ]] && list="$list $t"
    done
    read -r -a TL <<< "$list"
    echo "thread counts: ${TL[*]} (top $TOP); batches $BATCHES; step budget ${BUDGET}s; peak n=$PEAKN"
    TPY=$(pick_python || true)
    echo "python for the PyTorch peer: ${TPY:-none has torch}"
}

main() {
    setup
    # 1. top thread count (+ the OpenBLAS kernels compared there), 2. the next one
    steps "t${TL[0]}" "${TL[0]}" 100 cores
    [ "${#TL[@]}" -gt 1 ] && steps "t${TL[1]}" "${TL[1]}" 90
    # 3. PyTorch at the same two thread counts, as installed
    torch_run "${TL[0]}" installed 60
    [ "${#TL[@]}" -gt 1 ] && torch_run "${TL[1]}" installed 60
    # 4. the sgemm peak at every thread count, one run
    bench peaks 45 "${TL[0]}" --only peak --thread-list "$(IFS=,; echo "${TL[*]}")"
    # 5. the plans blasnet makes at the top thread count (model, and measured)
    local b
    for b in ${PLAN_BATCHES}; do
        for p in estimate measure; do
            guard "plan-b$b-$p" 20 env ${CORE:+OPENBLAS_CORETYPE=$CORE} "$CLI" info --layers 784,1024,1024,10 \
                --batch "$b" --threads "${TL[0]}" --plan "$p"
        done
    done
    # 6. the remaining thread counts
    local i
    for (( i = 2; i < ${#TL[@]}; i++ )); do steps "t${TL[$i]}" "${TL[$i]}" 100; done
    # 7. every product under every partition, timed beside the cost model, at the top thread count
    for b in ${PLAN_BATCHES}; do
        bench "plans-b$b" 40 "${TL[0]}" --only plans --batch "$b" --budget "$PLANS_BUDGET"
    done
    # 8. PyTorch with OMP_WAIT_POLICY=passive
    torch_run "${TL[0]}" best 60
    [ "${#TL[@]}" -gt 1 ] && torch_run "${TL[1]}" best 60
    # 9. with time to spare: the top thread count again (run-to-run spread)
    if [ "$(left)" -gt 45 ]; then steps "repeat-t${TL[0]}" "${TL[0]}" 45; else echo "## [repeat] skipped: $(left)s left"; fi
    summary
    echo
    echo "## done at +$(elapsed)s; summary.txt:"
    cat "$OUT/summary.txt" 2>/dev/null
}

# Issue 25 (SWEEP_TEAM=1): the step of the default net and the big net at b32, b128 and b512 at every thread
# count, as blasnet-bench's team section runs it: one region with the update in the dW tiles (the default),
# the update after dW, a region per op, the owned layout and OpenBLAS's threading (library), interleaved.
# Steps, not epochs; most threads first. The tables are in sweep.log (one per net, batch and thread count).
team_main() {
    setup
    local t net b
    for t in "${TL[@]}"; do
        for net in 784,512,10 784,1024,1024,10; do
            for b in ${TEAM_BATCHES}; do
                local envs=(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t)
                [ -n "$CORE" ] && envs+=(OPENBLAS_CORETYPE=$CORE)
                guard "team-$net-b$b-t$t" 40 env "${envs[@]}" "$BENCH" --threads "$t" --layers "$net" --batch "$b" \
                    --only team --budget "$TEAM_BUDGET"
            done
        done
    done
    echo
    echo "## done at +$(elapsed)s"
}

if [ "${SWEEP_TEAM:-0}" = 1 ]; then team_main 2>&1 | tee -a "$OUT/sweep.log"
else main 2>&1 | tee -a "$OUT/sweep.log"; fi
rm -rf "$TMPD"
