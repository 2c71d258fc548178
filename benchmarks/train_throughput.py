"""Benchmark: images/s of `train_until` vs a plain DataLoader loop, same model, optimizer and data.

    python benchmarks/train_throughput.py [--threads 2] [--epochs 2] [--repeats 7] [--resnet-images 256]

Sections (all in one run, so the ratios compare like with like on the same machine state):
  1. CPU, MNIST-1D (8,000 x 1 x 40; `load_dataset("mnist1d")`, or synthetic tensors of that shape if
     the `mnist1d` package is missing): the small CNN and the MLP, AdamW lr 1e-2, batch 128.
     Goal: our loop >= 1.5x the DataLoader loop.
  2. CPU, ResNet-18 on random 32x32 images (a few steps: compute-bound, the loop barely matters).
  3. CUDA only: ResNet-18 on random CIFAR-sized data already on the GPU: fp32 vs bf16 autocast +
     channels_last (our loop), and the DataLoader loop (pinned CPU tensors, fp32) for reference.

The DataLoader loop is what the official DASH code does: `DataLoader(TensorDataset, shuffle=True)`,
`num_workers=0`, and per-batch `.item()` for the running loss and accuracy. "bare" is a lower bound:
pre-permuted tensor slices and forward/backward/step with no bookkeeping at all.
Threads: every loop runs with the same `torch.set_num_threads(--threads)`, default 1. These models are
too small for intra-op parallelism to pay at batch 128, and on a shared 2-core machine two OpenMP
threads per process made steps up to 10x slower and the timings erratic (measured while writing this).
Each round runs the three loops back to back after one warm-up epoch of each; the ratios printed are
the medians of the per-round ratios over `--repeats` rounds (with the lowest and highest round), as
wall-clock and as process CPU time (the latter stays meaningful when other jobs share the cores). Peak memory: `resource.getrusage` maxrss of this process, and `torch.cuda.max_memory_allocated`
per GPU configuration.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from plasticity_sim.models import build_model
from plasticity_sim.train import make_optimizer, train_until


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def mnist1d_tensors():
    try:
        from plasticity_sim.data import load_dataset
        data = load_dataset("mnist1d")
        return data.x_train, data.y_train, "MNIST-1D via load_dataset('mnist1d')"
    except (ImportError, ModuleNotFoundError, ValueError) as err:
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(8000, 1, 40, generator=g), torch.randint(0, 10, (8000,), generator=g)
        return x, y, f"SYNTHETIC tensors of MNIST-1D's shape (load_dataset failed: {err})"


class Clock:
    """Wall-clock and process CPU time of a block (CPU time is robust when other jobs share the cores)."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_ours(model, x, y, opt, epochs, batch_size, seed, **kw):
    """`train_until` for `epochs` epochs (target 1.0 so it does not stop early) -> (images, Clock)."""
    with Clock(x.device) as clock:
        res = train_until(model, x, y, optimizer=opt, target_train_acc=1.0, max_epochs=epochs,
                          batch_size=batch_size, generator=torch.Generator().manual_seed(seed), **kw)
    return res.epochs * len(x), clock


def run_dataloader(model, x, y, opt, epochs, batch_size, seed, device=None):
    """The plain loop: DataLoader(TensorDataset) with shuffle, per-batch .item() -> (images, Clock)."""
    device = device or x.device
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), pin_memory=device.type == "cuda")
    model.train()
    with Clock(device) as clock:
        for _ in range(epochs):
            correct, total_loss = 0, 0.0
            for xb, yb in loader:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                correct += (logits.argmax(1) == yb).sum().item()
                total_loss += loss.item() * len(yb)
    return epochs * len(x), clock


