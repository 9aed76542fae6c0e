#!/usr/bin/python3
"""The same MLP training step as blasnet in PyTorch, in libtorch's C++ API and in vectorised numpy, beside
blasnet's own figure.

Each peer runs in a child process per (peer, settings, threads), because thread pools and OpenBLAS kernels
are fixed when a library loads: "installed" is this environment as it is, "best" adds OMP_WAIT_POLICY=passive
(PyTorch), OPENBLAS_CORETYPE=<best core for this CPU> (every OpenBLAS user, blasnet included) and, for the
libtorch peer (build/bench/blasnet-peer-libtorch, built where libtorch-dev is installed), its --best-env:
it re-executes itself with the settings it measured best for the libraries it loaded (the top of
bench/peer_libtorch.cpp says which and why). Optional at run time: blasnet never depends on Python. Usage: bench/peers.py [--batches 64,256] [--threads 1,2] [--act relu] [--rounds 5]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_core():
    """OpenBLAS 0.3.21's best x86-64 kernel for this CPU, by the same rule as bn_cpu_best_blas_core()."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return None
    if "avx512_bf16" in flags:
        return "Cooperlake"
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def settings_env(peer, settings, threads):
    env = dict(os.environ)
    if peer in ("numpy", "libtorch"):
        # their matrix products are OpenBLAS's: its pool takes its size from these (libtorch's
        # set_num_threads reaches the OpenMP build's, not the pthread one's)
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
    if settings == "best":
        core = best_core()
        if core:
            env["OPENBLAS_CORETYPE"] = core
        if peer == "torch":
            env["OMP_WAIT_POLICY"] = "passive"  # read when libgomp loads: it must be in the env before import
    return env


# ---- the workers: one process, one library, one thread count, every batch size ---------------------------

