"""Checks of single arguments, one function per kind, one message per kind (torch-free).

Config fields declare their checks on the dataclass (:func:`plasticity_sim.runs.option`); these are
for plain function arguments (intervention parameters, model options, DASH's lambda). Every
message names the argument, the bad value and what is allowed.
"""
from __future__ import annotations

import math


def check_range(what: str, value, lo: float, hi: float) -> float:
    """``float(value)`` if ``lo <= value <= hi`` (finite), else a ``ValueError`` naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in [{lo:g}, {hi:g}], got {value!r}") from None
    if isinstance(value, bool) or not (lo <= v <= hi) or math.isnan(v):  # also rejects NaN
        raise ValueError(f"{what} must be in [{lo:g}, {hi:g}], got {value!r}")
    return v


def check_choice(what: str, value, allowed) -> None:
    """A ``ValueError`` naming ``value`` and the allowed choices unless ``value in allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(repr, allowed))}")


def check_positive_int(name: str, value) -> int:
    """``value`` if it is an int >= 1 (not a bool), else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive int")
    return value
