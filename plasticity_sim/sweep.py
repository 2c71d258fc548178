"""Sweeps: one job list, run here, on a cluster, or by any scheduler.

A sweep is a list of jobs, each a plain dict (protocol, config, results path, checkpoint folder)
handed to :func:`run_job`, a pure ``config -> results file`` function. The same list can be:

* run here by :func:`run_jobs_local` - one spawned process per job, at most ``workers`` at once, so
  a worker that dies (out of memory, killed) fails only its own job;
* run as Ray tasks by :func:`run_jobs_ray` (``pip install plasticity_sim[ray]``);
* printed by :func:`job_command` as one self-contained shell command per job
  (``python -m plasticity_sim sweep ... --list``), for xargs, GNU parallel or a SLURM array.

A job is either a *protocol job* (a config of a registered protocol -> its results file) or a
*call job* (``kind: "call"``: a part's function that writes one results file, such as the
continual part's multi-arm files). The book's shipped studies are declared with :class:`Study`,
:class:`Sweep` and :class:`Call` in each part's subpackage and run by :mod:`plasticity_sim.study`.
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from plasticity_sim import protocols, runs


# ---------------------------------------------------------------------------------------------
# Study declarations (what a part ships; plasticity_sim.study runs them)
@dataclass(frozen=True)
class Sweep:
    """Methods x seeds of one protocol preset (with ``--set`` overrides) into ``<study folder>/<sub>``."""

    protocol: str
    preset: str
    methods: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    sub: str = ""


@dataclass(frozen=True)
class Call:
    """One results file written by a part's function ``target`` (``"module:function"``).

    The function is called as ``target(out, seeds=..., overwrite=..., check_only=..., **kwargs)``;
    with ``check_only`` it validates everything it would run and returns without training.
    """

    target: str
    file: str
    kwargs: dict = field(default_factory=dict)


def check_call_output(out, name: str, study: str, *, overwrite: bool = False) -> Path:
    """The results file of a :class:`Call` job: it must be called ``name`` (the file the study
    declares, so a job cannot write over another study's file) and pass
    :func:`plasticity_sim.runs.check_output`."""
    out = Path(out)
    if out.name != name:
        raise ValueError(f"the {study} study writes {name}, not {out.name!r}")
    return runs.check_output(out, overwrite=overwrite, what="results file")


@dataclass(frozen=True)
class Study:
    """A shipped study: ``<part>/<name>``, its results folder under ``results/``, its default seeds,
    its parts (sweeps and calls) and the chapters that load it."""

    name: str
    folder: str
    parts: tuple
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    chapters: tuple[str, ...] = ()
    doc: str = ""


def make_jobs(protocol: str, preset: str, methods: list[str], seeds: list[int], overrides: list[str], *,
              out_dir: str | None = None, checkpoint_dir: str | None = None, resume: bool = False,
              overwrite: bool = False) -> list[dict]:
    """Jobs of a sweep, one per (method, seed), validated up front; file names from the final config.
    """
    entry = protocols.get(protocol)
    if not seeds:
        raise ValueError("a sweep needs at least one seed (--seeds)")
    for what, values in (("--methods", methods), ("--seeds", seeds)):
        twice = sorted({v for v in values if list(values).count(v) > 1}, key=str)
        if twice:
            raise ValueError(f"{what} lists {', '.join(map(repr, twice))} more than once; "
                             "each would run into the same results file")
    if checkpoint_dir is not None and not entry.resumable:   # else every job would fail after the checks
        raise ValueError(f"protocol {protocol!r} does not checkpoint; run the sweep without --checkpoint-dir")
    if entry.method_field is None and methods:
        raise ValueError(f"protocol {protocol!r} takes no method; drop --methods")
    if entry.method_field is not None and not methods:
        raise ValueError("a sweep needs at least one method (--methods)")
    touched = {a.partition("=")[0].partition(".")[0].strip() for a in overrides}
    clash = sorted(touched & {entry.seed_field, entry.method_field or ""})
    if clash:
        raise ValueError(f"--set {clash[0]}=... in a sweep would be replaced by every job's own value; "
                         "use --methods / --seeds instead")
    base = runs.apply_overrides(protocols.preset_config(preset, protocol=protocol), overrides)
    out_dir = Path(out_dir or Path("results") / f"sweep_{protocol}_{preset}")
    jobs = []
    for method in (methods or [None]):
        for seed in seeds:
            config = protocols.with_job(base, method=method, seed=seed)
            if hasattr(config, "progress"):
                config.progress = False   # bars from parallel workers would interleave
            stem = protocols.default_stem(config, protocol, preset)
            jobs.append({"protocol": protocol, "preset": preset, "method": method, "seed": seed,
                         "overrides": list(overrides), "config": runs.to_dict(config),
                         "out": str(out_dir / f"{stem}.json"),
                         "checkpoint_dir": str(Path(checkpoint_dir) / stem) if checkpoint_dir else None,
                         "resume": bool(resume), "overwrite": bool(overwrite)})
    return jobs


def call_job(call: Call, out: str | Path, seeds, *, overwrite: bool, study: str = "", index: int = 0) -> dict:
    """The job dict of a :class:`Call` (plain data, like a protocol job)."""
    return {"kind": "call", "target": call.target, "kwargs": dict(call.kwargs), "out": str(out),
            "seeds": [int(s) for s in seeds], "overwrite": bool(overwrite), "study": study, "index": int(index)}


def _call_target(job: dict):
    module, _, func = job["target"].partition(":")
    return getattr(importlib.import_module(module), func)


def run_job(job: dict) -> str:
    """One job: plain data in, results file out (any executor can run it)."""
    if job.get("kind") == "call":
        return str(_call_target(job)(job["out"], seeds=job["seeds"], overwrite=job["overwrite"], **job["kwargs"]))
    entry = protocols.get(job["protocol"])
    config = runs.config_from_dict(entry.config, job["config"])
    protocols.run_config(config, out=job["out"], checkpoint_dir=job.get("checkpoint_dir"),
                         resume=bool(job.get("resume", False)), overwrite=bool(job.get("overwrite", False)))
    return str(job["out"])


def job_command(job: dict, python: str = "python") -> str:
    """The job as one self-contained shell command (the ``run`` subcommand with the same config; a
    call job as ``study <name> --job <index>``)."""
    if job.get("kind") == "call":
        argv = [python, "-m", "plasticity_sim", "study", job["study"], "--job", str(job["index"]),
                "--seeds", ",".join(map(str, job["seeds"])), "--out-dir", str(Path(job["out"]).parent), "--quiet"]
        return shlex.join(argv + (["--overwrite"] if job.get("overwrite") else []))
    argv = [python, "-m", "plasticity_sim", "run", job["protocol"], "--preset", job["preset"]]
    if job.get("method") is not None:
        argv += ["--method", job["method"]]
    argv += ["--seed", str(job["seed"])]
    for assignment in job.get("overrides", []):
        argv += ["--set", assignment]
    argv += ["--out", job["out"], "--quiet"]
    if job.get("checkpoint_dir"):
        argv += ["--checkpoint-dir", job["checkpoint_dir"]]
    if job.get("resume"):
        argv.append("--resume")
    if job.get("overwrite"):
        argv.append("--overwrite")
    return shlex.join(argv)


def pending(jobs: list[dict], *, overwrite: bool) -> tuple[list[dict], list[dict]]:
    """Split jobs into (to run, already done). A results file with the same config is done; one with
    a different or unreadable config is an error unless ``overwrite``. Output and checkpoint
    locations are checked here, before any job starts."""
    todo, done = [], []
    for job in jobs:
        out = Path(job["out"])
        if job.get("kind") == "call":   # the part's function checks its own file (see Call)
            if out.is_file() and not overwrite:
                done.append(job)
            else:
                runs.check_output(out, overwrite=overwrite, what="results file")
                todo.append(job)
            continue
        entry = protocols.get(job["protocol"])
        if out.is_file() and not overwrite:
            try:
                same = runs.same_results_config(protocols.load_results(out)["config"], job["config"], entry.config)
            except ValueError:
                same = False
            if not same:
                raise ValueError(f"{out} exists with a different or invalid config; "
                                 "use --overwrite or another --out-dir")
            done.append(job)
            continue
        runs.check_output(out, overwrite=overwrite, what="results file")
        if job.get("checkpoint_dir"):
            runs.check_checkpoint_dir(job["checkpoint_dir"], resume=job.get("resume", False), overwrite=overwrite)
        todo.append(job)
    return todo, done


def check_jobs(jobs: list[dict]) -> None:
    """Check every job before any starts (config, data, model size, ...): raises ``ValueError`` naming
    the first problem. Jobs that differ only in their seed share one check, so the data load once."""
    seen = set()
    for job in jobs:
        if job.get("kind") == "call":
            _call_target(job)(job["out"], seeds=job["seeds"], overwrite=job["overwrite"], check_only=True,
                              **job["kwargs"])
            continue
        entry = protocols.get(job["protocol"])
        key = runs.json_dumps({"protocol": job["protocol"],
                               **{k: v for k, v in job["config"].items() if k != entry.seed_field}})
        if key not in seen:
            seen.add(key)
            protocols.get_check(job["protocol"])(runs.config_from_dict(entry.config, job["config"]))


def failure_line(err: BaseException) -> str:
    """One line for a failed job: the root cause's type and first line. Ray wraps a task's error in
    a ``RayTaskError`` whose text is the whole remote traceback; its ``cause`` is the real error."""
    cause = getattr(err, "cause", None)
    err = cause if isinstance(cause, BaseException) else err
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _child(job: dict, conn, target) -> None:
    import torch

    torch.set_num_threads(1)  # N workers on N cores beat N workers fighting over N*N threads
    try:
        conn.send(("ok", target(job)))
    except BaseException as err:  # report any failure as text; the parent decides
        conn.send(("error", failure_line(err)))
    finally:
        conn.close()


def run_jobs_local(jobs: list[dict], *, workers: int = 2, on_done=None, target=run_job) -> list[tuple[dict, str]]:
    """Run jobs in spawned processes, at most ``workers`` at once (here when ``workers == 1``).

    Returns ``[(job, reason)]`` for the failed ones; a worker that dies fails only its own job.
    ``target`` (a module-level function, default :func:`run_job`) runs one job.
    """
    failures: list[tuple[dict, str]] = []
    if workers == 1 or len(jobs) <= 1:
        import torch

        # one torch thread, as in a spawned worker: the thread count changes the arithmetic of a
        # reduction, and a run's numbers must not depend on how many workers ran it
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for job in jobs:
                try:
                    path = target(job)
                except Exception as err:  # one failed job must not lose the others' results
                    failures.append((job, failure_line(err)))
                else:
                    if on_done:
                        on_done(path)
        finally:
            torch.set_num_threads(threads)
        return failures
    import multiprocessing
    from multiprocessing.connection import wait

    # spawn, not fork: a forked child would inherit torch's thread pools and any CUDA context.
    context = multiprocessing.get_context("spawn")
    queue, running = list(jobs), {}
    while queue or running:
        while queue and len(running) < workers:
            job = queue.pop(0)
            parent, child = context.Pipe(duplex=False)
            proc = context.Process(target=_child, args=(job, child, target), daemon=True)
            proc.start()
            child.close()
            running[proc.sentinel] = (proc, parent, job)
        for sentinel in wait(list(running)):
            proc, parent, job = running.pop(sentinel)
            try:  # a dead child leaves the pipe at EOF (poll() is then True, recv() raises)
                message = parent.recv() if parent.poll() else None
            except (EOFError, OSError):
                message = None
            proc.join()
            if message and message[0] == "ok":
                if on_done:
                    on_done(message[1])
            else:
                failures.append((job, message[1] if message else f"worker died (exit code {proc.exitcode})"))
    return failures


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--backend ray needs the optional dependency ray "
                          "(pip install 'plasticity_sim[ray]'); use --backend process otherwise") from None
    return ray


def run_jobs_ray(jobs: list[dict], *, on_done=None, init_kwargs: dict | None = None) -> list[tuple[dict, str]]:
    """Run jobs as Ray tasks (``ray.init()`` joins a running cluster or starts a local one).

    Results files are written by the tasks, so ``out`` paths must be on storage every node reaches.
    """
    ray = _import_ray()
    ray.init(ignore_reinit_error=True, **(init_kwargs or {}))
    task = ray.remote(num_cpus=1)(run_job)
    refs = {task.remote(job): job for job in jobs}
    failures = []
    for ref, job in refs.items():
        try:
            path = ray.get(ref)
        except Exception as err:
            failures.append((job, failure_line(err)))
        else:
            if on_done:
                on_done(path)
    return failures
