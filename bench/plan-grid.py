#!/usr/bin/env python3
"""The plans' grid (issue 24): whole training epochs of four networks at batch 32, 128 and 512, blasnet's
default plan against `--plan library` (OpenBLAS's own threading) and, when given, against another build's
default (a baseline rebuilt beside the tree). Every figure is samples/s as `blasnet train` prints it (the
training loop alone: measuring plans, loading data and the test are outside it).

Before the rounds, `blasnet tune` measures every shape of the grid into a wisdom file of the run's own (its
time is printed: what a first run on a new machine pays once), so that the default plan is the tuned one and
no round measures. Then each round runs every cell, its configurations in a rotating order, and the figures
are the medians over the rounds of each round's own ratios, so that a neighbour who slows the machine for a
minute touches both sides of a ratio. Never run it beside a build or a test suite: two busy OpenMP programs
on the same cores measure each other.

Usage: bench/plan-grid.py BLASNET [--baseline OTHER_BLASNET] [--rounds 5] [--data data/mnist] [--threads 2]
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

NETS = [  # name, --layers, flags of its recipe
    ("784-1024-1024-10 relu, sgd", "784,1024,1024,10", ["--optimizer", "sgd"]),
    ("784-512-10 relu, default recipe", "784,512,10", []),
    ("784-300-10 sigmoid, sgd", "784,300,10", ["--act", "sigmoid", "--optimizer", "sgd"]),
    ("784-64-10 relu, sgd", "784,64,10", ["--optimizer", "sgd"]),
]
BATCHES = [32, 128, 512]


def train(exe, layers, flags, batch, args, env, extra=()):
    cmd = [exe, "train", "--data", args.data, "--layers", layers, "--batch", str(batch), "--epochs", "1",
           "--threads", str(args.threads), "--quiet", *flags, *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    m = re.search(r"^train: [\d.]+ s, (\d+) samples/s", out.stdout, re.M)
    if out.returncode or not m:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    if "measured" in out.stderr:
        print(f"  note: a round measured plans: {out.stderr.strip()}", file=sys.stderr)
    return int(m.group(1))


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("blasnet")
    ap.add_argument("--baseline", help="another build's blasnet, run at its default plan")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    wisdom = os.path.join(tempfile.mkdtemp(prefix="blasnet-grid-"), "wisdom")
    env = dict(os.environ, BLASNET_WISDOM=wisdom)
    env.pop("BLASNET_PLAN", None)
    for name, layers, _ in NETS:
        start = time.monotonic()
        subprocess.run([args.blasnet, "tune", "--layers", layers, "--batch", ",".join(map(str, BATCHES)),
                        "--threads", str(args.threads)], env=env, check=True, capture_output=True)
        print(f"tune {name}: {time.monotonic() - start:.1f} s for batches {BATCHES} (measured once per machine)")
    configs = [("default", args.blasnet, ())]
    configs.append(("library", args.blasnet, ("--plan", "library")))
    if args.baseline:
        configs.append(("baseline", args.baseline, ()))
    rates = {}  # (net, batch, config) -> [samples/s per round]
    for rnd in range(args.rounds):
        for i, (name, layers, flags) in enumerate(NETS):
            for j, batch in enumerate(BATCHES):
                k = (rnd + i + j) % len(configs)
                for label, exe, extra in configs[k:] + configs[:k]:
                    rate = train(exe, layers, flags, batch, args, env, extra)
                    rates.setdefault((name, batch, label), []).append(rate)
        print(f"round {rnd + 1} of {args.rounds} done", file=sys.stderr)
    report(rates, configs, args)


def ratio(rates, net, batch, a, b):
    return statistics.median(x / y for x, y in zip(rates[(net, batch, a)], rates[(net, batch, b)]))


def report(rates, configs, args):
    # with a baseline: its own default against library (the table before), and the two defaults
    pairs = [("default", "library")] + ([("baseline", "library"), ("default", "baseline")] if args.baseline else [])
    print(f"\n{args.rounds} rounds, {args.threads} threads; medians of each round's ratio; samples/s of the default")
    for a, b in pairs:
        print(f"\n{a} / {b}\n| net | " + " | ".join(f"b{x}" for x in BATCHES) + " |")
        print("| --- |" + " --- |" * len(BATCHES))
        cells = []
        for name, _, _ in NETS:
            row = [ratio(rates, name, batch, a, b) for batch in BATCHES]
            cells += row
            print(f"| {name} | " + " | ".join(
                f"{r:.2f}x ({statistics.median(rates[(name, batch, 'default')]):.0f}/s)" if a == "default" and
                b == "library" else f"{r:.2f}x" for r, batch in zip(row, BATCHES)) + " |")
        print(f"geometric mean {geomean(cells):.2f}x, worst cell {min(cells):.2f}x")


if __name__ == "__main__":
    main()
