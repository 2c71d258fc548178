"""Benchmark: the cost of the bridge part's study (`python -m plasticity_sim study bridge/networks`).

    python benchmarks/bridge_study.py [--workers 2] [--seed 0]

Runs one seed of every job of the study (2 networks x their methods: 9 jobs, the same jobs the study
runs, each in a spawned worker with one torch thread) and prints each job's wall time and the
projected wall time of the whole study (its 5 seeds) on the same workers; the goal is <= 30 min on a
2-core CPU.

Baseline, measured in the same run: one seed of the DASH part's `tiny` chunked cold run (MLP,
MNIST-1D), the unit the CLI's cost estimates use. The printed ratio is the bridge study's projected
worker time over that run's time: the study's cost in units of the book's cheapest real-network run,
which carries over to another machine where absolute seconds do not.
"""
from __future__ import annotations

import json
from pathlib import Path

from study_bench import parse, run

from plasticity_sim import study as runner
from plasticity_sim import sweep


def main(argv: list[str] | None = None) -> int:
    args, tmp = parse(__doc__, argv, "bridge_study")

    bridge = runner.select("bridge/networks")[0]
    jobs = runner.jobs(bridge, seeds=[args.seed], out_dir=tmp / "bridge")
    wall = run(jobs, args.workers)
    per_job = {Path(j["out"]).stem: json.loads(Path(j["out"]).read_text())["provenance"]["wall_time_s"]
               for j in jobs}
    for name, s in sorted(per_job.items(), key=lambda kv: -kv[1]):
        print(f"  {name:18s} {s:6.1f} s")
    seeds = len(bridge.seeds)
    worker_s = sum(per_job.values()) * seeds
    print(f"one seed: {len(jobs)} jobs in {wall:.1f} s wall ({sum(per_job.values()):.1f} s of worker time)")
    print(f"projected `study bridge/networks` ({seeds} seeds) on {args.workers} worker(s): "
          f"{wall * seeds / 60:.1f} min wall, {worker_s / 60:.1f} min of worker time (goal <= 30 min on 2 cores)")

    base = sweep.make_jobs("chunked", "tiny", ["cold"], [args.seed], [], out_dir=str(tmp / "base"))
    base_wall = run(base, 1)
    print(f"baseline, `tiny` chunked cold run (seed {args.seed}): {base_wall:.1f} s")
    print(f"ratio: the whole bridge study = {worker_s / base_wall:.1f} baseline runs of worker time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
