"""Figures of the theory chapters: data points, one training run, Fig. 3, and the theorem checks.

Every function returns a matplotlib Figure drawn in the book style and detached from pyplot (show it
with ``plasticity_sim.plotting.show``, or hand the function to ``plasticity_sim.widgets.frame_widget``).
The numbers come from ``studies`` and the simulator; nothing here computes results. numpy and
matplotlib only.

Explained in: book/theory/01_data_model.ipynb, book/theory/02_discrete_process.ipynb,
book/theory/03_warm_cold_ideal.ipynb, book/theory/04_theorems.ipynb
"""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..plotting import MIN_FONT_PT, PAGE_DPI, book_style, mean_std_band, method_color, method_label
from .model import FREQUENCY_LAWS, sample_frequencies
from .studies import data_model_example
from .bounds import binomial_tail, chernoff_tail_bound

__all__ = ["point_matrix", "plot_data_points", "data_model_frame", "plot_frequency_laws",
           "plot_trace_step", "plot_fig3", "plot_chunk_counts", "plot_learn_probability",
           "plot_sp_sweep", "STATUS_COLORS"]

# Point status colours of the process pictures (not method colours: these are states of a point).
STATUS_COLORS = {"active": "#fff3c4", "explained": "#c7e9c0", "memorised": "#fcbba1",
                 "memorised earlier": "#e0785f"}
_BASIC = ("active", "explained", "memorised")
_CLASS_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860")
_GAP = 1.0  # blank columns between the points of two classes
# Readable on the page: figures are at most 7 in wide and rendered at 96 dpi (CSS's own), so they show
# at their natural size in the ~690 px text column and a point in matplotlib is a point on the screen;
# no text is smaller than MIN_FONT_PT (tests/test_figure_fonts.py checks both, and no legend over data).
# The rule's numbers live in plasticity_sim.plotting (PAGE_DPI, MIN_FONT_PT), shared by every part.
FIG_DPI = PAGE_DPI
WIDE = (7.0, 3.0)


def _figure(figsize, **subplot_kw):
    """A book-style Figure off pyplot, with axes from ``fig.subplots(**subplot_kw)``."""
    fig = Figure(figsize=figsize, dpi=FIG_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplot_kw)


def point_matrix(data, n_show: int | None = None):
    """The data as one picture matrix: rows = all C*K features, columns = the shown points.

    Returns ``(matrix, column_class)``: ``matrix[c*K + k, col]`` is true iff the point in column
    ``col`` (class ``column_class[col]``, the first ``n_show`` points of each class side by side)
    contains feature k of class c. Points only hold their own class's features, so the matrix is
    block diagonal.

    Explained in: book/theory/01_data_model.ipynb
    """
    data = np.asarray(data, dtype=bool)
    if data.ndim != 3:
        raise ValueError(f"data must be a (C, K, n) bool array, got shape {data.shape}")
    C, K, n = data.shape
    m = n if n_show is None else int(n_show)
    if not 1 <= m <= n:
        raise ValueError(f"n_show must be in 1..{n}, got {n_show}")
    matrix = np.zeros((C * K, C * m), bool)
    for c in range(C):
        matrix[c * K:(c + 1) * K, c * m:(c + 1) * m] = data[c, :, :m]
    return matrix, np.repeat(np.arange(C), m)


def _column_x(C, m):
    """x position of each shown point: class blocks of m columns separated by a gap."""
    return (np.arange(C)[:, None] * (m + _GAP) + np.arange(m)[None, :]).ravel()


def _dot_size(ax_height_in, ax_width_in, rows, cols):
    cell = min(ax_height_in * 72 / rows, ax_width_in * 72 / cols)  # points per cell
    return float(np.clip(0.6 * cell, 1.2, 9.0)) ** 2


