"""Speed of the discrete engine on the paper's Figure 3 configuration (papers.md B.1).

Prints, all measured in this run:
* wall and CPU time of ``run_fig3()`` with defaults (10 seeds x 50 experiments x cold/warm/ideal,
  data generation and test accuracy included), best of a few repeats;
* one slider redraw of the Fig. 3 chapter with 3 seeds, two ways: the chapter's gamma / tau slider,
  which changes no data (``fig3_data`` drawn once, each redraw runs every method on it), and a slider
  that changes the data (N, K, J, C or the seeds: everything drawn again);
* peak memory (tracemalloc, numpy buffers included) and the process's peak resident size;
* the per-point Python reference (``theory_reference.py``) on a reduced configuration (fewer
  experiments J, everything else default): it must give identical arrays, and the ratio
  reference / engine on that same work; then an extrapolation of the reference to the full
  configuration. Cold start retrains on j N points at experiment j and ideal re-activates the points
  memorised so far, so the reference's time per experiment grows linearly in j: we fit a + b j to its
  measured per-experiment times, sum that over j = 1..50 and scale by the number of seeds.

Usage: python benchmarks/theory_fig3.py [--repeats 3] [--ref-seeds 1] [--ref-exp 16]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import theory_reference as ref  # noqa: E402

from plasticity_sim.theory import Fig3Config, fig3_data, run_fig3, sample_seed  # noqa: E402


def best_time(fn, repeats):
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def reference_run(cfg):
    """Run the reference on every seed/method of cfg; returns (seconds, {method: arrays (S, J, ...)})."""
    out = {m: {"features": [], "active_at_start": [], "n_memorised": [], "accuracy": [], "seconds": []}
           for m in ("cold", "warm", "ideal")}
    t = time.perf_counter()
    for seed in cfg.seeds:
        _, train, test = sample_seed(cfg, int(seed))
        for m in out:
            r = ref.simulate(train, test, n_per_exp=cfg.n_per_exp, n_exp=cfg.n_exp, gamma=cfg.gamma,
                             tau=cfg.tau, method=m)
            for key in out[m]:
                out[m][key].append(r[key])
    seconds = time.perf_counter() - t
    return seconds, {m: {k: np.array(v) for k, v in d.items()} for m, d in out.items()}


def check_same(cfg):
    """Reference vs engine on cfg: identical learned sets / counts, accuracy equal to 1e-12.

    Returns (reference seconds, reference seconds per experiment summed over seeds and methods)."""
    seconds, expect = reference_run(cfg)
    got = run_fig3(cfg)
    for m, e in expect.items():
        g = got[m]
        for key in ("features", "active_at_start", "n_memorised"):
            if not np.array_equal(getattr(g, key), e[key]):
                raise SystemExit(f"MISMATCH: engine and reference differ in {m}.{key}")
        if not np.allclose(g.accuracy, e["accuracy"], rtol=0, atol=1e-12):
            raise SystemExit(f"MISMATCH: engine and reference differ in {m}.accuracy")
    return seconds, sum(e["seconds"].sum(axis=0) for e in expect.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref-seeds", type=int, default=1)
    ap.add_argument("--ref-exp", type=int, default=16)
    args = ap.parse_args(argv)
    if args.ref_exp < 2 or args.ref_seeds < 1 or args.repeats < 1:
        raise SystemExit("need --ref-exp >= 2, --ref-seeds >= 1, --repeats >= 1")

    full = Fig3Config()
    redraw = Fig3Config(n_seeds=3)
    run_fig3(Fig3Config(n_seeds=1, n_exp=2))            # warm-up: imports, first-touch allocations
    wall, cpu = best_time(lambda: run_fig3(full), args.repeats)
    r_wall, r_cpu = best_time(lambda: run_fig3(redraw), max(args.repeats, 5))
    data = fig3_data(redraw)
    frames = [best_time(lambda: run_fig3(Fig3Config(n_seeds=3, gamma=g, tau=t), data=data), 5)[0]
              for g in (25, 50, 75, 100) for t in (2, 3, 5)]   # the chapter's gamma x tau slider
    tracemalloc.start()
    run_fig3(full)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(f"machine: {os.cpu_count()} CPU(s) visible, load average {os.getloadavg()[0]:.2f} "
          "(other processes inflate wall time; CPU time is this process only)")
    print(f"full Fig. 3 config (10 seeds x 50 exps x 3 methods, data + accuracy): "
          f"wall {wall:.3f} s, CPU {cpu:.3f} s (best of {args.repeats}; goal <= 1 s)")
    print(f"slider redraw, 3 seeds (goal <= 0.25 s): the chapter's gamma / tau slider (data reused), wall "
          f"median {np.median(frames):.3f} s, slowest {max(frames):.3f} s over its {len(frames)} frames "
          f"(best of 5 each); a slider that changes the data (all drawn again) wall {r_wall:.3f} s, "
          f"CPU {r_cpu:.3f} s")
    print(f"peak memory of one full run (tracemalloc): {peak / 2**20:.1f} MiB; "
          f"process peak RSS: {rss:.0f} MiB")

    # Reference on a reduced configuration (same seeds, N, K, C, gamma, tau; fewer experiments).
    cfg = Fig3Config(n_seeds=args.ref_seeds, n_exp=args.ref_exp)
    t_ref, per_exp = check_same(cfg)
    t_fast, _ = best_time(lambda: run_fig3(cfg), args.repeats)
    print(f"reference check OK on {args.ref_seeds} seed(s) x {args.ref_exp} exps: arrays identical; "
          f"reference {t_ref:.2f} s vs engine {t_fast * 1e3:.1f} ms -> ratio {t_ref / t_fast:,.0f}x")
    b, a = np.polyfit(np.arange(1, args.ref_exp + 1), per_exp, 1)
    j = np.arange(1, full.n_exp + 1)
    est = float(np.maximum(a + b * j, 0).sum()) * full.n_seeds / args.ref_seeds
    print(f"reference extrapolated to the full config (per-experiment time {a:.3f} + {b:.4f} j s, "
          f"summed to J={full.n_exp}, x {full.n_seeds // args.ref_seeds} seeds): ~{est:,.0f} s "
          f"-> engine ~{est / wall:,.0f}x faster (an extrapolation, not a measurement)")


if __name__ == "__main__":
    main()
