"""One figure style for the whole book.

Every chapter figure and every precomputed widget frame goes through this module, so that the
book looks like one book: the same size, fonts and method colours everywhere, and an opaque white
background (a transparent PNG turns unreadable in the HTML theme's dark mode).

Figures made here are plain :class:`matplotlib.figure.Figure` objects with an Agg canvas; they are
never registered with pyplot, so building a figure inside a widget never leaks a ``<Figure ...>``
output into the notebook cell (which strict nbval would flag). To show one in a notebook, make the
figure the cell's last expression or call ``display(fig)``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import matplotlib
import numpy as np
from matplotlib import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from plasticity_sim.methods import METHODS, resolve

# Page layout: the book's text column is ~700 px wide; 6.4 x 3.6 in at 80 dpi is 512 x 288 px, small
# enough to embed dozens of widget frames in one page and large enough to read.
FIGSIZE = (6.4, 3.6)
DPI = 80
# A chapter's own figures follow the page rule (issues #15 and #26, tests/figure_checks.py): at most
# PAGE_WIDTH_IN wide at PAGE_DPI, so they show at their natural size in the ~690 px text column, where
# a matplotlib point is a CSS point; no text below MIN_FONT_PT; legends off the data; at most
# MAX_COLOURS colours for a reader to tell apart in one legend.
PAGE_DPI = 96
PAGE_WIDTH_IN = 7.0
MIN_FONT_PT = 9
MAX_COLOURS = 6

# Method colours and labels come from the one method table (plasticity_sim.methods); the colour
# cycle keeps the book's historical order so unnamed lines keep their colours.
_CYCLE = ("cold", "warm", "ideal", "warm_reset_opt", "sp", "dash", "l2_init", "head_reset", "cbp", "redo",
          "hare_tortoise")

BOOK_RC = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": DPI,
    "figure.facecolor": "white",
    "figure.constrained_layout.use": True,  # keeps axis labels inside the fixed-size frame
    "axes.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": cycler(color=[METHODS[m].color for m in _CYCLE]),
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "savefig.facecolor": "white",
    "savefig.transparent": False,
}


def method_color(name: str) -> str:
    """The book's colour for a method (``"cold"``, ``"warm"``, ``"ideal"``, ``"dash"``, ``"S&P (Gaussian)"``...).

    Accepts the method key or its display label (case-insensitive).
    """
    return resolve(name).color


def method_label(name: str) -> str:
    """The book's display label for a method key (``"shrink_perturb"`` -> ``"S&P (Gaussian)"``).
    """
    return resolve(name).label


def apply_style() -> None:
    """Make the book style the global matplotlib style (call once in a chapter's setup cell).
    """
    matplotlib.rcParams.update(BOOK_RC)


@contextlib.contextmanager
def book_style(**overrides) -> Iterator[None]:
    """Context manager: the book style (plus ``overrides``, rcParams names) inside the block only.

    rcParams are read when artists are created, so the whole figure must be built inside the block.
    """
    with matplotlib.rc_context({**BOOK_RC, **overrides}):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, *, figsize=None, sharex=False, sharey=False, dpi=None,
               **subplot_kw):
    """A figure in the book style with ``nrows x ncols`` axes, not registered with pyplot.

    ``figsize`` defaults to the book's frame size (6.4 x 3.6 in), ``dpi`` to ``DPI``; other keywords
    go to ``Figure.subplots`` (``width_ratios``, ...). Returns ``(fig, axes)`` where ``axes`` is a single
    Axes for a 1 x 1 grid, else a numpy array (as ``plt.subplots``).
    """
    for name, n in (("ncols", ncols), ("nrows", nrows)):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    with book_style():
        fig = Figure(figsize=figsize or FIGSIZE, dpi=dpi or DPI, facecolor="white")
        FigureCanvasAgg(fig)  # render with Agg, independent of the notebook's backend
        axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=True, **subplot_kw)
    return fig, axes


def page_figure(ncols: int = 1, nrows: int = 1, *, figsize=(PAGE_WIDTH_IN, 3.2), **kw):
    """:func:`new_figure` at the page rule's ``PAGE_DPI`` (a chapter's static figure); ``figsize`` at
    most ``PAGE_WIDTH_IN`` wide, so that it shows at its natural size.
    """
    if figsize[0] > PAGE_WIDTH_IN:
        raise ValueError(f"figsize must be at most {PAGE_WIDTH_IN} in wide, got {figsize[0]!r}")
    return new_figure(ncols, nrows, figsize=figsize, dpi=PAGE_DPI, **kw)


def mean_std_band(ax, x, mean, std, *, label=None, color=None, alpha=0.2, n_std=1.0):
    """Plot ``mean`` as a line and ``mean +- n_std * std`` as a shaded band of the same colour.

    Returns the line (so callers can reuse its colour). Raises ValueError if shapes differ.
    """
    x, mean, std = (np.asarray(a, dtype=float) for a in (x, mean, std))
    if not (x.ndim == 1 and x.shape == mean.shape == std.shape):
        raise ValueError(f"x, mean and std must be 1-D of equal length, got shapes "
                         f"{x.shape}, {mean.shape}, {std.shape}")
    (line,) = ax.plot(x, mean, label=label, color=color)
    ax.fill_between(x, mean - n_std * std, mean + n_std * std, color=line.get_color(),
                    alpha=alpha, linewidth=0)
    return line


def png_bytes(fig: Figure, *, dpi: float | None = None, colors: int | None = 256,
              facecolor="white") -> bytes:
    """Render ``fig`` to PNG bytes, deterministically (same figure -> byte-identical file).

    * No ``Software`` metadata, so the bytes do not depend on the matplotlib version string.
    * ``colors=256`` (default) stores an adaptive 256-colour palette without dithering: a line
      plot shrinks ~3x with no visible change, which is what lets a page embed dozens of widget
      frames. ``colors=None`` keeps matplotlib's lossless RGBA PNG.
    * Background is opaque ``facecolor`` (white), whatever the figure's own facecolor.
    """
    if colors is not None and not (isinstance(colors, (int, np.integer)) and 2 <= colors <= 256):
        raise ValueError(f"colors must be None or an int in [2, 256], got {colors!r}")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # a plain Figure: give it an Agg canvas, never a GUI/pyplot one
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, facecolor=facecolor, edgecolor=facecolor,
                transparent=False, metadata={"Software": None})
    if colors is None:
        return buf.getvalue()
    from PIL import Image  # Pillow is a matplotlib dependency

    buf.seek(0)
    with Image.open(buf) as im:
        rgb = im.convert("RGB")  # the background is opaque, so alpha carries nothing
    pal = rgb.quantize(int(colors), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    pal.save(out, format="png", optimize=True)
    return out.getvalue()


def show(fig: Figure) -> None:
    """Display a figure made off pyplot (e.g. by :func:`new_figure`) as an image in a notebook.

    Loading pyplot's backend (no figure is made) registers IPython's PNG display of Figure objects;
    without it a detached figure shows only its ``<Figure size ...>`` text. Outside IPython this is a
    no-op apart from that.

    Explained in: book/00_headline_results.ipynb
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    plt.draw_if_interactive()
    display(fig)
