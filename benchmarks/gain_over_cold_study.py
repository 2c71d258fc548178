"""Benchmark: the cost of the J sweep (`python -m plasticity_sim study dash/j_sweep_mlp`, `_cnn`, ...).

    python benchmarks/gain_over_cold_study.py [--workers 2] [--seed 0] [--studies mlp,cnn,capacity,tuning]
                                              [--no-baseline]

Runs one seed of each named study's jobs (the same jobs the study runs, in spawned workers with one
torch thread each), prints per arm its run time and steps, and projects each study's wall time at its
own seeds on the same workers (one seed's wall time x the number of seeds: every seed runs the same
jobs). Goals on 2 cores: the MLP sweep <= 60 min, the whole study (all four) <= 3 h.

Baseline, measured in the same run: the work the sweep saves. Without seed streams keyed by the
number of points (``streams="by_size"``), cold's last experiment differs at every J and cold must be
run whole at each J; the sweep instead runs the shared last experiment once (``cold_last``) and whole
cold runs only at J = 5 and 10. The baseline runs cold whole at J = 20 and 50 for the same seed (the
runs the sweep does not make) and prints the saving: the naive MLP sweep's projected wall time over
the shipped one's.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from study_bench import parse, run

from plasticity_sim import protocols, sweep
from plasticity_sim import study as runner

STUDIES = {"mlp": "dash/j_sweep_mlp", "cnn": "dash/j_sweep_cnn", "capacity": "dash/j_capacity",
           "tuning": "dash/j_tuning"}


def _arm_times(jobs: list[dict]) -> dict[str, list[float]]:
    """{arm folder: [run seconds, steps]} from the results files the jobs wrote."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for job in jobs:
        r = protocols.load_results(job["out"])
        arm = Path(job["out"]).parent.name
        out[arm][0] += r["provenance"]["wall_time_s"]
        out[arm][1] += r["summary"]["total_steps"]
    return out


def main(argv: list[str] | None = None) -> int:
    args, tmp = parse(__doc__, argv, "gain_over_cold_study", [
        ("--studies", {"default": "mlp,cnn,capacity,tuning", "help": "comma-separated: " + ", ".join(STUDIES)}),
        ("--no-baseline", {"action": "store_true", "help": "skip cold's whole runs at J = 20 and 50"})])
    names = [s.strip() for s in args.studies.split(",") if s.strip()]
    bad = [n for n in names if n not in STUDIES]
    if bad or not names:
        tmp.rmdir()   # nothing half-written
        print(f"--studies {args.studies!r}: unknown {bad or 'empty'}; use some of {', '.join(STUDIES)}",
              file=sys.stderr)
        return 2

    projected = {}
    for name in names:
        study = runner.select(STUDIES[name])[0]
        jobs = runner.jobs(study, seeds=[min(study.seeds)], out_dir=tmp / name)
        jobs.sort(key=lambda j: (j["preset"] != "tiny_cnn", j["method"] != "cold"))   # as the runner does
        wall = run(jobs, args.workers)
        print(f"\n{STUDIES[name]}: one seed, {len(jobs)} runs, {wall:.0f} s wall")
        for arm, (sec, steps) in sorted(_arm_times(jobs).items(), key=lambda kv: -kv[1][0]):
            print(f"  {arm:22s} {sec:7.1f} s run time {steps:9.0f} steps {1e3 * sec / max(steps, 1):6.2f} ms/step")
        projected[name] = wall * len(study.seeds)
        print(f"  projected ({len(study.seeds)} seeds) on {args.workers} worker(s): {projected[name] / 60:.1f} min")
    if "mlp" in projected:
        print(f"\nMLP sweep: {projected['mlp'] / 60:.1f} min projected (goal <= 60 min on 2 cores)")
    print(f"named studies together: {sum(projected.values()) / 60:.1f} min projected "
          f"(goal for all four <= 180 min on 2 cores)")

    if not args.no_baseline and "mlp" in projected:
        naive = [job for j in (20, 50) for job in sweep.make_jobs(
            "chunked", "tiny", ["cold"], [args.seed], ["streams=by_size", f"num_chunks={j}"],
            out_dir=str(tmp / f"naive_J{j}"))]
        naive_wall = run(naive, args.workers)
        seeds = len(runner.select(STUDIES["mlp"])[0].seeds)
        with_naive = projected["mlp"] + naive_wall * seeds
        print(f"\nbaseline: cold whole at J = 20 and 50 (seed {args.seed}): {naive_wall:.0f} s wall")
        print(f"MLP sweep without the shared cold run: {with_naive / 60:.1f} min projected; "
              f"ratio naive / shipped = {with_naive / projected['mlp']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
