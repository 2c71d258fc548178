"""Shared fixtures: the strictly built book (built once per test run, even across xdist workers)."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Run ``python tools/book.py build`` (strict: -W -n --keep-going) once per test run.

    xdist workers share one run id; the first worker to take the lock builds, the others reuse it.
    """
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"single-{os.getpid()}-{uuid.uuid4().hex}"
    (ROOT / "_build").mkdir(exist_ok=True)
    marker = ROOT / "_build" / ".built-by"
    with open(ROOT / "_build" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and marker.read_text() == run_id):
            proc = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "build"], cwd=ROOT,
                                  capture_output=True, text=True)
            log = ROOT / "_build" / "build.log"
            log.write_text(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                marker.unlink(missing_ok=True)
                pytest.fail(f"strict book build failed (exit {proc.returncode}); tail of {log}:\n"
                            + (proc.stdout + proc.stderr)[-4000:])
            marker.write_text(run_id)
    return HTML
