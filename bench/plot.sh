#!/bin/sh
# Plots blasnet-bench's step sweeps with gnuplot into bench/out/ (git-ignored): samples/s against batch size
# per backend (log-log), the same as % of the sgemm peak, and thread scaling. Reads a CSV written by
# `blasnet-bench --csv`, or runs the full sweep first when given none. Usage: bench/plot.sh [sweep.csv]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
build="${BLASNET_BUILD:-$root/build}"

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot not found; install it with: apt-get install gnuplot-nox" >&2
    exit 1
fi
mkdir -p "$out"

if [ $# -ge 1 ]; then
    csv="$1"
    [ -r "$csv" ] || { echo "plot.sh: cannot read $csv" >&2; exit 1; }
else
    bench="$build/bench/blasnet-bench"
    [ -x "$bench" ] || { echo "plot.sh: $bench not built; run: ninja -C $build" >&2; exit 1; }
    csv="$out/sweep.csv"
    echo "plot.sh: running the full sweep (a few minutes): $bench --sweep --only peak,batch,threads --csv $csv"
    "$bench" --sweep --only peak,batch,threads --csv "$csv" > "$out/sweep.txt"
    echo "plot.sh: tables in $out/sweep.txt"
fi

# CSV columns (bench/report.c): 2 backend, 3 op, 5 threads, 6 batch, 13 pct_peak, 15 samples_s.
# One data file per backend and sweep; gnuplot then needs no CSV filtering of its own.
header=$(head -n 1 "$csv")
case "$header" in
    section,backend,op,shape,threads,batch,*) ;;
    *) echo "plot.sh: $csv is not a blasnet-bench CSV (header: $header)" >&2; exit 1 ;;
esac
for be in naive naive-omp blas; do
    awk -F, -v be="$be" '$1 == "step" && $2 == be && $3 == "step-batch" && $15 != "" { print $6, $15, $13 }' \
        "$csv" | sort -n > "$out/batch_$be.dat"
    awk -F, -v be="$be" '$1 == "step" && $2 == be && $3 == "step-threads" && $15 != "" { print $5, $15, $13 }' \
        "$csv" | sort -n > "$out/threads_$be.dat"
done
meta=$(awk -F, '$1 == "peak" { core = $3 } $1 == "step" { arch = $4 }
                END { sub("sgemm-", "", core); print arch "; OpenBLAS kernel " core }' "$csv")
tbatch=$(awk -F, '$3 == "step-threads" { print $6; exit }' "$csv")

# plot only the files that have data (a sweep may leave a backend out)
series() { # $1 prefix, $2 using, $3 extra style
    sep=""
    for be in naive naive-omp blas; do
        f="$out/$1_$be.dat"
        if [ -s "$f" ]; then
            printf '%s"%s" using %s with linespoints lw 2 pt 7 %s title "%s"' "$sep" "$f" "$2" "$3" "$be"
            sep=", "
        fi
    done
}

# thread scaling beside the line a perfectly scaling blas would follow from its 1-thread figure
ideal=$(awk '$1 == 1 { print $2; exit }' "$out/threads_blas.dat")
thr_plot=$(series threads 1:2 "")
[ -n "$ideal" ] && thr_plot="$thr_plot, $ideal * x with lines dt 2 lc \"gray\" title \"blas, linear from 1 thread\""
[ -n "$(series batch 1:2 "")" ] || { echo "plot.sh: no step-batch rows in $csv" >&2; exit 1; }
[ -n "$thr_plot" ] || thr_plot='NaN notitle'

gnuplot <<EOF
set terminal pngcairo size 900,600 font "DejaVu Sans,11"
set grid
set key top left

set output "$out/batch_samples.png"
set title "blasnet training step: samples/s vs batch size ($meta)"
set xlabel "batch size"
set ylabel "samples/s"
set logscale xy
plot $(series batch 1:2 "")

set output "$out/batch_peak.png"
set title "blasnet training step as % of measured sgemm peak ($meta)"
set ylabel "% of sgemm peak (same thread count)"
unset logscale y
set logscale x
set yrange [0:100]
plot $(series batch 1:3 "")

set output "$out/threads.png"
set title "thread scaling, batch $tbatch ($meta)"
set xlabel "threads"
set ylabel "samples/s (log)"
unset logscale
set logscale y
set autoscale
set xtics 1
plot $thr_plot
EOF
echo "plot.sh: wrote $out/batch_samples.png $out/batch_peak.png $out/threads.png"
