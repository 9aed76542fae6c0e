"""Tables from what the sweep has written so far: $OUT/bench.csv (every blasnet-bench record, with the
invocation's name in the first column), $OUT/torch.csv and the end-of-run peak re-checks in sweep.log.
usage: python3 summary.py OUTDIR   (prints; sweep.sh writes it to OUTDIR/summary.txt after every phase)

% of peak here is against the HIGHEST square-sgemm peak measured at that thread count anywhere in the sweep
(start, end-of-run re-check, the peaks phase): a disturbed peak can only flatter, so the highest is the
honest base. The bench's own %peak column (in the log) is against its own start peak."""
import csv
import math
import os
import re
import sys
from collections import defaultdict


def f(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def main():
    out = sys.argv[1]
    peaks = defaultdict(list)  # threads -> [GFLOP/s]
    steps = {}                 # (threads, batch, plan) -> record of the first run that measured it
    repeats = {}               # the same from "repeat-" runs: run-to-run spread
    bpath = os.path.join(out, "bench.csv")
    if os.path.exists(bpath):
        with open(bpath) as fh:
            for r in csv.DictReader(fh):
                if r["section"] == "peak" and r["op"].startswith("sgemm-"):
                    peaks[int(r["threads"])].append(f(r["gflops"]))
                elif r["section"] == "step":
                    plan = r["backend"].split(":", 1)[1] if ":" in r["backend"] else "estimate"
                    key = (int(r["threads"]), int(r["batch"]), plan)
                    dest = repeats if r["run"].startswith("repeat") else steps
                    dest.setdefault(key, r)
    lpath = os.path.join(out, "sweep.log")
    if os.path.exists(lpath):
        with open(lpath, errors="replace") as fh:
            for m in re.finditer(r"peak at (\d+) threads measured again at the end: ([\d.]+) GFLOP/s", fh.read()):
                peaks[int(m.group(1))].append(float(m.group(2)))
    peak = {t: max(v for v in vs if v == v) for t, vs in peaks.items() if any(v == v for v in vs)}

    print("== sgemm peak, square sgemm at --peak-n (all measurements at each thread count; max is the base) ==")
    for t in sorted(peaks):
        vals = ", ".join(f"{v:.0f}" for v in peaks[t])
        print(f"  {t:>3} threads: max {peak.get(t, float('nan')):8.1f} GFLOP/s  ({vals})"
              + (f"  = {peak[t] / peak[1]:.1f}x 1 thread" if 1 in peak and t in peak else ""))

    plans = ["library", "estimate", "measure"]
    plans += sorted({p for (_, _, p) in steps} - set(plans))
    for t in sorted({t for (t, _, _) in steps}, reverse=True):
        print(f"\n== whole step 784-1024-1024-10 relu, {t} threads: median step ms, % of peak "
              f"({peak.get(t, float('nan')):.0f} GFLOP/s), (best-step %), samples/s ==")
        print(f"{'batch':>6} " + " ".join(f"{p:>34}" for p in plans if any(k[2] == p and k[0] == t for k in steps))
              + "   est/lib  best/lib")
        for b in sorted({b for (tt, b, _) in steps if tt == t}):
            cells, sps = [], {}
            for p in plans:
                if not any(k[2] == p and k[0] == t for k in steps):
                    continue
                r = steps.get((t, b, p))
                if not r:
                    cells.append(f"{'-':>34}")
                    continue
                pk = peak.get(t, float("nan"))
                flops = f(r["gflops"]) * f(r["median_s"])  # GFLOP per step
                pct = 100 * f(r["gflops"]) / pk
                best_pct = 100 * flops / f(r["min_s"]) / pk
                sps[p] = f(r["samples_s"])
                cells.append(f"{f(r['median_s']) * 1e3:8.3f} ms {pct:5.1f}% ({best_pct:5.1f}%) {sps[p]:8.0f}/s")
            lib = sps.get("library")
            est = sps.get("estimate")
            best = max(sps.values()) if sps else None
            extra = (f"   {est / lib:6.2f}x  {best / lib:6.2f}x" if lib and est else "")
            print(f"{b:>6} " + " ".join(cells) + extra)

    if repeats:
        print("\n== run-to-run: the repeat run's samples/s over the first run's (same threads, batch, plan) ==")
        for k in sorted(repeats, key=lambda k: (-k[0], k[1], k[2])):
            if k in steps:
                print(f"  {k[0]:>3} thr b{k[1]:<4} {k[2]:<9} {f(repeats[k]['samples_s']) / f(steps[k]['samples_s']):6.2f}x")

    tpath = os.path.join(out, "torch.csv")
    if os.path.exists(tpath):
        torch_rows = {}
        with open(tpath) as fh:
            for r in csv.DictReader(fh):
                torch_rows[(int(r["threads"]), int(r["batch"]), r["settings"])] = r
        if torch_rows:
            print("\n== blasnet vs PyTorch (same step: fwd + xent + bwd + SGD momentum, fixed random batch), "
                  "samples/s on the median step ==")
            print(f"{'thr':>3} {'batch':>6} {'blasnet est':>12} {'blasnet best':>13} {'plan':>9} "
                  f"{'torch inst':>11} {'torch best':>11}   est/torch  best/torch (torch = the faster setting)")
            for (t, b) in sorted({(t, b) for (t, b, _) in torch_rows}, key=lambda k: (-k[0], k[1])):
                est = steps.get((t, b, "estimate"))
                cand = [(f(r["samples_s"]), p) for (tt, bb, p), r in steps.items() if tt == t and bb == b]
                bsps, bplan = max(cand) if cand else (float("nan"), "-")
                ti = torch_rows.get((t, b, "installed"))
                tb = torch_rows.get((t, b, "best"))
                tis = f(ti["samples_s"]) if ti else float("nan")
                tbs = f(tb["samples_s"]) if tb else float("nan")
                tt_ = max(v for v in (tis, tbs, float("-inf")) if v == v)
                es = f(est["samples_s"]) if est else float("nan")
                print(f"{t:>3} {b:>6} {es:>12.0f} {bsps:>13.0f} {bplan:>9} {tis:>11.0f} {tbs:>11.0f}   "
                      f"{es / tt_:8.2f}x  {bsps / tt_:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
