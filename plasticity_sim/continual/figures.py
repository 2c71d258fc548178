"""Figures of the continual-learning chapters (book/continual). Each function returns a Figure.

Explained in: book/continual/01_loss_of_plasticity.ipynb
"""

from __future__ import annotations

import numpy as np

from plasticity_sim.plotting import MAX_COLOURS, MIN_FONT_PT, method_color, page_figure
from plasticity_sim.stats import t_quantile

LABELS = {"bp": "backprop", "cbp": "continual backprop", "l2": "L2 (every step)", "sp": "S&P (every step)"}
COLORS = {"bp": method_color("warm"), "cbp": method_color("cbp"), "l2": method_color("l2"),
          "sp": method_color("sp_continual")}


def _band(ax, x, rows, color, label):
    rows = np.asarray(rows, float)
    mean = rows.mean(0)
    half = t_quantile(len(rows) - 1) * rows.std(0, ddof=1) / np.sqrt(len(rows))
    ax.plot(x, mean, color=color, label=f"{label} ({len(rows)} runs)")
    ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, lw=0)


def plot_regression(errors: dict, bin_size: int, *, dead: dict | None = None, title: str | None = None):
    """Binned squared error over time, mean and 95 % t band over runs, one line per method
    (``errors``: method -> (runs, bins) array); with ``dead`` a second panel shows the share of
    hidden units that never fired in a bin.

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    fig, axes = page_figure(2 if dead else 1, figsize=(7.0, 3.4))
    axes = np.atleast_1d(axes)
    for method, rows in errors.items():
        rows = np.asarray(rows)
        x = (np.arange(rows.shape[1]) + 1) * bin_size / 1e3
        _band(axes[0], x, rows, COLORS.get(method), LABELS.get(method, method))
    axes[0].set_xlabel("step (thousands)")
    axes[0].set_ylabel(f"squared error per {bin_size // 1000}k-step bin")
    if title:
        fig.suptitle(title, fontsize=MIN_FONT_PT + 2)
    if dead:
        for method, rows in dead.items():
            rows = np.asarray(rows)
            x = (np.arange(rows.shape[1]) + 1) * bin_size / 1e3
            _band(axes[1], x, 100 * rows, COLORS.get(method), LABELS.get(method, method))
        axes[1].set_xlabel("step (thousands)")
        axes[1].set_ylabel("units that never fired (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))   # below the axes, off the bands
    return fig


def plot_frame(data: dict, activation: str, lr: float):
    """One slider frame: error curves of backprop and each CBP replacement rate for one activation
    and step size, from ``continual_studies.load_frames()`` (mean and 95 % t band over runs).

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    from plasticity_sim.continual.studies import frame

    fig, ax = page_figure(figsize=(7.0, 3.4))
    bin_size = data["run"]["bin_size"]
    colors = {0.0: COLORS["bp"], 1e-4: COLORS["cbp"], 1e-3: "#2ca02c"}
    for rho in data["grid"]["replacement_rate"]:
        f = frame(data, activation, lr, rho)
        mean, half = np.array(f["mean"]), np.array(f["half"])
        x = (np.arange(len(mean)) + 1) * bin_size / 1e3
        label = "backprop" if rho == 0 else f"CBP, ρ = {rho:g}"
        ax.plot(x, mean, color=colors.get(rho), label=label)
        ax.fill_between(x, mean - half, mean + half, color=colors.get(rho), alpha=0.2, lw=0)
    ax.set_xlabel("step (thousands)")
    ax.set_ylabel("squared error per bin")
    ax.set_title(f"{activation}, step size {lr:g}, {len(data['run']['seeds'])} runs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))   # right of the axes, off the bands
    return fig


# ----------------------------------------------------------------------------- keeping plasticity (chapter 3)
# The method table's colours where they stay apart; L2 (navy, like backprop), weight clipping (olive, like
# CBP) and layer norm + WD get colours of their own, so that any panel of this part's figures shows
# colours a reader can tell apart.
ARM_COLORS = {"bp": method_color("warm"), "warm": method_color("warm"), "l2": "#17becf",
              "sp": method_color("sp_continual"), "cbp": method_color("cbp"), "redo": method_color("redo"),
              "clip": "#2ca02c", "parseval": method_color("parseval"),
              "ln_wd": "#e377c2", "fire": method_color("fire"), "adam_default": "#1f77b4", "adam_equal": "#e6550d",
              "adam_equal_short": "#31a354"}
# What each rule changes (book/continual/03's table): the panels of plot_remedy_curves when one panel
# would hold more lines than a reader can tell apart.
KINDS = {"the loss": ("l2", "parseval"), "the weights": ("sp", "clip", "fire"), "the units": ("cbp", "redo"),
         "the model": ("ln_wd",)}
BASELINES = ("bp", "warm")
YLABELS = {"online_acc": "online accuracy", "test_acc": "test accuracy", "relative_acc": "continual − scratch accuracy",
           "dormant_redo": "dormant units (ReDo, τ = 0.1)", "dormant_lop": "dormant units (< 1 % active)",
           "effective_rank": "effective rank (last layer)", "stable_rank": "stable rank (last layer)",
           "weight_magnitude": "mean |weight|"}


def _label(arm):
    from plasticity_sim.continual.remedies import LABELS

    return LABELS.get(arm, arm)


def _curve(ax, data, arm, column, band, **kw):
    from plasticity_sim.continual.remedies import matrix

    m = matrix(data, arm, column)
    x = np.arange(1, m.shape[1] + 1)
    if band and len(m) > 1:
        _band(ax, x, m, ARM_COLORS.get(arm), _label(arm))
    else:
        ax.plot(x, m.mean(0), color=ARM_COLORS.get(arm), label=_label(arm), **{"lw": 1.6, **kw})


def _panels(arms):
    """``{title: arms}``: one panel when the arms' colours fit one legend, else one panel per kind of
    rule (:data:`KINDS`), each with the baseline for reference; arms of no kind share a last panel."""
    if len(arms) <= MAX_COLOURS:
        return {"": arms}
    base = [a for a in arms if a in BASELINES]
    panels = {kind: base + [a for a in arms if a in members] for kind, members in KINDS.items()
              if any(a in members for a in arms)}
    rest = [a for a in arms if a not in base and not any(a in m for m in KINDS.values())]
    if rest:
        panels["other"] = base + rest
    return panels


def plot_remedy_curves(data: dict, column: str, arms=None, *, title: str | None = None, band: bool = False):
    """Mean over seeds of one recorded column per task (step, experiment), one line per arm, from a
    ``keeping_<study>.json`` results file (or :func:`~plasticity_sim.continual.remedies.live_run`);
    ``band`` adds the 95 % t band over seeds. Up to six arms share one panel with the legend right
    of the axes; more are split by what the rule changes (:data:`KINDS`), two panels a row, each with
    backprop for reference and its legend below it.

    Explained in: book/continual/03_keeping_plasticity.ipynb
    """
    from plasticity_sim.plotting import book_style

    with book_style():
        return _remedy_curves(data, column, list(arms or data["arms"]), title, band)


def _remedy_curves(data, column, arms, title, band):
    panels = _panels(arms)
    index, ylabel = data.get("index", "task"), YLABELS.get(column, column)
    if len(panels) == 1:
        fig, ax = page_figure(figsize=(7.0, 3.4))
        for arm in arms:
            _curve(ax, data, arm, column, band)
        ax.set_xlabel(index)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))   # right of the axes, off the data
        return fig
    ncols = 2
    nrows = -(-len(panels) // ncols)
    fig, axes = page_figure(ncols, nrows, figsize=(7.0, 2.9 * nrows + 0.4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    for k, (ax, (kind, members)) in enumerate(zip(axes, panels.items())):
        for arm in members:
            _curve(ax, data, arm, column, band, **({"ls": "--", "lw": 1.3} if arm in BASELINES else {}))
        ax.set_title(f"changes {kind}" if kind in KINDS else kind, fontsize=MIN_FONT_PT + 1)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1 if k < len(panels) - ncols else -0.24),
                  ncols=2, handlelength=1.5, columnspacing=1.0)    # below the panel, off the data
        ax.tick_params(labelbottom=True)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(ylabel)
    for ax in axes[len(panels) - ncols:len(panels)]:
        ax.set_xlabel(index)
    if title:
        fig.suptitle(title, fontsize=MIN_FONT_PT + 2)
    return fig


def plot_paired(rows: list[dict], *, xlabel: str, title: str | None = None, scale: float = 1.0):
    """Forest plot of paired differences against the baseline (rows of
    ``remedies.paired_table``): mean and 95 % t interval per arm, a line at 0; an
    interval that crosses the line is drawn hollow ("no measurable difference").

    Explained in: book/continual/03_keeping_plasticity.ipynb
    """
    from plasticity_sim.plotting import book_style

    rows = [r for r in rows if "diff" in r]
    with book_style():
        fig, ax = page_figure(figsize=(7.0, 0.36 * len(rows) + 1.2))
        for i, r in enumerate(rows[::-1]):
            d, lo, hi = (scale * r[k] for k in ("diff", "lo", "hi"))
            clear = lo > 0 or hi < 0
            color = ARM_COLORS.get(r["arm"], "#333333")
            ax.plot([lo, hi], [i, i], color=color, lw=2)
            ax.plot([d], [i], "o", color=color, mfc=color if clear else "white", ms=7)
        ax.axvline(0, color="#555555", lw=1, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["label"] for r in rows[::-1]])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title)
    return fig


