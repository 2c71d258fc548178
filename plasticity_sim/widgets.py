"""Kernel-free widgets: sliders, dropdowns and Play buttons over precomputed figure frames.

A hosted Jupyter Book page has no kernel, so an ordinary ``interact`` slider is dead there. The
widgets made here still work: every frame of the figure is rendered *in advance* over the grid of
control values, stored as a small PNG in a ``widgets.Image``, and the control is tied to a
``widgets.Stack`` of those images with ``widgets.jslink``. The link lives in the browser (the
html-manager that Jupyter Book loads), so moving the control flips frames with no kernel.

Layout of the widget for controls ``{"a": ..., "b": ...}`` (``a`` outermost)::

    FrameWidget (VBox, classes "pwidget" [+ "pwidget-<name>"])
      VBox of controls      one row per control, classes "pcontrol pcontrol-<key>"
      Stack (depth 0)       selected_index <-jslink-> control a's index
        Stack (depth 1)     one per value of a, every one jslinked to control b's index
          Image             one per (a, b) pair, classes "pframe pframe-<i>-<j>"
      HTML caption          caption= only: "<p class='pcaption' data-alt=...>" under the frames
      [live box]            live=True only: continuous controls redrawing one Image via the kernel
                            (class "plive", hidden in the static book: no kernel there)

The frame shown for control indices ``(i, j)`` carries the CSS class ``pframe-i-j`` on its
``<img>``, and a Stack keeps only its selected child in the DOM, so a browser test can read which
frame is visible. Each frame also carries the alt text its ``<img>`` gets in the static book: the
widget's ``alt`` plus the frame's control values, kept in the caption's ``data-alt`` /
``data-frames`` attributes and copied onto the images by ``_vendor/widgets/widget-fixes.js``
(an ipywidgets Image has no alt trait). Page weight is budgeted (``max_frames``, ``max_bytes``) so a chapter stays
<= 2 MB; ``frame_report`` gives the numbers.

The controls (:func:`slider`, :func:`dropdown`, :func:`play`) are plain data made in
:mod:`plasticity_sim.controls` and re-exported here; this module turns them into frames and widgets.

Importing this module never imports torch (theory chapters stay numpy-only).
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import math
import numbers
import re
import sys
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from ipywidgets.embed import dependency_state
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from .controls import ControlSpec, dropdown, play, slider  # noqa: F401  (the chapters import them from here)
from .plotting import DPI, FIGSIZE, book_style, png_bytes

MAX_FRAMES = 64
MAX_BYTES = 1_500_000  # frames' share of a chapter page; the rest of the page stays well under 0.5 MB
# JSON an embedded Image model costs beyond its base64 PNG (model names, trait values, ids);
# measured on ipywidgets 8.1.9 with the layout shared by all frames.
_IMAGE_JSON_OVERHEAD = 700


# ------------------------------------------------------------------------------------------------
# Rendering

def _validate(plot_fn, controls) -> list[tuple[str, ControlSpec]]:
    if not callable(plot_fn):
        raise ValueError(f"plot_fn must be callable (values -> matplotlib Figure), got {plot_fn!r}")
    if not isinstance(controls, dict):
        raise ValueError(f"controls must be a dict keyword -> slider()/dropdown()/play(), got {controls!r}")
    if not 1 <= len(controls) <= 3:
        raise ValueError(f"frame_widget takes 1 to 3 controls, got {len(controls)}: {list(controls)}")
    for key, spec in controls.items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(f"control names must be keyword names of plot_fn, got {key!r}")
        if not isinstance(spec, ControlSpec):
            raise ValueError(f"control {key!r} must be made with slider(), dropdown() or play(), "
                             f"got {spec!r}")
    return list(controls.items())


@contextlib.contextmanager
def _closing_new_pyplot_figures():
    """Close every pyplot figure opened inside the block, so none is auto-shown in the cell output."""
    plt = sys.modules.get("matplotlib.pyplot")  # not imported -> no figure can be registered there
    before = set(plt.get_fignums()) if plt else set()
    try:
        yield
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)


def _figure(plot_fn, values, figsize, dpi) -> Figure:
    """Call plot_fn in the book style; frames get the same pixel size so the page never jumps."""
    with book_style(**{"figure.figsize": figsize or FIGSIZE, "figure.dpi": dpi}):
        fig = plot_fn(**values)
        if not isinstance(fig, Figure):
            raise ValueError(f"plot_fn({values}) must return a matplotlib Figure, got {type(fig).__name__}")
        if figsize is not None:
            fig.set_size_inches(figsize)
        fig.set_dpi(dpi)
    return fig


def _render(plot_fn, values, figsize, dpi, colors) -> bytes:
    # Render before closing: a GUI backend's canvas may not survive its window being closed.
    with _closing_new_pyplot_figures():
        fig = _figure(plot_fn, values, figsize, dpi)
        with book_style():
            data = png_bytes(fig, dpi=dpi, colors=colors)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)  # a figure plot_fn took from pyplot before the call
    return data


def _embedded_estimate(png_len: int) -> int:
    return 4 * math.ceil(png_len / 3) + _IMAGE_JSON_OVERHEAD


# ------------------------------------------------------------------------------------------------
# The widget

@dataclass(frozen=True)
class Frame:
    """One precomputed frame: control indices, the values plot_fn got, its DOM class and PNG."""
    index: tuple[int, ...]
    values: dict
    labels: dict
    dom_class: str
    png: bytes


class FrameWidget(widgets.VBox):
    """The VBox that :func:`frame_widget` returns, with the frame table attached for tests/reports.

    Attributes: ``frames`` (tuple of :class:`Frame`, last control varying fastest),
    ``control_names``, ``grid_shape``, ``controls`` (name -> the widget whose ``index`` drives
    the Stacks), ``stacks`` (tuple per depth), ``links``, ``frame_bytes`` (sum of PNG sizes),
    ``embedded_bytes`` (JSON size of the widget state the page embeds).
    """

    def frame_at(self, *index: int) -> Frame:
        """The frame shown when the controls are at ``index`` (one int per control)."""
        for frame in self.frames:
            if frame.index == tuple(index):
                return frame
        raise ValueError(f"no frame at index {index}; grid shape is {self.grid_shape}")

    def __repr__(self) -> str:  # short and deterministic: strict nbval compares the cell's text/plain
        return f"FrameWidget(controls={self.control_names!r}, grid={self.grid_shape!r})"


def _make_control(key: str, spec: ControlSpec):
    """-> (row widget to display, widget whose 'index' trait drives the stacks, Play or None)."""
    description = spec.description if spec.description is not None else key
    # Controls carry indices, not values: the browser only needs labels and an int to link.
    options = [(label, i) for i, label in enumerate(spec.labels)]
    classes = ("pcontrol", f"pcontrol-{key}")
    style = {"description_width": "initial"}
    if spec.kind == "dropdown":
        ctrl = widgets.Dropdown(options=options, index=spec.default_index, description=description,
                                style=style, _dom_classes=classes)
        return ctrl, ctrl, None
    ctrl = widgets.SelectionSlider(options=options, index=spec.default_index, description=description,
                                   continuous_update=True, readout=True, style=style,
                                   _dom_classes=classes)
    if spec.kind == "slider":
        return ctrl, ctrl, None
    player = widgets.Play(value=spec.default_index, min=0, max=len(spec.values) - 1, step=1,
                          interval=spec.interval_ms, show_repeat=False,
                          _dom_classes=("pplay", f"pplay-{key}"))
    return widgets.HBox([player, ctrl]), ctrl, player


def _live_box(plot_fn, items, default_png, figsize, dpi, colors, layout):
    """Continuous controls redrawing one Image through the kernel (inert in the static page)."""
    getters, controls = {}, []
    for key, spec in items:
        description = spec.description if spec.description is not None else key
        numeric = all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                      for v in spec.values)
        if spec.kind != "dropdown" and numeric and len(spec.values) > 1:
            lo, hi = min(spec.values), max(spec.values)
            if all(isinstance(v, numbers.Integral) for v in spec.values):
                w = widgets.IntSlider(value=int(spec.default), min=int(lo), max=int(hi), step=1)
            else:
                w = widgets.FloatSlider(value=float(spec.default), min=float(lo), max=float(hi),
                                        step=(float(hi) - float(lo)) / 100, readout_format=".3g")
            getters[key] = lambda w=w: w.value
        else:
            w = widgets.Dropdown(options=[(lab, i) for i, lab in enumerate(spec.labels)],
                                 index=spec.default_index)
            getters[key] = lambda w=w, spec=spec: spec.values[w.value]
        w.description, w.continuous_update = description, False
        w.style = {"description_width": "initial"}
        controls.append(w)
    image = widgets.Image(value=default_png, format="png", layout=layout, _dom_classes=("plive-frame",))

    def redraw(_change=None):
        image.value = _render(plot_fn, {k: get() for k, get in getters.items()}, figsize, dpi, colors)

    for w in controls:
        w.observe(redraw, names="value")
    label = widgets.Label("Live (this kernel): any value in the range")
    return widgets.VBox([label, *controls, image], _dom_classes=("plive",))


def _close_tree(widget) -> None:
    """Close a widget and every widget its synced state references (children, layout, style)."""
    for name in widget.keys:
        value = getattr(widget, name, None)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, widgets.Widget) and item.comm is not None:
                _close_tree(item)
    widget.close()


def _shown(frame: Frame, names: dict) -> str:
    """A frame's control values in words, by each control's label: "step = 3, γ = 2"."""
    return ", ".join(f"{names.get(k, k)} = {v}" for k, v in frame.labels.items())


def _caption_html(caption: str, alt: str, frames: list[Frame], names: dict) -> str:
    """The caption paragraph; its data attributes carry every frame's alt text for the static page."""
    per_frame = {f.dom_class: _shown(f, names) for f in frames}
    return (f'<p class="pcaption" data-alt="{html.escape(alt)}" '
            f'data-frames="{html.escape(json.dumps(per_frame, ensure_ascii=False))}">'
            f'<strong>Interactive figure.</strong> {html.escape(caption)}</p>')


