"""The one device resolver: which torch device a ``device`` setting means, and whether it exists.

``check_device_name`` checks the spelling only and imports no torch, so configs refuse a typo when
they are validated (before torch is loaded); ``resolve_device`` then turns the name into a
``torch.device`` and checks that the hardware is there. Both give the same message for a bad name.
"""
from __future__ import annotations

import re

ALLOWED = "'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"
_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(device) -> None:
    """A ``ValueError`` unless ``device`` is spelled as one of ``ALLOWED`` (torch-free)."""
    if not (isinstance(device, str) and _NAME.fullmatch(device)):
        raise ValueError(f"unknown device {device!r}; allowed: {ALLOWED}")


def resolve_device(device="auto"):
    """``"auto"`` -> CUDA if available, else CPU; a name or ``torch.device`` -> that device, after
    checking it exists here (a ``ValueError`` saying what to use instead)."""
    import torch

    if not isinstance(device, torch.device):
        check_device_name(device)
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = torch.device(device)
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif d.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS is not available")
    elif d.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; allowed: {ALLOWED}")
    return d
