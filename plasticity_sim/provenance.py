"""Provenance of a results file: the package's git commit (``+dirty`` when the code that ran was
modified), versions, host, device and what decides the CPU arithmetic.

Every results file stores :func:`provenance`; ``python -m plasticity_sim verify`` compares its
arithmetic with the machine it re-runs on.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from plasticity_sim import __version__

# What "the code that ran" is: a modified chapter or results file must not mark a run dirty, a
# modified (or new, not yet committed) module of the package must.
CODE_PATHS = ("plasticity_sim", "pyproject.toml")


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the package's checkout, or None without git.

    ``+dirty`` is appended when the code that runs differs from that commit: a tracked file under
    ``CODE_PATHS`` modified, or an untracked file added there (``__pycache__`` is ignored by git).
    Changes elsewhere in the checkout (chapters, results, tests) do not count.
    """
    where = str(path or Path(__file__).resolve().parent)
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                               cwd=top, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


def _argv() -> list[str]:
    # No absolute path of the producing machine: the program by its file name only.
    if not sys.argv:
        return []
    name = Path(sys.argv[0]).name
    return ["python -m plasticity_sim" if name == "__main__.py" else name] + list(sys.argv[1:])


def provenance(device: str, device_name: str | None = None) -> dict:
    """Versions, commit, host, device and what decides the arithmetic, for every results file."""
    import torch  # only runs that trained anything call this

    out = {"package_version": __version__, "git_commit": git_commit(),
           "torch_version": torch.__version__, "numpy_version": np.__version__,
           "python_version": platform.python_version(), "platform": platform.platform(),
           "device": device, "device_name": device_name, "torch_threads": torch.get_num_threads(),
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": _argv()}
    try:
        from plasticity_sim.arithmetic import arithmetic_facts
    except ImportError:
        return out
    out["arithmetic"] = arithmetic_facts()
    return out
