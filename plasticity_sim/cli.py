r"""Command line: ``python -m plasticity_sim run|sweep|list|book ...``.

    python -m plasticity_sim run chunked --preset tiny --method dash --seed 0 \
        [--set key=value ...] [--out results/x.json] [--checkpoint-dir DIR] [--resume] [--quiet] \
        [--threads N]
    python -m plasticity_sim sweep chunked --preset tiny --methods cold,warm,sp,dash --seeds 0,1,2 \
        [--workers 2] [--out-dir results/sweep] [--backend process|ray] [--set ...] [--overwrite]
    python -m plasticity_sim list                # presets, methods and their measured costs
    python -m plasticity_sim book execute|build  # forwarded to plasticity_sim.book.main

A sweep is a list of jobs, each a plain dict handed to :func:`plasticity_sim.runs.run_job`, a pure
``config -> results file`` function: a local process pool runs them here, and the same jobs can be
handed to Ray (``--backend ray``) or any other scheduler.

Bad input (unknown preset, method, config key, value) prints ``error: ...`` and exits with status 2
before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plasticity_sim import runs

PROTOCOLS = ("chunked",)


class UsageError(ValueError):
    """A bad command line: reported as ``error: ...`` with exit status 2."""


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _csv(text)]
    except ValueError:
        raise UsageError(f"bad --seeds {text!r}; expected comma-separated integers such as 0,1,2") from None


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m plasticity_sim",
                                 description="Warm-start experiments of the Plasticity Book.")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("protocol", choices=PROTOCOLS)
        p.add_argument("--preset", default="tiny", help=f"one of {', '.join(runs.PRESETS)} (default tiny)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, typed by the field (repeatable); "
                            "dict entries as key.sub=value")
        p.add_argument("--checkpoint-dir", default=None, help="checkpoint after every experiment here")
        p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
        p.add_argument("--quiet", action="store_true", help="no progress bars or messages")

    run = sub.add_parser("run", help="one run; writes one results JSON")
    common(run)
    run.add_argument("--method", default="warm", help=f"one of {', '.join(runs.METHODS)}")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)")
    run.add_argument("--out", default=None, help="results file (default results/<protocol>_<preset>_<method>_seed<seed>.json)")

    sweep = sub.add_parser("sweep", help="methods x seeds in parallel processes")
    common(sweep)
    sweep.add_argument("--methods", default="cold,warm,sp,dash")
    sweep.add_argument("--seeds", default="0")
    sweep.add_argument("--workers", type=int, default=2)
    sweep.add_argument("--out-dir", default=None, help="default results/sweep_<protocol>_<preset>")
    sweep.add_argument("--backend", choices=("process", "ray"), default="process")
    sweep.add_argument("--overwrite", action="store_true",
                       help="rerun jobs whose results file already exists")

    sub.add_parser("list", help="presets, methods and measured costs")
    book = sub.add_parser("book", help="forwarded to plasticity_sim.book", add_help=False)
    book.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


def _config(preset: str, method: str, seed: int, overrides: list[str], quiet: bool) -> runs.ChunkedConfig:
    base = runs.preset_config(preset, method=method, seed=seed, progress=not quiet)
    return runs.apply_overrides(base, overrides)


def _eta_line(preset: str, n_runs: int, workers: int, overridden: bool) -> str:
    cost = runs.PRESET_COST.get(preset, {})
    per_run = cost.get("cpu_2core_s")
    if per_run is None:
        return f"cost of preset {preset!r}: {cost.get('note', 'not measured')}"
    waves = -(-n_runs // max(1, workers))
    line = (f"expected about {per_run * waves:.0f} s for {n_runs} run(s) on {workers} worker(s) "
            f"(measured {per_run:.0f} s per run of preset {preset!r} on a 2-core CPU)")
    return line + ("; --set overrides may change this" if overridden else "")


def _default_out(protocol: str, preset: str, method: str, seed: int) -> Path:
    return Path("results") / f"{protocol}_{preset}_{method}_seed{seed}.json"


def _cmd_run(args) -> int:
    config = _config(args.preset, args.method, args.seed, args.overrides, args.quiet)
    out = Path(args.out) if args.out else _default_out(args.protocol, args.preset, args.method, args.seed)
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads} must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    if not args.quiet:
        print(f"[plasticity_sim] {args.protocol} preset={args.preset} method={config.method} "
              f"seed={config.seed} device={config.device} -> {out}")
        print("[plasticity_sim] " + _eta_line(args.preset, 1, 1, bool(args.overrides)), flush=True)
    results = runs.run_config(config, out=out, checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    if not args.quiet:
        s = results["summary"]
        print(f"[plasticity_sim] done in {results['provenance']['wall_time_s']:.1f} s: "
              f"test acc last {s['test_acc_last']:.4f}, avg {s['test_acc_avg']:.4f}; "
              f"steps last {s['steps_last']}, avg {s['steps_avg']:.1f} -> {out}")
    return 0


def make_jobs(args) -> list[dict]:
    """Jobs of a sweep (plain dicts for :func:`plasticity_sim.runs.run_job`), validated up front.

    ``args`` has the sweep options (protocol, preset, methods, seeds, overrides, out_dir,
    checkpoint_dir, resume); one job per (method, seed), each with its own results file.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    methods, seeds = _csv(args.methods), _seeds(args.seeds)
    if not methods or not seeds:
        raise UsageError("a sweep needs at least one method and one seed")
    out_dir = Path(args.out_dir or Path("results") / f"sweep_{args.protocol}_{args.preset}")
    jobs = []
    for method in methods:
        for seed in seeds:
            # progress bars from parallel workers would interleave; the sweep reports per job
            config = _config(args.preset, method, seed, args.overrides, quiet=True)
            job = {"protocol": args.protocol, "config": config.to_dict(),
                   "out": str(out_dir / f"{args.protocol}_{args.preset}_{method}_seed{seed}.json"),
                   "checkpoint_dir": (str(Path(args.checkpoint_dir) / f"{method}_seed{seed}")
                                      if args.checkpoint_dir else None),
                   "resume": bool(args.resume)}
            jobs.append(job)
    return jobs


