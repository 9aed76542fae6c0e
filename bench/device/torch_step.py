"""PyTorch's training step of the MLP blasnet-bench times, on the CPU, for the device sweep (self-contained).

The step is the bench's (and bench/peers.py's): forward, softmax cross-entropy (mean over the batch),
backward (no gradient for the input pixels), SGD with momentum 0.9, lr 1e-3; one fixed batch of random
pixels in [0,1) and random labels, as blasnet-bench's step sweeps use. samples/s = batch / median step,
like blasnet-bench's samples/s column; GFLOP/s uses the bench's FLOP count (2*in*out per product; three
products per layer except two for the first). Every row is printed and appended to --csv as it is measured.
usage: python3 torch_step.py --threads 16 --batches 32,256 --budget 1 [--settings installed] [--csv FILE]
"""
import argparse
import csv
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="784,1024,1024,10")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batches", default="32,256,64,128,512")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed steps per batch size")
    ap.add_argument("--settings", default="installed", help="a label for the environment (set by the caller)")
    ap.add_argument("--csv")
    ap.add_argument("--describe", action="store_true", help="also print torch's parallel/config summary")
    args = ap.parse_args()
    layers = [int(v) for v in args.layers.split(",")]
    batches = [int(v) for v in args.batches.split(",")]

    t_import = time.perf_counter()
    import torch
    t_import = time.perf_counter() - t_import
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mods = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    flops_per_sample = sum(2.0 * layers[l] * layers[l + 1] * (2 if l == 0 else 3) for l in range(len(layers) - 1))

    env = " ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                                                     "MKL_NUM_THREADS", "GLIBC_TUNABLES"))
    print(f"torch {torch.__version__} ({t_import:.1f} s to import), get_num_threads {torch.get_num_threads()}, "
          f"mkl {torch.backends.mkl.is_available()}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"settings {args.settings}: {env}", flush=True)
    if args.describe:
        print(torch.__config__.parallel_info().strip(), flush=True)
    print(f"{'batch':>6} {'who':<20} {'thr':>3} {'runs':>5} {'step ms':>9} {'best ms':>9} {'samples/s':>11} "
          f"{'GFLOP/s':>9}", flush=True)

    f = open(args.csv, "a", newline="") if args.csv else None
    wr = None
    if f:
        wr = csv.writer(f)
        if f.tell() == 0:
            wr.writerow(["who", "settings", "threads", "batch", "runs", "median_s", "min_s", "samples_s",
                         "gflops", "torch"])
            f.flush()
    for b in batches:
        x = torch.rand(b, layers[0])
        y = torch.randint(0, layers[-1], (b,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        # warm-up: a few steps, at least 5 or a tenth of the budget (first calls at a new shape are slow)
        w0 = time.perf_counter()
        n = 0
        while n < 5 or (time.perf_counter() - w0 < 0.1 * args.budget and n < 200):
            step()
            n += 1
        times = []
        start = time.perf_counter()
        while len(times) < 3 or (time.perf_counter() - start < args.budget and len(times) < 100000):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        med, best = statistics.median(times), min(times)
        name = f"torch:{args.settings}"
        print(f"{b:>6} {name:<20} {args.threads:>3} {len(times):>5} {med * 1e3:>9.3f} {best * 1e3:>9.3f} "
              f"{b / med:>11.0f} {flops_per_sample * b / med * 1e-9:>9.2f}", flush=True)
        if wr:
            wr.writerow([name, args.settings, args.threads, b, len(times), f"{med:.6g}", f"{best:.6g}",
                         f"{b / med:.6g}", f"{flops_per_sample * b / med * 1e-9:.6g}", torch.__version__])
            f.flush()
    if f:
        f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
