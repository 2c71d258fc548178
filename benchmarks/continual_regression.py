"""Benchmark: the vectorised slowly-changing regression (30 runs in one batch) vs the same 30 runs
one after another, and the steps per second of the online permuted-input benchmark.

    python benchmarks/continual_regression.py [--runs 30] [--steps 5000] [--method cbp] [--tasks 2]

Prints the wall time of both ways, their ratio, and the largest difference of the binned errors
between them (the batch reproduces the sequential runs: each run has its own generators); then one
online permuted-input run (MNIST-1D, batch 1, the package MLP) and its optimizer steps per second.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
import torch

from plasticity_sim.protocols.continual import run_permuted, run_regression
from plasticity_sim.protocols.specs import PermutedConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--method", default="cbp", choices=("bp", "cbp", "l2", "sp"))
    ap.add_argument("--tasks", type=int, default=2, help="permuted tasks to time (0 skips)")
    ap.add_argument("--samples-per-task", type=int, default=1000)
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}")
    seeds = list(range(args.runs))
    kw = dict(steps=args.steps, bin_size=args.steps // 5, method=args.method,
              replacement_rate=1e-3 if args.method == "cbp" else 1e-4, maturity_threshold=100)
    t = time.perf_counter()
    batch = run_regression(seeds, **kw)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    single = [run_regression([s], **kw) for s in seeds]
    t_seq = time.perf_counter() - t
    err_seq = np.concatenate([s["error"] for s in single])
    diff = float(np.max(np.abs(batch["error"] - err_seq) / np.maximum(1.0, np.abs(err_seq))))
    same_counts = all(int(batch["replaced"][r]) == int(single[r]["replaced"][0]) for r in range(args.runs))
    print(f"slowly-changing regression, {args.runs} runs x {args.steps} steps, method {args.method}:")
    print(f"  vectorised (one batch): {t_batch:7.2f} s  ({args.runs * args.steps / t_batch:,.0f} run-steps/s)")
    print(f"  sequential (one by one): {t_seq:7.2f} s  ({args.runs * args.steps / t_seq:,.0f} run-steps/s)")
    print(f"  speed-up: {t_seq / t_batch:.1f}x; largest relative difference of the binned errors {diff:.1e}; "
          f"same replacement counts: {same_counts}")
    ok = diff < 1e-3 and same_counts
    if args.tasks:
        cfg = PermutedConfig(num_tasks=args.tasks, samples_per_task=args.samples_per_task, batch_size=1,
                             method="warm", probe_points=100)
        t = time.perf_counter()
        out = run_permuted(cfg)
        dt = time.perf_counter() - t
        steps = sum(r["steps"] for r in out.records)
        print(f"online permuted inputs (MNIST-1D, MLP 40-{cfg.width}x{cfg.depth - 1}-10, batch 1, diagnostics "
              f"per task included): {steps} steps in {dt:.1f} s = {steps / dt:,.0f} steps/s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