def _pending(jobs: list[dict], overwrite: bool, quiet: bool) -> list[dict]:
    """Drop jobs already done with the same config; refuse to clobber a different one."""
    todo = []
    for job in jobs:
        out = Path(job["out"])
        if out.exists() and not overwrite:
            try:
                same = runs.same_results_config(runs.load_results(out)["config"], job["config"])
            except ValueError:
                same = False
            if not same:
                raise UsageError(f"{out} exists with a different or invalid config; "
                                 "use --overwrite or another --out-dir")
            if not quiet:
                print(f"[plasticity_sim] skip (already done): {out}")
            continue
        todo.append(job)
    return todo


def _check_jobs(jobs: list[dict]) -> None:
    """Check every job here before any starts (bad method parameters, chunks that do not divide the
    data...), so a bad sweep fails at once with status 2 and nothing written. Loading the data here
    also means a download happens once, before the workers start."""
    from plasticity_sim.protocols import get_check

    seen = set()
    for job in jobs:
        key = runs.json_dumps({k: v for k, v in job["config"].items() if k != "seed"})
        if key not in seen:
            seen.add(key)
            get_check(job["protocol"])(runs.config_from_dict(job["config"]))


def _cmd_sweep(args) -> int:
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers} must be >= 1")
    jobs = make_jobs(args)
    todo = _pending(jobs, args.overwrite, args.quiet)
    if todo and args.backend == "ray":
        _import_ray()  # a missing backend is a usage error, found before any work
    _check_jobs(todo)
    if not args.quiet:
        print(f"[plasticity_sim] sweep {args.protocol} preset={args.preset}: {len(jobs)} job(s), "
              f"{len(todo)} to run, backend={args.backend}, workers={args.workers}")
        print("[plasticity_sim] " + _eta_line(args.preset, len(todo), args.workers, bool(args.overrides)),
              flush=True)
    report = None if args.quiet else (lambda path: print(f"[plasticity_sim] wrote {path}", flush=True))
    if args.backend == "ray":
        failures = run_jobs_ray(todo, on_done=report)
    else:
        failures = run_jobs_local(todo, workers=args.workers, on_done=report)
    for job, err in failures:
        print(f"error: job {job['out']} failed: {type(err).__name__}: {err}", file=sys.stderr)
    done = [job["out"] for job in jobs if Path(job["out"]).is_file()]
    if not args.quiet and done:
        print(format_summary_table([runs.load_results(path) for path in done]))
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------
# Executors: each runs plain-dict jobs through runs.run_job and returns [(job, exception)] failures.
def _worker_init() -> None:
    import torch

    # One thread per worker: N workers on N cores beat N workers fighting over N*N threads.
    torch.set_num_threads(1)