def _draw_points(ax, data, m, *, size, shade=None, noise_colors=None, noise_mask=None, ring=None,
                 row_labels=None):
    """Feature dots (rows) per point (columns), a noise cell per point at the bottom row."""
    C, K, _ = data.shape
    matrix, _ = point_matrix(data, m)
    x = _column_x(C, m)
    rows = C * K
    if shade is not None:                       # one background colour per column (point status)
        for xi, colour in zip(x, shade):
            ax.add_patch(Rectangle((xi - 0.5, -0.5), 1, rows + 1.5, color=colour, lw=0, zorder=0))
    r, col = np.nonzero(matrix)
    edge = "none" if ring is None else np.where(ring[r], "k", "none")   # ring: learned feature rows
    ax.scatter(x[col], r, s=size, c=np.array(_CLASS_COLORS)[r // K % len(_CLASS_COLORS)],
               edgecolors=edge, linewidths=min(0.8, 0.12 * np.sqrt(size)), zorder=2)
    # noise: one cell per point, each its own colour, because no two points share their noise
    colours = noise_colors if noise_colors is not None else _noise_colors(len(x))
    alpha = np.ones(len(x)) if noise_mask is None else np.where(noise_mask, 1.0, 0.25)
    for xi, colour, a in zip(x, colours, alpha):
        ax.add_patch(Rectangle((xi - 0.4, rows + 0.1), 0.8, 0.8, color=colour, alpha=a, lw=0, zorder=2))
    for c in range(1, C):
        ax.axhline(c * K - 0.5, color="0.6", lw=0.6)
        ax.axvline(c * (m + _GAP) - 0.5 - _GAP / 2, color="0.6", lw=0.6)
    ax.set_xlim(-0.8, x[-1] + 0.8)
    ax.set_ylim(rows + 1.2, -0.8)
    ax.grid(False)
    ax.set_xticks([c * (m + _GAP) + (m - 1) / 2 for c in range(C)], [f"points of class {c}" for c in range(C)])
    if row_labels is None:
        ax.set_yticks([c * K + (K - 1) / 2 for c in range(C)] + [rows + 0.5],
                      [f"class {c}\nfeatures" for c in range(C)] + ["noise"])
    else:
        ax.set_yticks(list(range(rows)) + [rows + 0.5], list(row_labels) + ["noise"], fontsize=MIN_FONT_PT)
    ax.tick_params(length=0)


def _noise_colors(n):
    from matplotlib import colormaps

    return colormaps["hsv"](np.linspace(0, 1, n, endpoint=False))[np.random.default_rng(1).permutation(n)]


def plot_data_points(p, data, *, n_show: int | None = None, title: str | None = None,
                     figsize=(7.0, 3.4)) -> Figure:
    """The paper's Fig. 5a style: each column a data point, a dot for every feature it holds, plus
    its own noise cell; beside it the frequency of every feature (sorted, most common first).

    ``p`` (C, K) frequencies, ``data`` (C, K, n) bool; the first ``n_show`` points of each class.
    """
    p = np.asarray(p, float)
    data = np.asarray(data, bool)
    C, K, n = data.shape
    m = n if n_show is None else int(n_show)
    with book_style():
        fig, (ax_p, ax) = _figure(figsize, ncols=2, sharey=True, width_ratios=[1, 4])
        rows = C * K
        ax_p.barh(np.arange(rows), p.ravel(), height=0.8 if rows <= 40 else 1.0,
                  color=np.array(_CLASS_COLORS)[np.arange(rows) // K % len(_CLASS_COLORS)])
        ax_p.set_xlabel("frequency $p_{c,k}$")
        ax_p.set_xlim(0, max(0.05, float(p.max()) * 1.1))
        # no "0.0" tick label: it would collide with the "noise" row label above it
        ax_p.xaxis.set_major_locator(MaxNLocator(3, steps=[1, 2, 5, 10], prune="lower"))
        ax_p.grid(False)
        w = figsize[0] * 0.75
        _draw_points(ax, data, m, size=_dot_size(figsize[1] * 0.75, w, rows + 1, C * (m + _GAP)))
        ax.tick_params(labelleft=False)
        ax_p.tick_params(length=0)
        held = data[:, :, :m].sum(axis=1).mean()
        fig.suptitle(title or f"C = {C}, K = {K}, {m} points per class; {held:.1f} features per point",
                     fontsize=MIN_FONT_PT)
    return fig


def data_model_frame(n_features: int, law: str, n_per_class: int, *, n_classes: int = 2, seed: int = 0,
                     figsize=(7.0, 3.4)) -> Figure:
    """Draw frequencies and points for (K, law, n) with ``default_rng(seed)`` and plot them.

    The plot function of the data-model chapter's sliders.

    Explained in: book/theory/01_data_model.ipynb
    """
    p, data = data_model_example(n_features, law, n_per_class, n_classes=n_classes, seed=seed)
    return plot_data_points(p, data, figsize=figsize,
                            title=f"law {law!r}: C = {n_classes}, K = {n_features}, {n_per_class} points "
                                  f"per class; {data.sum(axis=1).mean():.1f} features per point")


def plot_frequency_laws(n_features: int = 50, *, seed: int = 0, figsize=(7.0, 3.4)) -> Figure:
    """Sorted feature frequencies of class 0 under every named law, with the mean features per point
    (over both classes of ``sample_frequencies(2, K, default_rng(seed), law)``, laws drawn in order).

    Explained in: book/theory/01_data_model.ipynb
    """
    with book_style():
        fig, ax = _figure(figsize)
        rng = np.random.default_rng(seed)   # the draws of the chapter's table: 2 classes, laws in order
        for law, colour in zip(FREQUENCY_LAWS, _CLASS_COLORS):
            q = sample_frequencies(2, n_features, rng, law)
            ax.plot(np.arange(n_features), q[0], "o-", ms=2.5, color=colour,
                    label=f"{law}: {q.sum(axis=1).mean():.1f} features per point")
        ax.set_xlabel("feature k (sorted, most frequent first)")
        ax.set_ylabel("frequency $p_k$")
        fig.legend(loc="outside lower center", ncols=2)
    return fig


def plot_trace_step(data, trace, step: int, *, title: str = "", figsize=(7.0, 3.8),
                    n_old: int | None = None, memorised_before=None) -> Figure:
    """One greedy decision of a training run (the paper's Fig. 5b, step by step).

    Left: the points (columns) with their features (dots), shaded by status: active (non-zero
    gradient), explained (>= tau learned features) or, after the last step, memorised (their noise
    cell is fitted). Learned features' rows are marked. Right: the count of every feature over the
    active points, the threshold gamma, and the feature the rule picks.

    ``trace`` from ``trace_training_run(data, ...)``; ``step`` indexes ``trace.steps``; ``title``
    is put before the description of the step. Points that are neither active nor explained when
    the run starts (a warm start's old memorised points) are drawn memorised from the first step.
    For a second experiment, ``n_old`` (points per class of the earlier chunks) draws a line between
    the old and the new chunk, and ``memorised_before`` ((C, n) bool, or (C, n_old): points memorised
    by the earlier run) draws those still memorised as "memorised earlier", apart from the points the
    current run memorises.

    Explained in: book/theory/02_discrete_process.ipynb
    """
    data = np.asarray(data, bool)
    C, K, n = data.shape
    if not 0 <= step < len(trace.steps):
        raise ValueError(f"step must be in 0..{len(trace.steps) - 1}, got {step}")
    s = trace.steps[step]
    last = step == len(trace.steps) - 1
    status = np.where(s.explained, "explained", np.where(s.active, "active", "memorised"))
    if last:  # the run stops here: every point still active is memorised
        status = np.where(trace.memorised, "memorised", status)
    shown = list(_BASIC)
    if memorised_before is not None:
        before = np.zeros((C, n), bool)
        mb = np.asarray(memorised_before, bool)
        before[:, :mb.shape[1]] = mb
        status = np.where(before & (status == "memorised") & ~np.asarray(trace.memorised, bool),
                          "memorised earlier", status)
        shown.append("memorised earlier")
    rows = C * K
    with book_style():
        fig, (ax, axc) = _figure(figsize, ncols=2, sharey=True, width_ratios=[3, 1.3])
        shade = [STATUS_COLORS[x] for x in status.ravel()]
        noise_on = np.isin(status, ("memorised", "memorised earlier")).ravel()
        learned = s.learned.ravel()
        labels = [f"({r // K},{r % K})" + (" learned" if learned[r] else "") for r in range(rows)]
        _draw_points(ax, data, n, size=_dot_size(figsize[1] * 0.7, figsize[0] * 0.6, rows + 1,
                                                  C * (n + _GAP)),
                     shade=shade, noise_mask=noise_on,
                     ring=learned, row_labels=labels)
        counts = s.counts.ravel()
        colours = np.where(s.learned.ravel(), "0.8", np.array(_CLASS_COLORS)[np.arange(rows) // K % len(_CLASS_COLORS)])
        bars = axc.barh(np.arange(rows), counts, height=0.75, color=colours)
        axc.axvline(s.gamma, color="k", ls="--", lw=1)
        axc.text(s.gamma, rows + 0.9, f" γ = {s.gamma}", fontsize=MIN_FONT_PT, va="center")
        if s.chosen is not None:
            r = s.chosen[0] * K + s.chosen[1]
            bars[r].set_edgecolor("k")
            bars[r].set_linewidth(1.5)
            axc.annotate("largest", (counts[r], r), xytext=(4, 0), textcoords="offset points",
                         va="center", fontsize=MIN_FONT_PT)
        axc.set_xlabel("active points holding it")
        axc.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        axc.set_xlim(0, max(s.gamma, counts.max(initial=0)) * 1.35 + 1)
        axc.grid(False)
        axc.tick_params(length=0)
        n_mem = int(trace.memorised.sum())
        if s.learns:
            what = (f"feature ({s.chosen[0]}, {s.chosen[1]}) has the largest count, "
                    f"{s.chosen_count} >= γ: learn it")
        elif s.chosen is None:
            what = "every feature is learned: stop"
        else:
            what = (f"largest count {s.chosen_count} < γ = {s.gamma}: stop, "
                    f"memorise the {n_mem} active points")
        fig.suptitle(f"{title}step {step + 1}: {what}", fontsize=MIN_FONT_PT, x=0.01, ha="left")
        if n_old is not None and 0 < n_old < n:
            for c in range(C):
                xb = c * (n + _GAP) + n_old - 0.5
                ax.axvline(xb, color="0.25", lw=1.2, ls=(0, (3, 2)))
                for x0, text in ((c * (n + _GAP) + (n_old - 1) / 2, "old chunk"),
                                 (c * (n + _GAP) + (n_old + n - 1) / 2, "new chunk")):
                    ax.text(x0, -1.0, text, ha="center", va="bottom", fontsize=MIN_FONT_PT)
            ax.set_ylim(rows + 1.2, -2.6)
        fig.legend(handles=[Patch(color=STATUS_COLORS[k], label=k) for k in shown],
                   loc="outside lower center", ncols=len(shown))
    return fig


_FIG3_PANELS = (("accuracy", "test accuracy (%)", 100.0),
                ("n_learned", "learned features", 1.0),
                ("active_at_start", "active points at start", 1.0))


def plot_fig3(result, *, methods=None, title: str | None = None, log_active: bool = True,
              figsize=(7.0, 3.0)) -> Figure:
    """The paper's Fig. 3: test accuracy, learned features and active points at the start of each
    experiment, mean +- std over seeds (shaded), one line per method (cold green, warm navy, ideal red).

    ``result``: a ``Fig3Result``; ``methods``: labels to draw (default all). The active-points panel
    uses a log scale by default, since cold's count is ~100 times warm's.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    labels = list(result.methods if methods is None else methods)
    x = result.experiments
    with book_style():
        fig, axes = _figure(figsize, ncols=3)
        for ax, (metric, ylabel, scale) in zip(axes, _FIG3_PANELS):
            for lab in labels:
                curves = result[lab]
                name = curves.method.name
                try:
                    colour, text = method_color(lab), method_label(lab)
                except ValueError:  # e.g. "sp 0.5": colour of its method, its own label
                    colour, text = method_color(name), lab
                line = mean_std_band(ax, x, curves.mean(metric) * scale, curves.std(metric) * scale,
                                     label=text, color=colour)
                if name == "ideal":   # ideal lies on top of cold: dashed, so both stay visible
                    line.set_linestyle((0, (4, 2)))
            ax.set_xlabel("experiment j")
            ax.set_title(ylabel, fontsize=MIN_FONT_PT)
        if log_active:
            axes[2].set_yscale("log")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(labels))
        cfg = result.config
        fig.suptitle(title or (f"N = {cfg.n_per_exp}, C = {cfg.n_classes}, K = {cfg.n_features}, "
                               f"γ = {cfg.gamma}, τ = {cfg.tau}; mean ± std over {cfg.n_seeds} seeds"),
                     fontsize=MIN_FONT_PT)
    return fig


def plot_chunk_counts(p, new, pooled, *, gamma: int, j: int, learned: dict, c: int = 0,
                      figsize=(7.0, 3.6)) -> Figure:
    """Why warm stops learning: per feature of class ``c`` (sorted by frequency), its count in the
    j-th chunk alone (all warm can ever use, Prop. R2) and in chunks 1..j (where cold starts), with
    the threshold gamma; marks show which features each method has learned after experiment j.

    ``new``, ``pooled`` from ``studies.chunk_counts``; ``learned`` {method: (C, K) bool}.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    order = np.argsort(-np.asarray(p)[c], kind="stable")
    k = np.arange(len(order))
    with book_style():
        fig, ax = _figure(figsize)
        ax.plot(k, np.maximum(pooled[c, order], 0.8), "o", ms=3.5, color=method_color("cold"),
                label=f"in all {j} chunks (cold's starting count)")
        ax.plot(k, np.maximum(new[c, order], 0.8), "s", ms=3.5, color=method_color("warm"),
                label=f"in chunk {j} only (warm's ceiling)")
        ax.axhline(gamma, color="k", ls="--", lw=1)
        ax.annotate(f"γ = {gamma}", xy=(1, gamma), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=MIN_FONT_PT)
        ax.set_yscale("log")
        lo = 0.35
        for i, (name, L) in enumerate(learned.items()):
            y = lo * 0.72 ** i
            hit = np.asarray(L)[c, order]
            ax.plot(k[hit], np.full(hit.sum(), y), "|", ms=7, mew=2, color=method_color(name),
                    label=f"learned by {method_label(name)} (ticks)")
        ax.set_ylim(lo * 0.72 ** len(learned) * 0.8, max(pooled.max(), gamma) * 2)
        ax.set_xlim(-1.5, len(order) - 0.5)
        ax.set_xlabel(f"feature of class {c}, most frequent first")
        ax.set_ylabel("points holding the feature")
        fig.legend(loc="outside upper center", ncols=2)
    return fig


def plot_learn_probability(rates: dict, *, figsize=(7.0, 3.4)) -> Figure:
    """Prop. R2 checked: the simulated chance that warm (and cold) learn a feature of frequency p,
    against the exact chance that some chunk reaches gamma and its union and Chernoff bounds.

    ``rates`` from ``studies.warm_learn_rates``.

    Explained in: book/theory/04_theorems.ipynb
    """
    ps, n, g, J = rates["p"], rates["n_per_class"], rates["gamma"], rates["n_exp"]
    grid = np.linspace(0.0, float(ps.max()) * 1.02, 200)
    tail = binomial_tail(n, grid, g)
    se = np.sqrt(rates["warm"] * (1 - rates["warm"]) / rates["n_trials"])
    with book_style():
        fig, ax = _figure(figsize)
        ax.plot(grid, 1 - (1 - tail) ** J, color="k", lw=1.2, label="P(some chunk reaches γ), exact")
        ax.plot(grid, np.minimum(1, J * tail), color="0.4", ls="--", lw=1.2, label="union bound J·P(Bin ≥ γ)")
        ax.plot(grid, np.minimum(1, J * chernoff_tail_bound(n, grid, g)), color="0.6", ls=":", lw=1.5,
                label="Chernoff bound")
        ax.errorbar(ps, rates["warm"], yerr=2 * se, fmt="s", ms=4, color=method_color("warm"),
                    label="warm, simulated")
        ax.plot(ps, rates["cold"], "o", ms=4, color=method_color("cold"), label="cold, simulated")
        ax.axvline(g / n, color="0.7", lw=0.8)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("feature frequency p")
        ax.set_ylabel(f"P(learned within {J} experiments)")
        ax.set_title(f"n = {n} new points per class per chunk, γ = {g} (grey line: p = γ/n)", fontsize=MIN_FONT_PT)
        fig.legend(loc="outside right center")
    return fig


def plot_sp_sweep(sweep: dict, forget_prob: float, *, figsize=(7.0, 3.0)) -> Figure:
    """Fig. 3 with shrink & perturb at one ``forget_prob`` between ideal (0) and cold (1).

    ``sweep`` from ``studies.sp_sweep``; ``forget_prob`` must be one of its values.

    Explained in: book/theory/04_theorems.ipynb
    """
    qs = list(sweep["forget_probs"])
    if forget_prob not in qs:
        raise ValueError(f"forget_prob must be one of the sweep's values {qs}, got {forget_prob!r}")
    lab = sweep["labels"][qs.index(forget_prob)]
    return plot_fig3(sweep["result"], methods=["cold", "ideal", lab],
                     title=f"shrink & perturb forgetting each learned feature with probability "
                           f"{forget_prob:g} ({lab})", figsize=figsize)
