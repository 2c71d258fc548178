r"""Command line: ``python -m plasticity_sim run|sweep|list ...`` for every registered protocol.

    python -m plasticity_sim run chunked --preset tiny --method dash --seed 0 \
        [--set key=value ...] [--out results/x.json] [--checkpoint-dir DIR] [--resume] [--overwrite] \
        [--quiet] [--threads N]
    python -m plasticity_sim run two_phase --preset tiny --seed 0 --set methods=warm,dash
    python -m plasticity_sim sweep chunked --preset tiny --methods cold,warm,sp,dash --seeds 0,1,2 \
        [--workers 2] [--out-dir results/sweep] [--backend process|ray] [--list] [--set ...] [--overwrite]
    python -m plasticity_sim study [<part>/<study>] [--list] [--workers 2] [--seeds ...] [--overwrite]
    python -m plasticity_sim list                # protocols, presets, methods and measured costs
    python -m plasticity_sim verify results/ --cheapest   # re-run shipped results, compare (verify.py)

Every user error (unknown name, bad value, unwritable or existing output, a checkpoint that is not
asked to resume, a damaged checkpoint, no network) is found before any training where it can be,
and ends in one line ``error: ...`` with exit status 2 and nothing written. A run that fails while
training (divergence) ends in one line ``run failed: ...`` with exit status 1. ``--out`` is a regular
file path; while a run trains it holds a lock on its ``--out`` and ``--checkpoint-dir``, so a
second run on either fails at once (exit 2) instead of one silently replacing the other's work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plasticity_sim import methods as method_table
from plasticity_sim import protocols, runs


class UsageError(ValueError):
    """A bad command line: reported as ``error: ...`` with exit status 2."""


def parse_csv(text: str) -> list[str]:
    """``a, b,c`` as ``["a", "b", "c"]`` (empty items dropped)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_seeds(text: str) -> list[int]:
    """``--seeds 0,1,2`` as a list of non-negative ints (a ``UsageError`` names the bad text)."""
    items = [s.strip() for s in text.split(",")]
    try:   # an empty item ("0,,1", "") is a typo, not a seed to drop
        seeds = [int(s) for s in items]
    except ValueError:
        raise UsageError(f"bad --seeds {text!r}; expected comma-separated integers such as 0,1,2") from None
    bad = [s for s in seeds if s < 0]
    if bad:
        raise UsageError(f"bad --seeds {text!r}: {bad[0]} is negative")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (public: the paper-scale chapter checks its commands with it)."""
    ap = argparse.ArgumentParser(prog="python -m plasticity_sim",
                                 description="Warm-start experiments of the Plasticity Book.")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("protocol", choices=tuple(protocols.PROTOCOLS))
        p.add_argument("--preset", default="tiny", help="a preset of the protocol (see `list`; default tiny)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, typed by the field (repeatable); "
                            "dict entries as key.sub=value, tuples as 0,1,2")
        p.add_argument("--checkpoint-dir", default=None, help="checkpoint after every experiment here")
        p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
        p.add_argument("--overwrite", action="store_true",
                       help="replace existing results files and checkpoints")
        p.add_argument("--quiet", action="store_true", help="no progress bars or messages")

    run = sub.add_parser("run", help="one run; writes one results JSON")
    common(run)
    run.add_argument("--method", default=None, help="a method of the method table (see `list`)")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)")
    run.add_argument("--out", default=None,
                     help="results file (default results/<protocol>_<preset>_<method>_seed<seed>.json)")

    sweep = sub.add_parser("sweep", help="methods x seeds, in parallel processes or as a job list")
    common(sweep)
    sweep.add_argument("--methods", default=None, help="default cold,warm,sp,dash where the protocol takes one")
    sweep.add_argument("--seeds", default="0")
    sweep.add_argument("--workers", type=int, default=2)
    sweep.add_argument("--out-dir", default=None, help="default results/sweep_<protocol>_<preset>")
    sweep.add_argument("--backend", choices=("process", "ray"), default="process")
    sweep.add_argument("--list", action="store_true",
                       help="print one self-contained command per job (xargs, GNU parallel, SLURM) and exit")

    sub.add_parser("list", help="protocols, presets, methods and measured costs")
    study = sub.add_parser("study", add_help=False,
                           help="the book's shipped studies (<part>/<study>); without a name, list them")
    study.add_argument("rest", nargs=argparse.REMAINDER)
    verify = sub.add_parser("verify", add_help=False,
                            help="re-run results files from their stored config and compare: see `verify --help`")
    verify.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


def run_config_of(args):
    """The config a ``run`` command line describes: preset, then --method/--seed, then --set."""
    entry = protocols.get(args.protocol)
    if args.method is not None and entry.method_field is None:
        raise UsageError(f"protocol {args.protocol!r} takes no --method")
    # one dict, validated once; --set wins, and file names follow the result
    return protocols.job_config(args.protocol, args.preset, method=args.method, seed=args.seed,
                                overrides=args.overrides, progress=not args.quiet)


def _eta_line(entry, preset: str, n_runs: int, workers: int, overridden: bool) -> str:
    cost = entry.cost.get(preset, {})
    per_run = cost.get("cpu_2core_s")
    if per_run is None:
        return f"cost of preset {preset!r}: {cost.get('note', 'not measured')}"
    waves = -(-n_runs // max(1, workers))
    line = (f"expected about {per_run * waves:.0f} s for {n_runs} run(s) on {workers} worker(s) "
            f"(measured {per_run:.0f} s per run of preset {preset!r} on a 2-core CPU)")
    return line + ("; --set overrides may change this" if overridden else "")


def _cmd_run(args) -> int:
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads} must be >= 1")
    config = run_config_of(args)
    if args.out is not None:
        runs.check_output(args.out, overwrite=args.overwrite)   # '' is refused, not the default name
    # A preset changed by --set is no longer that preset: its default file name and the banner say
    # so (a short digest of the overrides keeps two different --set runs apart).
    label = args.preset
    entry = protocols.get(args.protocol)
    named = {entry.seed_field, entry.method_field}       # these show in the name already
    changes = [a for a in args.overrides if a.partition("=")[0].partition(".")[0].strip() not in named]
    if changes:
        import hashlib

        digest = hashlib.sha1("\n".join(changes).encode()).hexdigest()[:6]
        label = f"{args.preset}-set{digest}"
    out = Path(args.out) if args.out is not None else \
        Path("results") / f"{protocols.default_stem(config, args.protocol, label)}.json"
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if not args.quiet:
        job = " ".join(f"{k}={getattr(config, k)}" for k in ("method", "seed") if hasattr(config, k))
        changed = f" changed by --set {' '.join(args.overrides)}" if args.overrides else ""
        print(f"[plasticity_sim] {args.protocol} preset={args.preset}{changed} {job} -> {out}")
        print("[plasticity_sim] " + _eta_line(entry, args.preset, 1, 1, bool(args.overrides)), flush=True)
    results = protocols.run_config(config, out=out, checkpoint_dir=args.checkpoint_dir,
                                   resume=args.resume, overwrite=args.overwrite)
    if not args.quiet:
        s = results["summary"]
        line = (f"test acc last {s['test_acc_last']:.4f}, avg {s['test_acc_avg']:.4f}; steps last "
                f"{s['steps_last']}, avg {s['steps_avg']:.1f}") if "test_acc_last" in s else \
            f"{s.get('num_records', '?')} records"
        print(f"[plasticity_sim] done in {results['provenance']['wall_time_s']:.1f} s: {line} -> {out}")
    return 0


def _default_methods(entry) -> list[str]:
    """``cold,warm,sp,dash`` where the protocol takes methods of the method table; a protocol with
    its own method names (slow_regression: bp, cbp, ...) has no default: --methods is needed."""
    if not entry.method_field:
        return []
    import dataclasses

    meta = {f.name: f.metadata.get("check", {}) for f in dataclasses.fields(entry.config)}
    choices = meta.get(entry.method_field, {}).get("choices")
    allowed = list(choices() if callable(choices) else choices or ())
    default = ["cold", "warm", "sp", "dash"]
    if allowed and not set(default) <= set(allowed):
        raise UsageError(f"sweep {entry.name} needs --methods (its methods: {', '.join(allowed)}), "
                         "e.g. --methods " + ",".join(allowed[:2]))
    return default


def _cmd_sweep(args) -> int:
    from plasticity_sim import sweep

    if args.workers < 1:
        raise UsageError(f"--workers {args.workers} must be >= 1")
    entry = protocols.get(args.protocol)
    names = parse_csv(args.methods) if args.methods is not None else _default_methods(entry)
    jobs = sweep.make_jobs(args.protocol, args.preset, names, parse_seeds(args.seeds), args.overrides,
                           out_dir=args.out_dir, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                           overwrite=args.overwrite)
    if args.list:
        for job in jobs:
            print(sweep.job_command(job))
        return 0
    todo, done = sweep.pending(jobs, overwrite=args.overwrite)
    if todo and args.backend == "ray":
        sweep._import_ray()  # a missing backend is a usage error, found before any work
    sweep.check_jobs(todo)
    if not args.quiet:
        for job in done:
            print(f"[plasticity_sim] skip (already done): {job['out']}")
        print(f"[plasticity_sim] sweep {args.protocol} preset={args.preset}: {len(jobs)} job(s), "
              f"{len(todo)} to run, backend={args.backend}, workers={args.workers}")
        print("[plasticity_sim] " + _eta_line(entry, args.preset, len(todo), args.workers, bool(args.overrides)),
              flush=True)
    report = None if args.quiet else (lambda path: print(f"[plasticity_sim] wrote {path}", flush=True))
    if args.backend == "ray":
        failures = sweep.run_jobs_ray(todo, on_done=report)
    else:
        failures = sweep.run_jobs_local(todo, workers=args.workers, on_done=report)
    for job, reason in failures:   # one line per failed job (a run failure: exit 1 below)
        print(f"run failed: job {job['out']}: {reason}", file=sys.stderr)
    finished = [job["out"] for job in jobs if Path(job["out"]).is_file()]
    if not args.quiet and finished and entry.name == "chunked":
        from plasticity_sim.dash.report import format_table1, method_rows

        print(format_table1(method_rows([protocols.load_results(path) for path in finished]),
                            lead=(("method", "method", "<15"), ("seeds", "seeds", ">5")), width=16, sep=" ",
                            acc_format="{:9.2f} ({:5.2f})", steps_format="{:9.2f} ({:5.2f})"))
    if failures:
        print(f"sweep: {len(jobs) - len(failures)} of {len(jobs)} job(s) finished; failed: "
              + ", ".join(Path(job["out"]).name for job, _ in failures), file=sys.stderr)
    return 1 if failures else 0


def _cmd_study(args) -> int:
    from plasticity_sim import study

    try:
        return study.main(args.rest, parse_seeds)
    except SystemExit as exit_:  # its argparse already printed the message (or --help its text)
        return int(exit_.code or 0)


def _cmd_verify(args) -> int:
    from plasticity_sim import verify

    try:
        return verify.main(args.rest)
    except SystemExit as exit_:  # its argparse already printed the message
        return int(exit_.code or 0)


def _cmd_list(args) -> int:
    for name, entry in protocols.PROTOCOLS.items():
        print(f"protocol {name}: {entry.doc}")
        for preset in entry.presets:
            cost = entry.cost.get(preset)
            print(f"  preset {preset}" + (f"; cost: {cost['cpu_2core_s']:.0f} s per run on a 2-core CPU"
                                          if cost and cost["cpu_2core_s"] else
                                          f"; cost: {cost['note']}" if cost else ""))
    print("methods:")
    for name in method_table.trainable():
        m = method_table.METHODS[name]
        params = "".join(f", {k}={v!r}" for k, v in m.params.items())
        print(f"  {name:15s} {m.acts:8s} get_intervention({m.intervention!r}{params})  [{m.source}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m plasticity_sim``; returns the exit status (2 = bad input).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] in (["study"], ["verify"]):   # they parse their own options (--help included)
            args = argparse.Namespace(command=argv[0], rest=argv[1:])
        else:
            args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed its message
        return int(exit_.code or 0)
    try:
        return {"run": _cmd_run, "sweep": _cmd_sweep, "list": _cmd_list, "study": _cmd_study,
                "verify": _cmd_verify}[args.command](args)
    except (FloatingPointError, runs.RunFailed) as err:  # divergence and co.: a run failure, not a usage error
        print(f"run failed: {err}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ImportError) as err:
        # Config, preset, path, data, network and missing-backend problems: found before training.
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; checkpoints written so far are kept (--resume continues)", file=sys.stderr)
        return 130