def plot_diagnostics(data: dict, arms, columns=("online_acc", "dormant_redo", "effective_rank", "weight_magnitude")):
    """Two-by-two panels of diagnostics over tasks (mean over seeds), one line per arm; the legend
    below the panels.

    Explained in: book/continual/03_keeping_plasticity.ipynb
    """
    from plasticity_sim.continual.remedies import matrix
    from plasticity_sim.plotting import book_style

    with book_style():
        fig, axes = page_figure(2, 2, figsize=(7.0, 5.4), sharex=True)
        for ax, col in zip(axes.flat, columns):
            for arm in arms:
                m = matrix(data, arm, col)
                ax.plot(np.arange(1, m.shape[1] + 1), m.mean(0), color=ARM_COLORS.get(arm), lw=1.5, label=_label(arm))
            ax.set_ylabel(YLABELS.get(col, col), fontsize=MIN_FONT_PT)
        for ax in axes[1]:
            ax.set_xlabel(data.get("index", "task"))
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(arms)), fontsize=MIN_FONT_PT,
                   frameon=False)
    return fig


# ----------------------------------------------------------------------------- measuring plasticity (chapter 2)
def plot_spectra(cases: dict, ranks: dict):
    """Singular values of feature matrices with chosen spectra, each divided by the largest (log
    scale), one line per spectrum; the legend (right of the axes) gives each one's effective and
    stable rank. ``cases``: name -> singular values; ``ranks``: name -> (effective, stable).

    Explained in: book/continual/02_measuring_plasticity.ipynb
    """
    from plasticity_sim.plotting import book_style

    colors = ("#1f77b4", "#d62728", "#9467bd", "#2ca02c", "#ff7f0e", "#8c564b")
    with book_style():
        fig, ax = page_figure(figsize=(7.0, 3.0))
        for (name, sigma), color in zip(cases.items(), colors):
            s = np.sort(np.asarray(sigma, float))[::-1]
            eff, stable = ranks[name]
            ax.plot(np.arange(1, len(s) + 1), s / s[0], "o-", color=color, ms=4, lw=1.4,
                    label=f"{name}\neffective {eff:.1f}, stable {stable}")
        ax.set_yscale("log")
        ax.set_xlabel("singular value k (largest first)")
        ax.set_ylabel(r"$\sigma_k\,/\,\sigma_1$")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=MIN_FONT_PT)   # right of the axes
    return fig


