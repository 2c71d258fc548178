r"""The one study runner: every shipped results folder of every book part, one command.

    python -m plasticity_sim study                          # every study: folder, chapters, measured cost
    python -m plasticity_sim study dash/main                # run one study (skips files already made)
    python -m plasticity_sim study continual                # every study of a part
    python -m plasticity_sim study dash/main --list         # one self-contained command per job still to run
    python -m plasticity_sim study hare_tortoise/grid --seeds 0,1 --workers 2 --out-dir /tmp/grid
    python -m plasticity_sim study continual/permuted --job 0   # one job of a study (what --list prints)

A study is declared once, in its part's subpackage, as a :class:`plasticity_sim.sweep.Study` (sweeps of
registered protocols and calls of the part's own functions); :data:`PART_MODULES` says where. Every job
goes through the same steps: output locations and configs checked before any job starts (an existing
results file is kept, never replaced without ``--overwrite``), then one process per job on
``--workers`` workers, each with one torch thread. Results land in ``results/<folder>/`` of the checkout
(:func:`plasticity_sim.runs.results_dir`) unless ``--out-dir`` says otherwise.

The measured cost printed by the listing is the run time recorded in the shipped files' provenance
(seconds of one worker, summed), so it is what the code on main took, not an estimate.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from plasticity_sim import runs, sweep

# Where each part declares its studies (a module-level STUDIES tuple). Parts are imported only here
# and in the CLI: the engine never imports a part.
PART_MODULES = {
    "bridge": ("plasticity_sim.bridge.studies",),
    "dash": ("plasticity_sim.dash.cpu_study", "plasticity_sim.dash.gain_over_cold", "plasticity_sim.dash.mechanism"),
    "hare_tortoise": ("plasticity_sim.hare_tortoise.studies",),
    "continual": ("plasticity_sim.continual.remedies", "plasticity_sim.continual.studies"),
}


class UsageError(ValueError):
    """A bad ``study`` command line (one line, exit status 2)."""


def registry() -> dict[str, sweep.Study]:
    """Every declared study by name (``<part>/<study>``), in book order."""
    out: dict[str, sweep.Study] = {}
    for part, modules in PART_MODULES.items():
        for module in modules:
            for s in importlib.import_module(module).STUDIES:
                if not s.name.startswith(part + "/") or s.name in out:
                    raise RuntimeError(f"study {s.name!r} declared twice or outside its part {part!r}")
                out[s.name] = s
    return out


def select(name: str) -> list[sweep.Study]:
    """The studies ``name`` means: one study (``dash/main``) or every study of a part (``dash``)."""
    studies = registry()
    if name in studies:
        return [studies[name]]
    chosen = [s for s in studies.values() if s.name.split("/")[0] == name]
    if not chosen:
        raise UsageError(f"unknown study {name!r}; allowed: {', '.join(studies)} "
                         f"or a part ({', '.join(PART_MODULES)})")
    return chosen


def folder_of(study: sweep.Study, out_dir: str | os.PathLike | None = None) -> Path:
    """Where a study's results go: ``out_dir`` if given, else its shipped folder."""
    if out_dir is None:
        return runs.results_dir(study.folder)
    return Path(out_dir)


def _display(path: Path) -> Path:
    # Paths under the working directory are written relative to it, so that job commands and the
    # argv stored in provenance carry no machine path.
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def jobs(study: sweep.Study, *, seeds=None, out_dir=None, overwrite: bool = False) -> list[dict]:
    """Every job of ``study`` in a stable order (``--job K`` is the K-th), validated up front."""
    seeds = list(study.seeds if seeds is None else seeds)
    if not seeds:
        raise UsageError("a study needs at least one seed (--seeds)")
    folder = _display(folder_of(study, out_dir))
    out = []
    for part in study.parts:
        if isinstance(part, sweep.Sweep):
            out += sweep.make_jobs(part.protocol, part.preset, list(part.methods), seeds, list(part.overrides),
                                   out_dir=str(folder / part.sub if part.sub else folder), overwrite=overwrite)
        else:
            out.append(sweep.call_job(part, folder / part.file, seeds, overwrite=overwrite, study=study.name,
                                      index=len(out)))
    return out


