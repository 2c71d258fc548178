"""Controls of the kernel-free widgets: sliders, dropdowns and Play buttons as plain data.

A :class:`ControlSpec` is the grid of values a control steps through and their labels; it creates no
widget model, so specs can be made, checked and compared anywhere. :func:`plasticity_sim.widgets.frame_widget`
renders one frame per point of the grid and builds the widgets (the chapters import ``slider``,
``dropdown`` and ``play`` from :mod:`plasticity_sim.widgets`, which re-exports them).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["ControlSpec", "slider", "dropdown", "play"]


@dataclass(frozen=True)
class ControlSpec:
    """One control of a :func:`frame_widget`: its kind, the grid of values and their labels."""
    kind: str                      # "slider" | "dropdown" | "play"
    labels: tuple[str, ...]        # what the reader sees
    values: tuple                  # what plot_fn receives
    default_index: int
    description: str | None = None
    interval_ms: int = 500

    @property
    def default(self):
        return self.values[self.default_index]


def _format_label(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return str(value)


def _equal(a, b) -> bool:
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False  # True == 1 in Python, but a default of True must not select the value 1
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays: not usable as a control value anyway
        return False


def _make_spec(kind, options, description, default, interval_ms=500) -> ControlSpec:
    if isinstance(options, (str, bytes, dict)) or not hasattr(options, "__iter__"):
        raise ValueError(f"{kind} values must be a list, tuple or 1-D array, got {options!r}")
    items = list(options)
    if not items:
        raise ValueError(f"{kind} needs at least one value, got empty values {options!r}")
    labels, values = [], []
    for item in items:
        # (label, value) pairs, as in ipywidgets' Dropdown; anything else is a bare value.
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            labels.append(item[0])
            values.append(item[1])
        else:
            labels.append(_format_label(item))
            values.append(item)
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(f"{kind} labels must be distinct: {label!r} appears "
                             f"{labels.count(label)} times in {labels}")
    if default is None:
        index = 0
    else:
        hits = [i for i, v in enumerate(values) if _equal(v, default)]
        hits = hits or [i for i, lab in enumerate(labels) if isinstance(default, str) and lab == default]
        if not hits:
            raise ValueError(f"{kind} default {default!r} is not one of the values {values!r} "
                             f"(labels {labels})")
        index = hits[0]
    if description is not None and not isinstance(description, str):
        raise ValueError(f"{kind} description must be a str or None, got {description!r}")
    if isinstance(interval_ms, bool) or not isinstance(interval_ms, numbers.Integral) or interval_ms < 1:
        raise ValueError(f"play interval_ms must be a positive int (milliseconds), got {interval_ms!r}")
    return ControlSpec(kind, tuple(labels), tuple(values), index, description, int(interval_ms))


def slider(values, description=None, default=None) -> ControlSpec:
    """A slider over ``values`` (numbers, strings, or ``(label, value)`` pairs) for :func:`frame_widget`.

    ``default`` (a value, or its label) is the frame shown first; the first value if None.

    Explained in: book/theory/01_data_model.ipynb
    """
    return _make_spec("slider", values, description, default)


def dropdown(options, description=None, default=None) -> ControlSpec:
    """A dropdown over ``options`` (values or ``(label, value)`` pairs) for :func:`frame_widget`.

    Linked to the frames through its ``index``, so the values themselves never need to reach the
    browser.

    Explained in: book/00_headline_results.ipynb
    """
    return _make_spec("dropdown", options, description, default)


def play(values, description=None, default=None, interval_ms=500) -> ControlSpec:
    """A Play button plus a slider over ``values`` (step-through animation) for :func:`frame_widget`.

    Play steps every ``interval_ms`` milliseconds. In Jupyter Book the Play button needs the
    Font Awesome ``autoReplaceSvg: 'nest'`` fix loaded before the theme (the slider works without).

    Explained in: book/theory/02_discrete_process.ipynb
    """
    return _make_spec("play", values, description, default, interval_ms)