def frame_alt(widget: "FrameWidget", *index: int) -> str:
    """The alt text the static page gives the frame at control ``index``: the widget's alt + values."""
    shown = _shown(widget.frame_at(*index), widget.control_labels)
    return f"{widget.alt} Shown: {shown}." if widget.alt else ""


def frame_widget(plot_fn, controls: dict, *, figsize=FIGSIZE, dpi=DPI, live=False,
                 max_frames=MAX_FRAMES, max_bytes=MAX_BYTES, colors=256, name=None,
                 progress=False, caption=None, alt=None) -> FrameWidget:
    """A widget whose figure frames are precomputed over the control grid and linked client-side.

    ``plot_fn(**values) -> Figure`` (return the figure, don't show it) is called once per grid
    point (1 to 3 controls made with :func:`slider`, :func:`dropdown` or :func:`play`; the first
    control is outermost) inside the book style. Each figure is resized to ``figsize`` (None keeps
    plot_fn's own size), rendered at ``dpi`` as a ``colors``-colour PNG (None = lossless) and
    closed. Controls are jslinked to nested Stacks, so the static page flips frames without a
    kernel; the frame for control indices (i, j) has the CSS class ``pframe-i-j``.

    Budget: more than ``max_frames`` grid points, or frames whose embedded state exceeds
    ``max_bytes``, raise ValueError before any widget is left behind. ``live=True`` appends
    continuous controls that redraw through the kernel (class ``plive``; the static book hides them,
    see ``_vendor/widgets/widget-fixes.js``, since without a kernel they would change nothing).
    ``name`` adds the CSS class ``pwidget-<name>`` to the outer box for browser tests.

    ``caption`` (what the figure shows and what to try) is printed under the frames; ``alt`` (what
    the image shows, for a reader who cannot see it) becomes each frame's alt text, followed by that
    frame's control values. Give both, or neither (tests and scratch use).

    Explained in: book/theory/01_data_model.ipynb
    """
    items = _validate(plot_fn, controls)
    if not (isinstance(dpi, numbers.Real) and dpi > 0):
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")
    if name is not None and not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]+", name)):
        raise ValueError(f"name must match [A-Za-z0-9_-]+ (it becomes a CSS class), got {name!r}")
    for label, text in (("caption", caption), ("alt", alt)):
        if text is not None and not (isinstance(text, str) and text.strip()):
            raise ValueError(f"{label} must be a non-empty string, got {text!r}")
    if (caption is None) != (alt is None):
        raise ValueError(f"give caption and alt together (a captioned figure needs alt text and "
                         f"vice versa), got caption={caption!r}, alt={alt!r}")
    keys = tuple(key for key, _ in items)
    shape = tuple(len(spec.values) for _, spec in items)
    n_frames = math.prod(shape)
    if n_frames > max_frames:
        raise ValueError(f"{n_frames} frames ({' x '.join(map(str, shape))} values of {list(keys)}) "
                         f"exceed max_frames={max_frames}; use fewer values or raise max_frames")

    # 1. Render every frame first, so a budget error leaves no orphan widget in the notebook state.
    frames, estimate = [], 0
    grid = itertools.product(*(range(m) for m in shape))
    for index in tqdm(grid, total=n_frames, disable=not progress, desc="frames"):
        values = {k: spec.values[i] for (k, spec), i in zip(items, index)}
        png = _render(plot_fn, values, figsize, dpi, colors)
        estimate += _embedded_estimate(len(png))
        if estimate > max_bytes:
            done = len(frames) + 1
            raise ValueError(
                f"frames exceed max_bytes={max_bytes}: after {done} of {n_frames} frames the "
                f"embedded size is ~{estimate} bytes (~{estimate // done} per frame, projected "
                f"~{estimate // done * n_frames}); use fewer values, a smaller figsize/dpi, or "
                f"raise max_bytes")
        labels = {k: spec.labels[i] for (k, spec), i in zip(items, index)}
        dom_class = "pframe-" + "-".join(map(str, index))
        frames.append(Frame(tuple(index), values, labels, dom_class, png))

    # 2. Build the widget tree. One Layout shared by all frames saves ~1.2 KB of JSON per frame.
    img_layout = widgets.Layout(max_width="100%", height="auto", align_self="flex-start")
    stack_layout = widgets.Layout()
    stacks = [[] for _ in items]

    def build(depth: int, prefix: tuple) -> widgets.Widget:
        if depth == len(items):
            frame = frames[_flat_index(prefix, shape)]
            return widgets.Image(value=frame.png, format="png", layout=img_layout,
                                 _dom_classes=("pframe", frame.dom_class))
        children = [build(depth + 1, prefix + (i,)) for i in range(shape[depth])]
        stack = widgets.Stack(children, selected_index=items[depth][1].default_index,
                              layout=stack_layout, _dom_classes=("pstack", f"pstack-d{depth}"))
        stacks[depth].append(stack)
        return stack

    root_stack = build(0, ())
    rows, drivers, players = [], {}, {}
    for key, spec in items:
        row, drivers[key], players[key] = _make_control(key, spec)
        rows.append(row)
    # Stack links first: if a Play view throws during an update (Font Awesome without the 'nest'
    # fix), listeners registered after it are skipped, and the frames must still follow.
    links = [widgets.jslink((drivers[key], "index"), (stack, "selected_index"))
             for key, level in zip(keys, stacks) for stack in level]
    links += [widgets.jslink((p, "value"), (drivers[k], "index")) for k, p in players.items() if p]
    children = [widgets.VBox(rows), root_stack]
    names = {key: spec.description if spec.description is not None else key for key, spec in items}
    if caption is not None:
        children.append(widgets.HTML(_caption_html(caption, alt, frames, names), _dom_classes=("pcaption-box",)))
    if live:
        default = tuple(spec.default_index for _, spec in items)
        children.append(_live_box(plot_fn, items, frames[_flat_index(default, shape)].png,
                                  figsize, dpi, colors, img_layout))
    classes = ("pwidget",) + ((f"pwidget-{name}",) if name else ())
    root = FrameWidget(children, _dom_classes=classes)
    root.frames, root.control_names, root.grid_shape = tuple(frames), keys, shape
    root.caption, root.alt, root.control_labels = caption, alt, names
    root.controls, root.stacks, root.links = drivers, tuple(map(tuple, stacks)), tuple(links)
    root.frame_bytes = sum(len(f.png) for f in frames)
    root.embedded_bytes = len(json.dumps(dependency_state(root, drop_defaults=False)))
    if root.embedded_bytes > max_bytes:
        for link in links:
            link.close()
        _close_tree(root)
        raise ValueError(f"widget state is {root.embedded_bytes} bytes, over max_bytes={max_bytes} "
                         f"({n_frames} frames, {root.frame_bytes} PNG bytes); use fewer values, "
                         f"a smaller figsize/dpi, or raise max_bytes")
    return root


