#!/usr/bin/env python3
"""Two builds of blasnet against each other on this machine, interleaved, the order alternating each round:
the ratio a change buys, as the median of each round's own ratio (its range beside it), since on a shared
guest absolute times move by 10-40% between rounds.

  bench/ab.py train ROUNDS OLD NEW [train flags...]   samples/s of `blasnet train` (OLD, NEW: the CLIs)
  bench/ab.py step ROUNDS OLD NEW [bench flags...]    each row of `blasnet-bench --only recipe` (OLD, NEW: the
                                                      benches), step time OLD / NEW

Each build keeps its own wisdom file, measured before the first round, so neither times the other's plans.
Above 1: NEW is faster. Never run it beside a build, a test suite or another timing."""
import os
import re
import statistics
import subprocess
import sys
import tempfile


def output_of(cmd, env):
    """stdout and stderr of cmd; a failed run ends this script with the command and what it printed"""
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"ab: failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    return out.stdout + out.stderr


def samples_per_s(exe, flags, env):
    found = re.findall(r"^train: [0-9.]+ s, ([0-9]+) samples/s", output_of([exe, "train", *flags], env), re.M)
    if not found:
        sys.exit(f"ab: no 'train:' line from {exe}")
    return {"samples/s": float(found[-1])}


def step_ms(exe, flags, env):
    rows = {}
    for line in output_of([exe, "--only", "recipe", *flags], env).splitlines():
        m = re.match(r"^((?:sgd|adam)\S*(?: [^ ]+)*?)\s{2,}([0-9.]+)\s+[0-9.]+x$", line)
        if m:
            rows[m.group(1)] = float(m.group(2))
    if not rows:
        sys.exit(f"ab: no recipe rows from {exe}")
    return rows


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("train", "step") or not sys.argv[2].isdigit():
        print("usage:\n" + __doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    mode, rounds, old, new, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
    measure = samples_per_s if mode == "train" else step_ms
    envs = {}
    for name, exe in (("old", old), ("new", new)):
        env = dict(os.environ, BLASNET_WISDOM=os.path.join(tempfile.mkdtemp(prefix="blasnet-ab-"), "wisdom"))
        envs[name] = env
        if mode == "train":  # plans measured once, before any timing (the bench plans by itself)
            measure(exe, flags, env)
    ratios, values = {}, {"old": {}, "new": {}}
    for r in range(rounds):
        order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
        got = {name: measure(exe, flags, envs[name]) for name, exe in order}
        for key in got["old"]:
            if key not in got["new"]:
                continue
            a, b = got["old"][key], got["new"][key]
            ratios.setdefault(key, []).append(b / a if mode == "train" else a / b)
            values["old"].setdefault(key, []).append(a)
            values["new"].setdefault(key, []).append(b)
        print(f"round {r + 1} of {rounds} done", file=sys.stderr)
    unit = "samples/s" if mode == "train" else "step ms"
    print(f"{rounds} rounds, order alternating; medians; new / old speed (range over the rounds)")
    print(f"{'what':28s} {'old ' + unit:>14s} {'new ' + unit:>14s}   ratio")
    digits = 0 if mode == "train" else 3
    for key, rs in ratios.items():
        a, b = statistics.median(values["old"][key]), statistics.median(values["new"][key])
        print(f"{key:28s} {a:14.{digits}f} {b:14.{digits}f}   {statistics.median(rs):.3f}x ({min(rs):.3f}-{max(rs):.3f})")


if __name__ == "__main__":
    main()