def plot_predictors(pred: dict):
    """Chapter 2's test of the diagnostics, one dot per backprop run of the slowly-changing
    regression: the run's rise in error (last tenth minus first tenth) against its share of hidden
    units that never fired (left) and its mean hidden-weight magnitude (right), both in the last
    tenth; each panel's title gives Pearson's r and its Fisher-z 95 % interval.
    ``pred``: :func:`~plasticity_sim.continual.studies.regression_predictors`.

    Explained in: book/continual/02_measuring_plasticity.ipynb
    """
    from plasticity_sim.plotting import book_style

    runs = pred["runs"]
    rise = np.asarray(runs["rise"], float)
    with book_style():
        fig, axes = page_figure(2, figsize=(7.0, 3.0), sharey=True)
        for ax, key, corr, xlabel, scale in (
                (axes[0], "dead", "dead_vs_rise", "units that never fired, last tenth (%)", 100.0),
                (axes[1], "weight", "weight_vs_rise", "mean |hidden weight|, last tenth", 1.0)):
            ax.plot(scale * np.asarray(runs[key], float), rise, "o", color=COLORS["bp"], ms=5, alpha=0.75)
            ax.axhline(0, color="#777777", lw=0.8, ls="--")
            c = pred[corr]
            ax.set_title(f"r = {c['r']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}]", fontsize=MIN_FONT_PT + 1)
            ax.set_xlabel(xlabel)
        axes[0].set_ylabel("rise in squared error")
    return fig