def run_bare(model, x, y, opt, epochs, batch_size, seed):
    """Lower bound: pre-permuted slices, forward/backward/step only, no bookkeeping -> (images, Clock)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with Clock(x.device) as clock:
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            xs, ys = x[perm], y[perm]
            for i in range(0, len(x), batch_size):
                loss = F.cross_entropy(model(xs[i:i + batch_size]), ys[i:i + batch_size])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return epochs * len(x), clock


def compare(label, make_model, x, y, *, opt_name, lr, epochs, repeats, batch_size=128):
    """Run ours / DataLoader / bare back to back `repeats` times (fresh identical model each).

    Prints median images/s and the median of the per-round ratios (each round's three loops run within
    seconds of each other, so a ratio is robust to the machine's speed drifting between rounds), with
    the lowest and highest round. Returns (median wall ratio, median CPU-time ratio) of ours/DataLoader.
    """
    runners = {"ours": run_ours, "DataLoader": run_dataloader, "bare": run_bare}
    rounds = []
    for r in range(repeats + 1):  # r == 0 is the warm-up (one epoch each, not recorded)
        row = {}
        for key, runner in runners.items():
            m = make_model()
            images, clock = runner(m, x, y, make_optimizer(opt_name, m.parameters(), lr=lr),
                                   1 if r == 0 else epochs, batch_size, r)
            row[key] = (images / clock.wall, images / clock.cpu)
        if r:
            rounds.append(row)
    lines, result = [], []
    for i, kind in enumerate(("wall-clock", "CPU-time ")):
        rate = {k: statistics.median(row[k][i] for row in rounds) for k in runners}
        vs_dl = [row["ours"][i] / row["DataLoader"][i] for row in rounds]
        vs_bare = [row["ours"][i] / row["bare"][i] for row in rounds]
        result.append(statistics.median(vs_dl))
        lines.append(f"   {kind} img/s: ours {rate['ours']:>8.0f}  DataLoader {rate['DataLoader']:>8.0f}  "
                     f"bare {rate['bare']:>8.0f}   ours/DataLoader {statistics.median(vs_dl):4.2f}x "
                     f"(rounds {min(vs_dl):.2f}-{max(vs_dl):.2f})   ours/bare {statistics.median(vs_bare):4.2f}")
    print(label, *lines, sep="\n", flush=True)
    return tuple(result)


def gpu_section(args):
    device = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    n = args.gpu_images
    x_cpu = torch.randn(n, 3, 32, 32, generator=g)
    y_cpu = torch.randint(0, 10, (n,), generator=g)
    x, y = x_cpu.to(device), y_cpu.to(device)
    print(f"\n[3] CUDA {torch.cuda.get_device_name(device)}: ResNet-18, {n} random 3x32x32 images on the GPU, "
          f"batch 128, SGD lr 1e-3 momentum 0.9, {args.gpu_epochs} epoch(s) after a 1-epoch warm-up")
    configs = [("fp32", dict(amp=False, channels_last=False)),
               ("bf16 autocast", dict(amp=True, channels_last=False)),
               ("bf16 + channels_last", dict(amp=True, channels_last=True))]
    if args.compile:
        configs.append(("bf16 + channels_last + compile", dict(amp=True, channels_last=True, compile=True)))
    rates = {}
    for label, kw in configs:
        model = build_model("resnet18", (3, 32, 32), 10, seed=0).to(device)
        opt = make_optimizer("sgd", model.parameters(), lr=1e-3)
        run_ours(model, x, y, opt, 1, 128, 0, **kw)  # warm-up (cudnn autotune, compile)
        torch.cuda.reset_peak_memory_stats(device)
        images, clock = run_ours(model, x, y, opt, args.gpu_epochs, 128, 1, **kw)
        rates[label] = images / clock.wall
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"  ours {label:<32} {rates[label]:>9.0f} img/s  ({rates[label] / rates['fp32']:4.2f}x fp32)  "
              f"peak GPU memory {peak:7.0f} MiB", flush=True)
    model = build_model("resnet18", (3, 32, 32), 10, seed=0).to(device)
    opt = make_optimizer("sgd", model.parameters(), lr=1e-3)
    run_dataloader(model, x_cpu, y_cpu, opt, 1, 128, 0, device=device)
    torch.cuda.reset_peak_memory_stats(device)
    images, clock = run_dataloader(model, x_cpu, y_cpu, opt, args.gpu_epochs, 128, 1, device=device)
    dl = images / clock.wall
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    print(f"  DataLoader fp32 (pinned CPU data)      {dl:>9.0f} img/s  (ours fp32 is {rates['fp32'] / dl:4.2f}x, "
          f"ours bf16+channels_last is {rates['bf16 + channels_last'] / dl:4.2f}x)  peak GPU memory {peak:7.0f} MiB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per timed MNIST-1D run")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--resnet-images", type=int, default=256, help="CPU ResNet-18: images per run (0 = skip)")
    ap.add_argument("--gpu-images", type=int, default=10_000)
    ap.add_argument("--gpu-epochs", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile on CUDA")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}")

    x, y, source = mnist1d_tensors()
    print(f"\n[1] CPU, {source}: {tuple(x.shape)}, batch 128, AdamW lr 1e-2, "
          f"{args.repeats} rounds of {args.epochs} epochs per loop")
    shape = tuple(x.shape[1:])
    ratios = {
        "cnn": compare("small 1-D CNN (8 k params)", lambda: build_model("cnn", shape, 10, seed=0), x, y,
                       opt_name="adamw", lr=1e-2, epochs=args.epochs, repeats=args.repeats),
        "mlp": compare("MLP 40-256-256-10", lambda: build_model("mlp", shape, 10, seed=0), x, y,
                       opt_name="adamw", lr=1e-2, epochs=args.epochs, repeats=args.repeats),
    }
    for key, (w, c) in ratios.items():
        print(f"goal ours >= 1.5x DataLoader on CPU, {key}: {'met' if min(w, c) >= 1.5 else 'NOT met'} "
              f"(wall {w:.2f}x, CPU time {c:.2f}x)")
    print(f"peak RSS so far {maxrss_mib():.0f} MiB")

    if args.resnet_images:
        g = torch.Generator().manual_seed(0)
        xr = torch.randn(args.resnet_images, 3, 32, 32, generator=g)
        yr = torch.randint(0, 10, (args.resnet_images,), generator=g)
        print(f"\n[2] CPU, ResNet-18 on {args.resnet_images} random 3x32x32 images "
              f"({args.resnet_images // 128} steps of 128), SGD lr 1e-3, one timed epoch")
        compare("ResNet-18 (11.2 M params)", lambda: build_model("resnet18", (3, 32, 32), 10, seed=0), xr, yr,
                opt_name="sgd", lr=1e-3, epochs=1, repeats=1)
        print(f"peak RSS so far {maxrss_mib():.0f} MiB")

    if torch.cuda.is_available():
        gpu_section(args)
    else:
        print("\n[3] no CUDA device: GPU section (bf16 + channels_last vs fp32) skipped")
    print(f"\npeak RSS of the whole run: {maxrss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
