"""Root conftest: makes ``tools/`` importable in tests and pins what the chapters' kernels inherit.

Loaded by every ``pytest`` run in this checkout, including a reader's plain ``pytest --nbval book/``:
nbval starts each chapter's kernel from this process's environment, so the settings made here reach the
chapters before they import torch. See ``plasticity_sim.arithmetic`` and book/appendix_arithmetic.md for
what is pinned and why.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from plasticity_sim.arithmetic import pin_environment  # noqa: E402  (no torch import)

pin_environment()
