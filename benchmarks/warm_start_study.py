"""Benchmark: the cost of the DASH part's CPU study (`python -m plasticity_sim study main`).

    python benchmarks/warm_start_study.py [--workers 2] [--seed 0] [--no-baseline]

Runs one seed of the study's main arms (9 methods x {MLP, CNN} = 18 runs, the same jobs the study
runs, in spawned workers with one torch thread each) and prints, per run, its wall time, SGD steps and
milliseconds per step, and where the time goes (training steps vs the intervention between
experiments); then the projected wall time of the whole study (5 seeds) on the same workers.

Baseline, measured in the same run: the book's previous real-network study, the `small` preset
(AdamW lr 1e-2, 8,000 points, J = 10), cold and warm for the same seed. The printed ratio is the
previous setting's mean seconds per run over the new one's: how much less work a run does now.
"""
from __future__ import annotations

import numpy as np
from study_bench import parse, run

from plasticity_sim import protocols, sweep
from plasticity_sim import study as runner
from plasticity_sim.dash import cpu_study as study


def _run(jobs: list[dict], workers: int) -> tuple[float, list[dict]]:
    wall = run(jobs, workers)
    return wall, [protocols.load_results(job["out"]) for job in jobs]


def _row(r: dict) -> dict:
    exps = r["experiments"]
    wall = r["provenance"]["wall_time_s"]
    inter = sum(e["intervention_time"] for e in exps)
    steps = r["summary"]["total_steps"]
    return {"model": r["config"]["model"], "method": r["config"]["method"], "wall": wall, "steps": steps,
            "ms_per_step": 1e3 * (wall - inter) / max(steps, 1), "intervention_share": inter / wall,
            "capped": sum(not e["reached_target"] for e in exps)}


def main(argv: list[str] | None = None) -> int:
    args, tmp = parse(__doc__, argv, "warm_start_study",
                      [("--no-baseline", {"action": "store_true", "help": "skip the previous setting's runs"})])

    main_study = runner.select("dash/main")[0]
    jobs = runner.jobs(main_study, seeds=[args.seed], out_dir=tmp / "new")
    jobs.sort(key=lambda j: (j["preset"] != "tiny_cnn", j["method"] != "cold"))  # as the study does
    wall, results = _run(jobs, args.workers)
    rows = [_row(r) for r in results]
    print(f"\n{'model':5s} {'method':15s} {'wall s':>7s} {'steps':>7s} {'ms/step':>8s} {'interv. %':>9s} {'capped':>6s}")
    for r in sorted(rows, key=lambda r: (r["model"], -r["wall"])):
        print(f"{r['model']:5s} {r['method']:15s} {r['wall']:7.1f} {r['steps']:7d} {r['ms_per_step']:8.2f} "
              f"{100 * r['intervention_share']:9.1f} {r['capped']:6d}")
    per_run = np.array([r["wall"] for r in rows])
    for model in ("mlp", "cnn"):
        sub = [r for r in rows if r["model"] == model]
        cold = next(r["wall"] for r in sub if r["method"] == "cold")
        print(f"{model}: {np.mean([r['wall'] for r in sub]):.1f} s per run on average; cold "
              f"{cold:.1f} s = {100 * cold / sum(r['wall'] for r in sub):.0f} % of the model's time; "
              f"{np.mean([r['ms_per_step'] for r in sub]):.2f} ms per step")
    n_full = len(runner.jobs(main_study, out_dir=tmp / "x"))
    print(f"\none seed: {len(jobs)} runs in {wall:.1f} s wall ({per_run.sum():.1f} s of run time)")
    print(f"projected `study dash/main` ({n_full} runs, {len(study.SEEDS)} seeds) on {args.workers} worker(s): "
          f"{wall * n_full / len(jobs) / 60:.1f} min (goal <= 30 min on 2 cores)")

    if not args.no_baseline:
        old = sweep.make_jobs("chunked", "small", ["cold", "warm"], [args.seed], [], out_dir=str(tmp / "old"))
        old_wall, old_results = _run(old, args.workers)
        old_per_run = np.mean([r["provenance"]["wall_time_s"] for r in old_results])
        new_mlp = np.mean([r["wall"] for r in rows if r["model"] == "mlp" and r["method"] in ("cold", "warm")])
        print(f"\nbaseline, previous setting (`small`, AdamW, cold + warm, seed {args.seed}): "
              f"{old_per_run:.1f} s per run, {old_wall:.1f} s wall")
        print(f"ratio previous / new (cold + warm, MLP): {old_per_run / new_mlp:.2f}x less time per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