def _flat_index(index: tuple, shape: tuple) -> int:
    return int(np.ravel_multi_index(index, shape)) if index else 0


def frame_report(widget: FrameWidget) -> dict:
    """Page-weight report of a :func:`frame_widget` (JSON-able): sizes per frame and in total.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    if not isinstance(widget, FrameWidget):
        raise ValueError(f"frame_report needs a FrameWidget from frame_widget(), got {type(widget).__name__}")
    sizes = [len(f.png) for f in widget.frames]
    return {
        "controls": list(widget.control_names),
        "grid_shape": list(widget.grid_shape),
        "n_frames": len(sizes),
        "frame_bytes": sum(sizes),
        "embedded_bytes": widget.embedded_bytes,
        "min_frame_bytes": min(sizes),
        "max_frame_bytes": max(sizes),
        "frames": [{"dom_class": f.dom_class, "index": list(f.index), "labels": f.labels,
                    "png_bytes": len(f.png)} for f in widget.frames],
    }


def static_figure(plot_fn, controls: dict, *, figsize=FIGSIZE, dpi=DPI) -> Figure:
    """The figure at the controls' default values, in the book style, detached from pyplot.

    For a chapter that also wants an ordinary figure (e.g. the one the text discusses): make it
    the cell's last expression, or ``display(fig)``.
    """
    items = _validate(plot_fn, controls)
    # Loading pyplot's backend (no figure is made) is what registers, in a kernel, IPython's PNG
    # display of Figure objects; without it a figure built off-pyplot shows only '<Figure ...>'.
    import matplotlib.pyplot as plt

    plt.draw_if_interactive()

    with _closing_new_pyplot_figures():  # detached, so the inline backend does not show it twice
        return _figure(plot_fn, {key: spec.default for key, spec in items}, figsize, dpi)