def run_jobs_local(jobs: list[dict], *, workers: int = 2, on_done=None) -> list[tuple[dict, BaseException]]:
    """Run sweep jobs in ``workers`` spawned processes (in this process when ``workers == 1``).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    failures = []
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            try:
                path = runs.run_job(job)
            except Exception as err:  # one failed job must not lose the others' results
                failures.append((job, err))
            else:
                if on_done:
                    on_done(path)
        return failures
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child would inherit torch's thread pools and any CUDA context.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as pool:
        futures = {pool.submit(runs.run_job, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                path = future.result()
            except Exception as err:
                failures.append((futures[future], err))
            else:
                if on_done:
                    on_done(path)
    return failures


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--backend ray needs the optional dependency ray "
                          "(pip install 'plasticity_sim[ray]'); use --backend process otherwise") from None
    return ray


def run_jobs_ray(jobs: list[dict], *, on_done=None) -> list[tuple[dict, BaseException]]:
    """Run sweep jobs as Ray tasks (``ray.init()`` joins a running cluster or starts a local one).

    Ray is optional (``pip install plasticity_sim[ray]``); results files are written by the tasks, so
    ``out`` paths must be on storage every node can reach.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    ray = _import_ray()
    ray.init(ignore_reinit_error=True)
    task = ray.remote(num_cpus=1)(runs.run_job)
    refs = {task.remote(job): job for job in jobs}
    failures = []
    for ref, job in refs.items():
        try:
            path = ray.get(ref)
        except Exception as err:
            failures.append((job, err))
        else:
            if on_done:
                on_done(path)
    return failures


def format_summary_table(results: list[dict]) -> str:
    """Table-1 columns per method, mean ± population std over seeds (accuracies in %).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    import numpy as np

    by_method: dict[str, list[dict]] = {}
    for r in results:
        by_method.setdefault(r["method"]["name"], []).append(r["summary"])
    cols = (("test_acc_last", 100, "acc last %"), ("test_acc_avg", 100, "acc avg %"),
            ("steps_last", 1, "steps last"), ("steps_avg", 1, "steps avg"))
    lines = [f"{'method':15s} {'seeds':>5s} " + " ".join(f"{title:>16s}" for _, _, title in cols)]
    for method, summaries in by_method.items():
        cells = []
        for key, scale, _ in cols:
            v = np.array([s[key] for s in summaries], dtype=float) * scale
            cells.append(f"{v.mean():9.2f} ({v.std():5.2f})")
        lines.append(f"{method:15s} {len(summaries):5d} " + " ".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def _cmd_list(args) -> int:
    print("presets:")
    for name, values in runs.PRESETS.items():
        cost = runs.PRESET_COST[name]
        print(f"  {name:6s} {values['dataset']}/{values['model']}, {values['num_chunks']} chunks, "
              f"{values['optimizer']} lr {values['lr']:g}; cost: "
              + (f"{cost['cpu_2core_s']:.0f} s per run on a 2-core CPU" if cost["cpu_2core_s"] else cost["note"]))
    print("methods:")
    for name, (intervention, params) in runs.METHODS.items():
        print(f"  {name:15s} -> get_intervention({intervention!r}{''.join(f', {k}={v!r}' for k, v in params.items())})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m plasticity_sim``; returns the exit status (2 = bad input).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["book"]:  # forward untouched: book.py owns its own options
        from plasticity_sim import book
        return int(book.main(argv[1:]) or 0)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed its message
        return int(exit_.code or 0)
    try:
        return {"run": _cmd_run, "sweep": _cmd_sweep, "list": _cmd_list}[args.command](args)
    except (UsageError, ValueError, FileNotFoundError, ImportError) as err:
        # Config, preset, data and missing-backend problems: nothing has been written yet.
        print(f"error: {err}", file=sys.stderr)
        return 2