def time_steps(step, budget):
    """Median seconds of step() after two warm-up calls, repeated for budget seconds (at least 3 calls)."""
    step()
    step()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def blas_libs():
    """Which BLAS libraries this process mapped (OpenBLAS variant, MKL, ...): the reader should know."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if any(k in base for k in ("openblas", "libblas", "mkl", "dnnl", "gomp", "libomp")):
                    libs.add(path)
    except OSError:
        pass
    return sorted(libs)


def worker_torch(layers, batches, threads, budget, act):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    mods = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[act]())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    out = []
    for b in batches:
        x = torch.rand(b, layers[0])
        y = torch.randint(0, layers[-1], (b,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        med, runs = time_steps(step, budget)
        out.append({"batch": b, "step_s": med, "runs": runs, "samples_s": b / med})
    info = {"version": torch.__version__, "threads": torch.get_num_threads(), "libs": blas_libs()}
    return out, info


def worker_numpy(layers, batches, threads, budget, act):
    import numpy as np
    # each activation as a pair: forward from h, derivative from the activation's output a (relu: a > 0)
    fwd = {"relu": lambda h: np.maximum(h, 0), "sigmoid": lambda h: 1 / (1 + np.exp(-h)), "tanh": np.tanh}[act]
    dact = {"relu": lambda a: a > 0, "sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a * a}[act]
    rng = np.random.default_rng(0)
    L = len(layers) - 1
    W = [(rng.standard_normal((layers[i], layers[i + 1])) * np.sqrt(2.0 / layers[i])).astype(np.float32)
         for i in range(L)]
    bias = [np.zeros(layers[i + 1], dtype=np.float32) for i in range(L)]
    vW = [np.zeros_like(w) for w in W]
    vb = [np.zeros_like(b) for b in bias]
    lr, mu = np.float32(1e-3), np.float32(0.9)
    out = []
    for B in batches:
        X = rng.random((B, layers[0]), dtype=np.float32)
        y = rng.integers(0, layers[-1], B)
        rows = np.arange(B)

        def step():
            # forward, the way the coursework writes it
            acts = [X]
            a = X
            for i in range(L):
                h = a @ W[i] + bias[i]
                a = fwd(h) if i < L - 1 else h
                acts.append(a)
            logits = acts[-1]
            shifted = logits - logits.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            probs = e / e.sum(axis=1, keepdims=True)
            _loss = -np.log(probs[rows, y]).mean()
            # backward
            g = probs
            g[rows, y] -= 1
            g /= B
            for i in range(L - 1, -1, -1):
                dW = acts[i].T @ g
                db = g.sum(axis=0)
                if i > 0:
                    g = (g @ W[i].T) * dact(acts[i])
                # SGD with momentum
                vW[i] *= mu
                vW[i] -= lr * dW
                W[i] += vW[i]
                vb[i] *= mu
                vb[i] -= lr * db
                bias[i] += vb[i]

        med, runs = time_steps(step, budget)
        out.append({"batch": B, "step_s": med, "runs": runs, "samples_s": B / med})
    info = {"version": np.__version__, "threads": threads, "libs": blas_libs()}
    return out, info


# ---- the orchestrator ------------------------------------------------------------------------------------

def run_worker(peer, settings, threads, args):
    if peer == "libtorch":
        return run_libtorch(settings, threads, args)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", peer, "--threads", str(threads),
           "--layers", args.layers, "--act", args.act, "--batches", args.batches, "--budget", str(args.budget)]
    p = subprocess.run(cmd, env=settings_env(peer, settings, threads), capture_output=True, text=True)
    if p.returncode != 0:
        print(f"peers.py: {peer} ({settings}, {threads} threads) failed:\n{p.stderr.strip()[-2000:]}",
              file=sys.stderr)
        return None, None
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):  # one bad round must not lose the others
        print(f"peers.py: {peer} ({settings}, {threads} threads) printed no result:\n{p.stdout[-500:]}",
              file=sys.stderr)
        return None, None
    return {r["batch"]: r for r in res["results"]}, res["info"]


def run_libtorch(settings, threads, args):
    """bench/peer_libtorch.cpp's binary: one `peer=libtorch key=value ...` line per batch size, `#` lines
    describing the run (version, environment, the libraries it mapped)."""
    cmd = [args.libtorch, "--mode", "steps", "--threads", str(threads), "--layers", args.layers, "--act", args.act,
           "--batches", args.batches, "--budget", str(args.budget)] + (["--best-env"] if settings == "best" else [])
    p = subprocess.run(cmd, env=settings_env("libtorch", settings, threads), capture_output=True, text=True)
    if p.returncode != 0:
        print(f"peers.py: libtorch ({settings}, {threads} threads) failed:\n{p.stderr.strip()[-2000:]}",
              file=sys.stderr)
        return None, None
    res, info = {}, {"version": "?", "threads": threads, "libs": []}
    for line in p.stdout.splitlines():
        if line.startswith("peer=libtorch "):
            kv = dict(item.split("=", 1) for item in line.split())
            res[int(kv["batch"])] = {"samples_s": float(kv["samples_s"]), "step_s": float(kv["step_ms"]) / 1e3,
                                     "runs": int(kv["runs"])}
        elif line.startswith("# libtorch "):
            info["version"] = line.split()[2].rstrip(",")
        elif "libraries: " in line:
            info["libs"] = line.split("libraries: ", 1)[1].split()
        elif line.startswith("# ") and "(best here: " in line:
            info.setdefault("env", []).append(line[2:].split(" (best here")[0])
    return res, info


def run_blasnet(settings, threads, args):
    exe = args.blasnet
    if not os.access(exe, os.X_OK):
        print(f"peers.py: {exe} not built (ninja -C build); blasnet's column stays empty", file=sys.stderr)
        return None
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    if settings == "best" and best_core():
        env["OPENBLAS_CORETYPE"] = best_core()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "b.csv")
        cmd = [exe, "--only", "batch", "--backends", "blas", "--layers", args.layers, "--act", args.act,
               "--batches", args.batches,
               "--threads", str(threads), "--budget", str(args.budget), "--csv", out]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            print(f"peers.py: blasnet-bench failed:\n{p.stdout[-1500:]}{p.stderr[-1500:]}", file=sys.stderr)
            return None
        res = {}
        with open(out) as f:
            for r in csv.DictReader(f):
                if r["section"] == "step" and r["backend"] == "blas":
                    res[int(r["batch"])] = {"samples_s": float(r["samples_s"])}
        return res


def samples(table, key, batch):
    """samples/s of every round that measured this batch"""
    return [r[batch]["samples_s"] for r in table.get(key, []) if r and batch in r]


def ratio_text(table, peer, s, t, b):
    """blasnet / peer: the median of the rounds' own ratios (and their range, with more than one round)"""
    pairs = zip(table.get(("blasnet", s, t), []), table.get((peer, s, t), []))
    ratios = sorted(bn[b]["samples_s"] / pr[b]["samples_s"] for bn, pr in pairs if bn and pr and b in bn and b in pr)
    if not ratios:
        return None
    text = f"{peer} {s} {statistics.median(ratios):.2f}x"
    return text + (f" ({ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} rounds)" if len(ratios) > 1 else "")


