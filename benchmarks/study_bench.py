"""What the study benchmarks share: their command line, the machine line they print, and running a
study's jobs in spawned workers (one torch thread each) with the wall time measured."""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from plasticity_sim import sweep


def parse(doc: str, argv: list[str] | None, name: str, extra=()) -> tuple[argparse.Namespace, Path]:
    """``--workers`` and ``--seed`` (plus ``extra``: (flag, kwargs) pairs), a fresh temporary folder
    named after the benchmark, and the machine line printed first."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    for flag, kwargs in extra:
        ap.add_argument(flag, **kwargs)
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {platform.processor() or platform.machine()}, "
          f"{args.workers} worker(s), one torch thread each", flush=True)
    return args, Path(tempfile.mkdtemp(prefix=f"{name}_"))


def run(jobs: list[dict], workers: int) -> float:
    """Run the jobs (every one must succeed) and return the wall time in seconds."""
    t0 = time.perf_counter()
    failures = sweep.run_jobs_local(jobs, workers=workers)
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} job(s) failed: {failures[0][1]}")
    return wall
