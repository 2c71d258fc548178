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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line counting the table of bad inputs (tests/test_bad_inputs.py): cases vs handled.

    Counted from the reports the terminal reporter holds, so it also works under pytest-xdist (the
    workers' reports arrive at the controller). A case is handled when its call passed and none of
    its phases failed or errored.
    """
    seen, bad = set(), set()
    passed = set()
    for category, reports in terminalreporter.stats.items():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", "")
            if "test_bad_inputs.py::" not in nodeid:
                continue
            if category == "" and getattr(rep, "when", None) != "call":
                continue  # passing setup/teardown phases
            seen.add(nodeid)
            if category == "passed":
                passed.add(nodeid)
            elif category in ("failed", "error"):
                bad.add(nodeid)
    if seen:
        terminalreporter.write_line(f"bad inputs: {len(seen)} cases, {len(passed - bad)} handled")