def print_table(table, peers, settings, threads, batches, args):
    """One line per thread count and batch: each side's median samples/s over the rounds, and the ratios;
    returns every round's figure for the CSV."""
    who = (["blasnet"] if not args.no_blasnet else []) + peers
    cols = [(w, s) for s in settings for w in who]
    print()
    print(f"{'thr':>3} {'batch':>6} " + " ".join(f"{w + ' ' + s:>18}" for w, s in cols) + "   blasnet/peer")
    rows = []
    for t in threads:
        for b in batches:
            vals = []
            for w, s in cols:
                got = samples(table, (w, s, t), b)
                vals.append(statistics.median(got) if got else float("nan"))
            ratios = [ratio_text(table, peer, s, t, b) for s in settings for peer in peers]
            print(f"{t:>3} {b:>6} " + " ".join(f"{v:>18.0f}" for v in vals) + "   " +
                  ", ".join(r for r in ratios if r))
            for w, s in cols:
                for rnd, r in enumerate(table.get((w, s, t), [])):
                    rows.append({"who": w, "settings": s, "threads": t, "batch": b, "round": rnd,
                                 "samples_s": r[b]["samples_s"] if r and b in r else float("nan")})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", default="784,1024,1024,10")
    ap.add_argument("--act", default="relu", choices=["relu", "sigmoid", "tanh"], help="hidden activation")
    ap.add_argument("--batches", default="16,64,256,1024")
    ap.add_argument("--threads", default=None, help="comma list (default 1..all cores)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per figure")
    ap.add_argument("--peers", default="torch,numpy,libtorch")
    ap.add_argument("--settings", default="installed,best")
    ap.add_argument("--blasnet", default=os.path.join(ROOT, "build", "bench", "blasnet-bench"))
    ap.add_argument("--libtorch", default=os.path.join(ROOT, "build", "bench", "blasnet-peer-libtorch"))
    ap.add_argument("--no-blasnet", action="store_true")
    ap.add_argument("--csv", help="write every figure here")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure everything this many times, alternating; medians over the rounds")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    layers = [int(v) for v in args.layers.split(",")]
    batches = [int(v) for v in args.batches.split(",")]

    if args.worker:
        fn = worker_torch if args.worker == "torch" else worker_numpy
        results, info = fn(layers, batches, int(args.threads), args.budget, args.act)
        print(json.dumps({"results": results, "info": info}))
        return 0

    peers = []
    for peer in args.peers.split(","):
        if peer == "libtorch":
            if os.access(args.libtorch, os.X_OK):
                peers.append(peer)
            else:
                print(f"peers.py: {args.libtorch} not built (it needs g++ and libtorch-dev: apt-get install "
                      f"libtorch-dev, then meson setup --reconfigure build); skipping libtorch", file=sys.stderr)
            continue
        mod = "torch" if peer == "torch" else "numpy"
        if subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode != 0:
            print(f"peers.py: {sys.executable} cannot import {mod}: apt-get install python3-{mod} (Debian's modules are "
                  f"for /usr/bin/python3); skipping {peer}",
                  file=sys.stderr)
        else:
            peers.append(peer)
    if not peers and args.no_blasnet:
        print("peers.py: nothing to run (no peer installed)", file=sys.stderr)
        return 1
    threads = ([int(v) for v in args.threads.split(",")] if args.threads
               else list(range(1, (os.cpu_count() or 1) + 1)))
    settings = args.settings.split(",")
    print(f"peers: {args.layers} {args.act}, SGD momentum 0.9, random data; best core: {best_core()}; "
          f"env OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print("installed = this environment as it is; best = + OPENBLAS_CORETYPE=<best core> (every OpenBLAS user), "
          "OMP_WAIT_POLICY=passive (PyTorch) and --best-env (libtorch: its env line says what it set); "
          "figures are samples/s, median step")

    # (who, settings, threads) -> one {batch: result} per round; rounds alternate blasnet and the peers, so a
    # neighbour that slows the machine for a minute hits both sides of some rounds' ratios, not one side of all
    table = {}
    described = set()
    for rnd in range(args.rounds):
        for t in threads:
            for s in settings:
                # blasnet first in even rounds, last in odd ones: neither side always runs on a cooler machine
                order = ([] if args.no_blasnet else ["blasnet"]) + peers
                for who in (order if rnd % 2 == 0 else order[::-1]):
                    if who == "blasnet":
                        table.setdefault(("blasnet", s, t), []).append(run_blasnet(s, t, args))
                        continue
                    res, info = run_worker(who, s, t, args)
                    table.setdefault((who, s, t), []).append(res)
                    if info and t == threads[0] and (who, s) not in described:
                        described.add((who, s))
                        print(f"  {who} {s}: version {info['version']}, threads {info['threads']}, "
                              f"libraries {', '.join(os.path.join(*x.split('/')[-2:]) for x in info['libs']) or '?'}")
                        if info.get("env"):
                            print(f"  {who} {s}: env {' '.join(info['env'])}")
    rows = print_table(table, peers, settings, threads, batches, args)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=["who", "settings", "threads", "batch", "round", "samples_s"])
            wr.writeheader()
            wr.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
