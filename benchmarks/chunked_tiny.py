"""Benchmark: the `tiny` chunked preset, every method, one seed (goal: <= 2 min on 2 cores).

    python benchmarks/chunked_tiny.py [--workers 2] [--seed 0] [--methods cold,warm,...] [--out-dir DIR]

Runs the same jobs as ``python -m plasticity_sim sweep chunked --preset tiny`` (spawned worker
processes, one torch thread each) and prints the wall time per method and in total, the peak
resident memory (``resource`` maxrss of this process and of its largest worker), and the Table-1
summary (test accuracy and steps at the last experiment and averaged over experiments).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from plasticity_sim import methods, protocols, sweep
from plasticity_sim.protocols.specs import CHUNKED_PRESETS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(methods.trainable()))
    ap.add_argument("--out-dir", default=None, help="keep the results files here (default: a temp dir)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="chunked_tiny_"))
    jobs = sweep.make_jobs("chunked", "tiny", [m for m in args.methods.split(",") if m], [args.seed],
                           args.overrides, out_dir=str(out_dir), overwrite=True)
    print(f"tiny preset: {CHUNKED_PRESETS['tiny']}")
    print(f"{len(jobs)} runs on {args.workers} worker(s); python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}", flush=True)

    t0 = time.perf_counter()
    failures = sweep.run_jobs_local(jobs, workers=args.workers,
                                  on_done=lambda p: print(f"  done {Path(p).name} at "
                                                          f"{time.perf_counter() - t0:5.1f} s", flush=True))
    total = time.perf_counter() - t0
    for job, reason in failures:
        print(f"FAILED {job['out']}: {reason}", file=sys.stderr)
    results = [protocols.load_results(job["out"]) for job in jobs if Path(job["out"]).is_file()]

    print(f"\n{'method':15s} {'wall s':>7s} {'acc last':>9s} {'acc avg':>8s} {'steps last':>10s} "
          f"{'steps avg':>9s} {'total steps':>11s}")
    for r in results:
        s = r["summary"]
        print(f"{r['method']['name']:15s} {r['provenance']['wall_time_s']:7.1f} {100 * s['test_acc_last']:9.2f} "
              f"{100 * s['test_acc_avg']:8.2f} {s['steps_last']:10d} {s['steps_avg']:9.1f} {s['total_steps']:11d}")
    per_run = [r["provenance"]["wall_time_s"] for r in results]
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN reports the largest terminated worker.
    self_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\ntotal wall time {total:.1f} s for {len(jobs)} runs on {args.workers} worker(s) "
          f"(sum of per-run protocol times {sum(per_run):.1f} s; goal <= 120 s on 2 cores)")
    print(f"peak memory (maxrss): this process {self_mib:.0f} MiB, largest worker {child_mib:.0f} MiB")
    by = {r["method"]["name"]: r["summary"]["test_acc_last"] for r in results}
    if "warm" in by and "cold" in by:
        print(f"warm - cold at the last experiment: {100 * (by['warm'] - by['cold']):+.2f} pts")
    print(f"results files: {out_dir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
