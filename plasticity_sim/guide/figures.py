"""The figure of the closing part: the remedy map as one colour-coded grid.

Drawn at 96 dpi and at most 7 in wide, so that it shows at its natural size in the book's ~690 px
column, where a matplotlib point is a CSS point: no text is smaller than :data:`MIN_FONT_PT`
(tests/test_guide.py checks both, and that the legend sits off the grid).

Explained in: book/guide/01_what_to_use_when.ipynb
"""
from __future__ import annotations

import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from plasticity_sim.guide.remedy_map import ROWS, SETTINGS, WARM_START, lookup
from plasticity_sim.plotting import book_style

FIG_DPI = 96
MIN_FONT_PT = 9
# An improvement, a harm, no measurable difference, not run. Blue and orange stay apart for the
# common colour-vision deficiencies; a measurable cell is also written in bold, so colour is never
# the only cue.
COLOURS = {True: "#9ecae1", False: "#fdae6b", None: "#ebebeb", "not run": "white"}
LEGEND = {True: "better than the baseline (Holm, 5 %)", False: "worse than the baseline",
          None: "no measurable difference", "not run": "– not run"}


def _text(cell: dict) -> str:
    if cell["verdict"] == "not run":
        return "–"
    return f"{cell['mean']:+.{1 if cell['unit'] == 'points' else 2}f}".replace("-", "−")


def plot_map(cells: list[dict], *, width: float = 7.0):
    """Methods (rows) × settings (columns): each cell is coloured by its Holm verdict, read as better
    or worse for the setting's metric, and shows the mean paired effect against the setting's
    baseline (points of accuracy; squared error for the regression). A vertical line separates the
    warm-start settings (baseline: warm start) from the continual ones (baseline: backprop).

    Explained in: book/guide/01_what_to_use_when.ipynb
    """
    if width > 7.0:
        raise ValueError(f"width={width} in is wider than the book's column (7 in at 96 dpi)")
    by = lookup(cells)
    rows = [m for m in ROWS if any(by[(m, s.key)]["verdict"] != "not run" for s in SETTINGS)]
    with book_style(**{"axes.grid": False, "font.size": MIN_FONT_PT}):
        fig = Figure(figsize=(width, 0.26 * len(rows) + 1.5), dpi=FIG_DPI, facecolor="white")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for i, m in enumerate(rows):
            for j, s in enumerate(SETTINGS):
                c = by[(m, s.key)]
                key = "not run" if c["verdict"] == "not run" else c["better"]
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=COLOURS[key], edgecolor="white", lw=1.5))
                ax.text(j, i, _text(c), ha="center", va="center", fontsize=MIN_FONT_PT,
                        color="#999999" if key == "not run" else "black",
                        fontweight="bold" if key in (True, False) else "normal")
        ax.set_xlim(-0.5, len(SETTINGS) - 0.5)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks(range(len(rows)), [ROWS[m] for m in rows], fontsize=MIN_FONT_PT)
        ax.xaxis.tick_top()
        ax.set_xticks(range(len(SETTINGS)), [textwrap.fill(s.title, 11) for s in SETTINGS], fontsize=MIN_FONT_PT)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.axvline(len(WARM_START) - 0.5, color="#333333", lw=1.2)
        handles = [Patch(facecolor=COLOURS[k], edgecolor="#999999", label=label) for k, label in LEGEND.items()]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=MIN_FONT_PT, frameon=False)
    return fig