def shipped_files(study: sweep.Study) -> list[Path]:
    """The study's results files in its shipped folder (those of its sweeps and calls)."""
    folder = runs.results_dir(study.folder)
    files: list[Path] = []
    for part in study.parts:
        if isinstance(part, sweep.Sweep):
            files += sorted((folder / part.sub).glob("*.json"))
        elif (folder / part.file).is_file():
            files.append(folder / part.file)
    return list(dict.fromkeys(files))    # two sweeps may share a folder: count each file once


def measured_cost(study: sweep.Study) -> tuple[int, float]:
    """(number of shipped files, seconds of run time their provenance records)."""
    files, total = shipped_files(study), 0.0
    for f in files:
        try:
            total += float((json.loads(f.read_text()).get("provenance") or {}).get("wall_time_s") or 0.0)
        except (OSError, ValueError, AttributeError):
            continue
    return len(files), total


def describe() -> str:
    """The listing of ``python -m plasticity_sim study``: every study, its folder, chapters and cost."""
    lines = []
    for s in registry().values():
        n, seconds = measured_cost(s)
        cost = f"{n} shipped files, {seconds / 60:.1f} min of recorded run time" if n else "nothing shipped yet"
        lines.append(f"{s.name:32s} results/{s.folder}/  ({cost})")
        if s.doc:
            lines.append(f"    {s.doc}")
        if s.chapters:
            lines.append(f"    loaded by: {', '.join(s.chapters)}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m plasticity_sim study",
                                 description="Run (or list) the book's shipped studies; without a name, list them.")
    ap.add_argument("name", nargs="?", help="<part>/<study> (e.g. dash/main) or a part (e.g. continual)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: the study's own)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out-dir", default=None, help="default: the study's folder under results/")
    ap.add_argument("--overwrite", action="store_true", help="re-make results files that exist")
    ap.add_argument("--list", action="store_true", help="print one command per job still to run, then exit")
    ap.add_argument("--job", type=int, default=None, help="run only job K of the study (as --list prints)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str], parse_seeds) -> int:
    """``python -m plasticity_sim study ...`` (``parse_seeds``: the CLI's one ``--seeds`` parser)."""
    args = build_parser().parse_args(argv)
    if args.name is None:
        print(describe())
        return 0
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers} must be >= 1")
    studies = select(args.name)
    if args.out_dir is not None and len(studies) > 1:
        raise UsageError(f"--out-dir needs one study, but {args.name!r} names {len(studies)}; name one")
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    all_jobs = [j for s in studies for j in jobs(s, seeds=seeds, out_dir=args.out_dir, overwrite=args.overwrite)]
    if args.job is not None:
        if len(studies) != 1 or not 0 <= args.job < len(all_jobs):
            raise UsageError(f"--job {args.job} is not a job of {args.name!r} "
                             f"(it has {len(all_jobs)}: 0..{len(all_jobs) - 1}); see --list")
        all_jobs = [all_jobs[args.job]]
    todo, done = sweep.pending(all_jobs, overwrite=args.overwrite)
    if args.list:
        for job in todo:
            print(sweep.job_command(job))
        if done:
            print(f"# {len(done)} job(s) already done (their results files exist); --overwrite lists them too",
                  file=sys.stderr)
        return 0
    sweep.check_jobs(todo)   # every job checked before any starts
    # Longest first: cold and CNN runs left for the end would run alone on one worker.
    todo.sort(key=lambda j: (j.get("preset") != "tiny_cnn", j.get("method") != "cold"))
    if not args.quiet:
        print(f"[plasticity_sim] study {args.name}: {len(all_jobs)} job(s), {len(done)} already done, "
              f"{len(todo)} to run on {args.workers} worker(s)", flush=True)
    report = None if args.quiet else (lambda path: print(f"[plasticity_sim] wrote {path}", flush=True))
    failures = sweep.run_jobs_local(todo, workers=args.workers, on_done=report)
    for job, reason in failures:
        print(f"run failed: job {job['out']}: {reason}", file=sys.stderr)
    return 1 if failures else 0
