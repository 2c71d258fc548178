"""The book's page rules for figures, as checks every figure test uses (issues #15 and #26).

A chapter figure is shown at its natural pixel size when it is at most 7 in wide at 96 dpi (the text
column is ~690 px), and at 96 dpi a matplotlib point is a CSS point, so ``fontsize >= 9`` means 9 pt on
the reader's screen. On top of size and fonts a legible figure has

* no legend over data (points, line vertices, bars),
* no two labels drawn over each other, and no label cut off at the figure's edge,
* bar charts whose value axis includes the bars' base (no truncated axis),
* at most ``MAX_COLOURS`` colours among the entries of one legend (more cannot be told apart).

Each ``check_*`` raises AssertionError naming the figure and what is wrong; :func:`check_page_rules`
runs them all. Used by tests/test_figure_fonts.py (theory), tests/test_figures.py (DASH) and
tests/test_figures_legible.py (bridge, Hare & Tortoise, continual, published tables).
"""
from __future__ import annotations

import itertools

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.legend import Legend
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from plasticity_sim.plotting import MAX_COLOURS, MIN_FONT_PT, PAGE_DPI, PAGE_WIDTH_IN

_SLACK_PX = 1.0   # text boxes may touch; they overlap when they share more than this much


def _draw(fig):
    """Draw ``fig`` as the page does (Agg, the layout engine run)."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()


def _undrawn_tick_labels(fig):
    """Tick labels of ticks outside their axis's view interval: matplotlib keeps them but never draws them."""
    out = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(1.0, abs(hi - lo))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not lo - eps <= loc <= hi + eps:
                    out.update((id(tick.label1), id(tick.label2)))
    return out


def visible_texts(fig):
    """Every non-empty text drawn on ``fig`` (draws the figure first)."""
    _draw(fig)
    hidden = _undrawn_tick_labels(fig)
    return [t for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.figure is fig and id(t) not in hidden]


def smallest_font(fig) -> float:
    """The smallest font size (pt) of the visible texts of ``fig``."""
    return min(t.get_fontsize() for t in visible_texts(fig))


def check_size_and_fonts(name, fig, *, dpi=PAGE_DPI, max_width=PAGE_WIDTH_IN, min_pt=MIN_FONT_PT):
    """At most ``max_width`` in wide at ``dpi`` (natural size on the page), no text below ``min_pt``."""
    w, _ = fig.get_size_inches()
    assert fig.dpi == dpi and w <= max_width + 0.05, f"{name}: {w:.2f} in at {fig.dpi} dpi"
    small = sorted({(round(t.get_fontsize(), 1), t.get_text()[:30]) for t in visible_texts(fig)
                    if t.get_fontsize() < min_pt})
    assert not small, f"{name}: text below {min_pt} pt: {small[:5]}"


def _legends(fig):
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def data_points(ax):
    """Display coordinates of the data of ``ax``: line vertices, scatter offsets, segment ends."""
    pts = [line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
           for line in ax.get_lines() if line.get_visible() and len(line.get_xdata())]
    for c in ax.collections:
        if not c.get_visible():
            continue
        if isinstance(c, LineCollection):          # error bars, vlines, contours
            segs = [s for s in c.get_segments() if len(s)]
            if segs:
                pts.append(c.get_transform().transform(np.concatenate(segs).astype(float)))
        elif isinstance(c, PathCollection) and len(c.get_offsets()):   # scatter
            pts.append(c.get_offset_transform().transform(np.asarray(c.get_offsets(), float)))
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    return pts[np.isfinite(pts).all(axis=1)]


def data_boxes(ax):
    """Display-space boxes (x0, y0, x1, y1) of the bars of ``ax`` (bar charts and histograms)."""
    boxes = []
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_visible() and p.get_width() and p.get_height() and p.get_fill():
            (x0, y0), (x1, y1) = p.get_transform().transform(
                [(p.get_x(), p.get_y()), (p.get_x() + p.get_width(), p.get_y() + p.get_height())])
            boxes.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return boxes


def check_legends_off_data(name, fig):
    """No legend box holds a data point or overlaps a bar of any axes."""
    _draw(fig)
    for leg in _legends(fig):
        assert isinstance(leg, Legend)
        box = leg.get_window_extent()
        for ax in fig.axes:
            pts = data_points(ax)
            inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
            assert not inside.any(), f"{name}: legend covers {inside.sum()} data points"
            # bars clipped to the axes count only where they are visible
            clip = ax.get_window_extent()
            bars = [(max(x0, clip.x0), max(y0, clip.y0), min(x1, clip.x1), min(y1, clip.y1))
                    for x0, y0, x1, y1 in data_boxes(ax)]
            hit = [b for b in bars if min(b[2], box.x1) - max(b[0], box.x0) > _SLACK_PX
                   and min(b[3], box.y1) - max(b[1], box.y0) > _SLACK_PX]
            assert not hit, f"{name}: legend covers {len(hit)} bars"


def check_texts_apart(name, fig):
    """No two labels overlap, and every label lies inside the figure (none cut off at its edge)."""
    texts = visible_texts(fig)
    boxes = [(t, t.get_window_extent()) for t in texts]
    W, H = fig.bbox.width, fig.bbox.height
    out = [t.get_text()[:30] for t, b in boxes
           if b.x0 < -_SLACK_PX or b.y0 < -_SLACK_PX or b.x1 > W + _SLACK_PX or b.y1 > H + _SLACK_PX]
    assert not out, f"{name}: text cut off at the figure's edge: {out[:5]}"
    clash = [(a.get_text()[:25], b.get_text()[:25]) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
             if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > _SLACK_PX and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > _SLACK_PX]
    assert not clash, f"{name}: {len(clash)} pairs of labels overlap, e.g. {clash[:3]}"


def check_bars_from_zero(name, fig):
    """A bar's length is its value: on a linear value axis the axis includes the bars' base."""
    for ax in fig.axes:
        for c in ax.containers:
            if not isinstance(c, BarContainer) or not len(c.patches):
                continue
            horizontal = c.orientation == "horizontal"
            scale = ax.get_xscale() if horizontal else ax.get_yscale()
            if scale != "linear":
                continue
            base = {round(p.get_x() if horizontal else p.get_y(), 9) for p in c.patches}
            lo, hi = sorted(ax.get_xlim() if horizontal else ax.get_ylim())
            cut = [b for b in base if not lo <= b <= hi]
            assert not cut, f"{name}: bars start at {cut[0]:g}, outside the axis range [{lo:g}, {hi:g}] (truncated)"


def _handle_colour(h):
    """The colour a legend entry shows (a line's colour, else a patch's or marker's face)."""
    for get in ("get_color", "get_facecolor", "get_edgecolor"):
        if hasattr(h, get):
            c = getattr(h, get)()
            if not isinstance(c, str):
                c = np.asarray(c, dtype=float)
                if c.ndim == 2:
                    if not len(c):
                        continue
                    c = c[0]
            return to_hex(c)
    return None


def check_colours(name, fig, *, max_colours=MAX_COLOURS):
    """No legend asks the reader to tell more than ``max_colours`` colours apart."""
    _draw(fig)
    for leg in _legends(fig):
        colours = {_handle_colour(h) for h in leg.legend_handles} - {None}
        assert len(colours) <= max_colours, f"{name}: one legend with {len(colours)} colours (at most {max_colours})"


def check_layout(name, fig):
    """Labels apart and inside the figure, bars from their base, few colours."""
    check_texts_apart(name, fig)
    check_bars_from_zero(name, fig)
    check_colours(name, fig)


def check_page_rules(name, fig, **size_kw):
    """All of the above."""
    check_size_and_fonts(name, fig, **size_kw)
    check_legends_off_data(name, fig)
    check_layout(name, fig)
