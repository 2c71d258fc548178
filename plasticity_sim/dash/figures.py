"""Every picture of the DASH (real-network) chapters, and the method names they show.

Each ``plot_*`` function takes a protocol's result (or a :class:`plasticity_sim.dash.report.ResultsSummary`)
and returns a matplotlib Figure off pyplot (show it with ``plasticity_sim.plotting.show``); the
numbers behind them come from :mod:`plasticity_sim.dash.studies` and :mod:`plasticity_sim.dash.report`. The
theory part's counterpart is :mod:`plasticity_sim.theory.figures`. Importing it never imports torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from plasticity_sim.plotting import book_style, mean_std_band, method_color, method_label, new_figure
from plasticity_sim.dash.report import ResultsSummary, check_methods, label, summarize_results
from plasticity_sim.checks import check_range
from plasticity_sim.dash.studies import shrink_2d, shrink_factor
from plasticity_sim.theory.figures import FIG_DPI, MIN_FONT_PT

if TYPE_CHECKING:  # annotations only: importing the protocols would import torch
    from plasticity_sim.protocols.subsets import SubsetCosineResult
    from plasticity_sim.protocols.two_phase import PretrainSweepResult

DEFAULT_ANGLES = (0.0, 35.0, 65.0, 100.0, 150.0)
# The DASH chapters' own pictures follow the theory part's page rule (tests/test_figures.py): at most
# 7 in wide at 96 dpi, so they show at natural size in the ~690 px text column, where a point is a CSS
# point and no text is below MIN_FONT_PT; legends sit outside the axes, never over data.
DASH_WIDE = (7.0, 3.0)


def _dash_figure(ncols: int = 1, *, figsize=DASH_WIDE, **kw):
    """A book-style figure (:func:`plasticity_sim.plotting.new_figure`) at the theory part's 96 dpi."""
    fig, axes = new_figure(ncols, figsize=figsize, **kw)
    fig.set_dpi(FIG_DPI)
    return fig, axes


# ---------------------------------------------------------------------------------------------
# The DASH rule (book/dash/01)
def plot_shrink_geometry(lam: float = 0.3, angles=DEFAULT_ANGLES):
    """Fig. 4 in two dimensions: weights at several angles to -grad, before and after DASH, and the
    factor as a function of the angle.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = check_range("lam", lam, 0.0, 1.0)
    theta = np.deg2rad(np.asarray(angles, dtype=float))
    w = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    shrunk, f = shrink_2d(w, np.array([1.0, 0.0]), lam)
    with book_style():
        fig = Figure(figsize=DASH_WIDE, dpi=FIG_DPI, facecolor="white")
        FigureCanvasAgg(fig)
        ax, bx = fig.subplots(1, 2, width_ratios=(1.5, 1.0))   # the picture needs the width
    kept = np.arccos(lam)  # beyond this angle the factor sits at the floor lam
    # The weights all lie in the upper half-plane, so the picture is the upper half of the plane:
    # half-circles of radius 1 and lam, and the sector (up to arccos lam) where a weight keeps cos.
    arc = np.linspace(0.0, kept, 60)
    ax.fill(np.r_[0, np.cos(arc)], np.r_[0, np.sin(arc)], color=method_color("cold"), alpha=0.12, lw=0)
    ax.add_patch(_half_circle(1.0, ls=":", color="0.6"))
    ax.add_patch(_half_circle(lam, ls="--", color="0.6"))
    ax.plot([-1.05, 1.05], [0, 0], color="0.8", lw=0.8)
    ax.annotate("", xy=(1.3, 0), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="black", lw=2))
    ax.text(1.3, -0.08, r"$-\nabla L$", fontsize=11, ha="center", va="top")
    color = method_color("dash")
    for (x0, y0), (x1, y1), fi, deg in zip(w, shrunk, f, angles):
        ax.plot([0, x0], [0, y0], color=color, alpha=0.3, lw=1.2, ls="--")
        ax.annotate("", xy=(x1, y1), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=color, lw=1.8))
        if abs(y0) < 0.2 and x0 > 0:            # along -grad: above the arrow
            lx, ly, ha = 0.7, 0.1, "center"
        else:                                   # beyond the tip, away from the vertical
            lx, ly, ha = 1.08 * x0, 1.08 * y0, ("left" if x0 > 0.05 else "right")
        ax.text(lx, ly, f"{deg:.0f}°: ×{fi:.2f}", fontsize=MIN_FONT_PT, ha=ha, va="center")
    ax.set_aspect("equal")   # a circle stays a circle; the axes box shrinks to fit
    ax.set_xlim(-1.75, 1.75)
    ax.set_ylim(-0.25, 1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"before (dashed) and after DASH, λ = {lam:g}", fontsize=10)
    grid = np.linspace(0, 180, 361)
    bx.plot(grid, np.cos(np.deg2rad(grid)), color="0.6", ls=":")
    bx.plot(grid, shrink_factor(np.cos(np.deg2rad(grid)), lam), color=color)
    bx.scatter(angles, f, color=color, zorder=3, s=18)
    bx.axvline(np.rad2deg(kept), color="0.5", lw=0.8)
    bx.set_xlabel("angle θ between weight and −∇L (°)")
    bx.set_ylabel("shrink factor")
    bx.set_xticks([0, 45, 90, 135, 180])
    bx.set_ylim(-1.05, 1.05)
    # labels on the curves instead of a legend (at lam = 0 no corner of the panel is free)
    bx.text(128, np.cos(np.deg2rad(128)) - 0.08, "cos θ", color="0.4", ha="left", va="top",
            fontsize=MIN_FONT_PT)
    bx.text(178, lam + 0.05, "floor λ", color=color, ha="right", va="bottom", fontsize=MIN_FONT_PT)
    bx.set_title("factor = max(λ, cos θ)", fontsize=10)
    return fig


def _half_circle(r, **kw):
    from matplotlib.patches import Arc

    return Arc((0, 0), 2 * r, 2 * r, theta1=0.0, theta2=180.0, lw=0.8, **kw)


def plot_probe_scatter(per_seed: list[dict], lam: float = 0.3):
    """Per filter of the feature/noise probe: feature share (x) and noise alignment (right) against
    the DASH cosine (y), all seeds pooled in one colour, with the chance levels of the initial filters.

    ``per_seed`` are the dicts of :class:`plasticity_sim.protocols.feature_probe.FeatureProbeResult`.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = check_range("lam", lam, 0.0, 1.0)
    if not per_seed:
        raise ValueError("per_seed is empty: run the probe for at least one seed")
    fig, axes = _dash_figure(2, figsize=(7.0, 3.2), sharey=True)
    panels = (("feature_share", "feature_share_init", "feature share of the filter"),
              ("noise_alignment", "noise_alignment_init", "max |cos| with a noise patch"))
    for ax, (key, init_key, xlabel) in zip(axes, panels):
        # seeds pooled in one colour: eight seed colours could not be told apart (issue #26)
        ax.scatter(np.concatenate([np.asarray(s[key]) for s in per_seed]),
                   np.concatenate([np.asarray(s["cos_row"]) for s in per_seed]), s=10, alpha=0.5,
                   color="#4c72b0", linewidths=0)
        chance = float(np.mean(np.concatenate([np.asarray(s[init_key]) for s in per_seed])))
        ax.axvline(chance, color="0.4", ls="--", lw=1)
        ax.text(chance, 0.98, " at init", transform=ax.get_xaxis_transform(), fontsize=MIN_FONT_PT, va="top")
        ax.axhline(lam, color=method_color("dash"), lw=1)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("DASH cosine (per filter)")
    axes[0].text(0.99, lam, f"λ = {lam:g}", color=method_color("dash"), ha="right", va="bottom",
                 transform=axes[0].get_yaxis_transform(), fontsize=MIN_FONT_PT)
    fig.suptitle(f"{sum(len(s['cos_row']) for s in per_seed)} filters of {len(per_seed)} seeds", fontsize=10)
    return fig


def plot_factor_histograms(factors: dict, lam: float = 0.3, bins: int = 20):
    """Side-by-side histograms of DASH factors: one panel per layer, one colour per granularity.

    ``factors`` maps a panel title to ``{"kernel": array, "row": array}`` (any shapes, flattened).
    Each histogram shows shares (its bars sum to 1), so a layer with 3x more kernel slices than
    rows compares fairly.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = check_range("lam", lam, 0.0, 1.0)
    if not factors:
        raise ValueError("factors is empty")
    fig, axes = _dash_figure(len(factors), figsize=(7.0, 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    edges = np.linspace(lam, 1.0, bins + 1)
    names = {"kernel": "kernel slices (official)", "row": "rows"}
    for ax, (title, by_gran) in zip(axes, factors.items()):
        sizes = {}
        for gran, color in (("kernel", method_color("dash")), ("row", method_color("shrink_perturb"))):
            v = np.asarray(by_gran[gran], dtype=float).ravel()
            sizes[gran] = v.size
            ax.hist(np.clip(v, lam, 1.0), bins=edges, weights=np.full(v.size, 1.0 / v.size), alpha=0.55,
                    color=color, label=names[gran])
        ax.set_title(f"{title}\n{sizes['kernel']} slices, {sizes['row']} rows", fontsize=MIN_FONT_PT)
        ax.set_yscale("log")  # the floor bar dominates; a log axis keeps the spread above it visible
        ax.set_ylim(1e-3, 1.5)
        ax.set_xlabel("factor")
    axes[0].set_ylabel("share of groups (log)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=MIN_FONT_PT)
    return fig


# ---------------------------------------------------------------------------------------------
# Warm-starting real networks: chunked results (book/dash/02)
def experiment_curves(sources, method: str, key: str = "test_acc") -> dict[int, np.ndarray]:
    """``{seed: values per experiment}`` of record field ``key`` (``test_acc``, ``steps``, ...) for one
    method."""
    summary = sources if isinstance(sources, ResultsSummary) else summarize_results(sources)
    return {s: np.array([e[key] for e in summary.runs[(method, s)]["experiments"]], dtype=float)
            for s in summary.seeds(method)}


def plot_experiment_curves(sources, *, methods=None, seed=None, fig=None, title=None):
    """The DASH paper's Fig. 1 layout: test accuracy (left) and optimizer steps (right) per experiment.

    ``sources``: results (see :func:`plasticity_sim.dash.report.load_all`) or a :class:`ResultsSummary`.
    With several seeds per method, lines are means over seeds and the band spans the lowest to the
    highest seed (steps are on a log scale, where a ± std band would go negative); ``seed=`` draws
    that seed only. Returns a matplotlib Figure (off pyplot; show it with
    ``plasticity_sim.plotting.show``).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    summary = sources if isinstance(sources, ResultsSummary) else summarize_results(sources)
    methods = check_methods(methods) if methods is not None else list(summary.methods)
    if fig is None:
        fig, axes = _dash_figure(2, figsize=(7.0, 3.2))
    else:
        axes = fig.subplots(1, 2)
    for m in methods:
        acc, steps = experiment_curves(summary, m, "test_acc"), experiment_curves(summary, m, "steps")
        seeds = [seed] if seed is not None else sorted(acc)
        if seed is not None and seed not in acc:
            raise ValueError(f"no results for method {m!r} seed {seed}; seeds: {sorted(acc)}")
        for ax, curves, scale in ((axes[0], acc, 100.0), (axes[1], steps, 1.0)):
            data = np.stack([curves[s] for s in seeds]) * scale
            x = np.arange(1, data.shape[1] + 1)
            color = method_color(m)
            ax.plot(x, data.mean(0), label=label(m), color=color)
            if len(seeds) > 1:  # lowest to highest seed: stays positive on the log-scale steps axis
                ax.fill_between(x, data.min(0), data.max(0), color=color, alpha=0.2, linewidth=0)
    n_seeds = len(summary.seeds(methods[0]))
    which = f"seed {seed}" if seed is not None else (
        "seed " + str(summary.seeds(methods[0])[0]) if n_seeds == 1 else f"mean over {n_seeds} seeds, band = range")
    axes[0].set(xlabel="experiment (chunks seen)", ylabel="test accuracy (%)", title="test accuracy")
    axes[1].set(xlabel="experiment (chunks seen)", ylabel="optimizer steps (log scale)",
                title="steps to reach the target", yscale="log")
    axes[0].legend(loc="lower right")
    fig.suptitle(title or f"{summary.config.get('dataset')}, {summary.config.get('model')}: {which}", fontsize=10)
    return fig


def plot_paired_intervals(tables: dict, *, baseline: str = "cold", fig=None, title=None):
    """Paired differences from ``baseline`` in final test accuracy (points), one panel per setting.

    ``tables`` maps a setting's name to its rows from
    :func:`plasticity_sim.dash.cpu_study.arm_table`: per method a dot per seed, the mean (bar end)
    and the 95 % t-interval over seeds (black line). A method whose interval crosses the zero line
    shows no measurable difference from the baseline. A row's ``label`` key, when present, names it
    instead of its method (to compare one method across settings).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    names = list(tables)
    rows_of = {n: [r for r in tables[n] if r["diff"] is not None] for n in names}
    height = 1.4 + 0.42 * max(len(r) for r in rows_of.values())   # a row is ~40 px on the page
    if fig is None:
        fig, axes = _dash_figure(len(names), figsize=(7.0, height), sharey=False)
    else:
        axes = fig.subplots(1, len(names))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        rows = rows_of[name][::-1]                      # first method on top
        for y, r in enumerate(rows):
            color, d = method_color(r["method"]), r["diff"]
            ax.barh(y, d.mean, 0.6, color=color, alpha=0.35)
            ax.plot([d.low, d.high], [y, y], color="black", linewidth=1.5)
            seeds = np.array(list(r["diff_by_seed"].values()))
            ax.plot(seeds, np.full(len(seeds), y), "o", color=color, markersize=4.5)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [r.get("label") or label(r["method"]) for r in rows], fontsize=9)
        ax.set_xlabel(f"final test acc. minus {label(baseline)} (pts)")
        ax.set_title(name, fontsize=10)
    fig.suptitle(title or "paired by seed: dots = seeds, bar = mean, line = 95 % interval", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# Pre-training, then all data (book/dash/03)
def plot_pretrain_sweep(result: PretrainSweepResult):
    """The Fig. 2 layout: final test accuracy vs pre-training epochs (mean +- std over seeds) for
    each method, the cold start as a reference line, and the pre-training train accuracy on a
    second axis. The x axis is symmetric-log so that E = 0 and the largest E both fit.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    fig, ax = _dash_figure(figsize=(7.0, 3.6))
    cold = np.array([r["test_acc"] for r in result.cold]) * 100
    ax.axhline(cold.mean(), color=method_color("cold"), ls="--", lw=1.2,
               label=f"cold start ({cold.mean():.1f} %)")
    for method in result.config.methods:
        grid, mean, std = result.curve(method)
        line = mean_std_band(ax, grid, mean * 100, std * 100, color=method_color(method),
                             label=f"{method_label(method)} after pre-training")
        ax.scatter(grid, mean * 100, color=line.get_color(), s=14, zorder=3)
    ax.set_xscale("symlog", linthresh=1.0)
    grid_all, _, _ = result.curve(result.config.methods[0])
    ax.set_xticks(grid_all, [str(int(e)) for e in grid_all])
    ax.minorticks_off()
    ax.set_xlabel("pre-training epochs on the first part (E)")
    ax.set_ylabel("final test accuracy (%)")
    bx = ax.twinx()
    grid, pre, _ = result.curve(result.config.methods[0], "pretrain_train_acc")
    bx.plot(grid, pre * 100, color="0.55", ls=":", marker="s", ms=3, label="pre-training train acc.")
    bx.set_ylabel("pre-training train accuracy (%)", color="0.4")
    bx.set_ylim(0, 105)
    bx.grid(False)
    bx.spines["right"].set_visible(True)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = bx.get_legend_handles_labels()
    # below the axes, never over the curves (issue #15)
    fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncols=2, fontsize=MIN_FONT_PT)
    return fig


# ---------------------------------------------------------------------------------------------
# Cosine similarity and generalisation (book/dash/04)
def plot_cosine_histogram(result: SubsetCosineResult, size: int):
    """Histogram of the per-unit cosines of one subset size, one colour per layer (seeds pooled),
    with that size's mean test accuracy in the title; the x range is shared across sizes so a
    slider over sizes shows the distribution moving.

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    rows = [r for r in result.records if r["size"] == size]
    if not rows:
        raise ValueError(f"no records for size {size!r}; sizes: {sorted({r['size'] for r in result.records})}")
    fig, ax = _dash_figure(figsize=(7.0, 3.2))
    bins = np.linspace(-1, 1, 41)
    layers = list(rows[0]["cosines"])
    values = [np.concatenate([np.asarray(r["cosines"][name]) for r in rows]) for name in layers]
    ax.hist(values, bins=bins, stacked=True, label=layers)
    pooled = np.concatenate(values)
    ax.axvline(np.median(pooled), color="black", lw=1.5, label=f"median {np.median(pooled):+.2f}")
    ax.axvline(0, color="0.5", lw=0.8)
    acc = 100 * np.mean([r["test_acc"] for r in rows])
    ax.set_title(f"{size} training points: test accuracy {acc:.1f} %", fontsize=10)
    ax.set_xlabel("cos(weight, −∇ test loss) per unit")
    ax.set_ylabel("units (seeds pooled)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center", fontsize=MIN_FONT_PT)
    return fig


def plot_subset_cosines(result: SubsetCosineResult):
    """Box plot of per-unit cos(weight, -test gradient) per subset size (all seeds pooled) with the
    test accuracy (mean over seeds) on a second axis.

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    sizes = sorted({r["size"] for r in result.records})
    fig, ax = _dash_figure(figsize=(7.0, 3.2))
    pos = np.arange(len(sizes))
    ax.boxplot([result.pooled(s) for s in sizes], positions=pos, widths=0.5, showfliers=False,
               patch_artist=True, boxprops={"facecolor": "#d9cbe8", "edgecolor": method_color("dash")},
               medianprops={"color": method_color("dash"), "lw": 2})
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(pos, [str(s) for s in sizes])
    ax.set_xlabel("training subset size")
    ax.set_ylabel("cos(weight, −∇ test loss) per unit")
    bx = ax.twinx()
    acc = [100 * np.mean([r["test_acc"] for r in result.records if r["size"] == s]) for s in sizes]
    bx.plot(pos, acc, color=method_color("cold"), marker="o", ms=4, label="test accuracy")
    bx.set_ylabel("test accuracy (%)", color=method_color("cold"))
    bx.grid(False)
    bx.spines["right"].set_visible(True)
    return fig   # no legend: the right axis is labelled, in the line's colour


# ---------------------------------------------------------------------------------------------
# Where the gain over cold comes from (book/dash/02c)
def plot_effect_vs_j(rows_by_model: dict, key: str = "vs_cold", theory: dict | None = None):
    """Method minus cold (points) against the number of chunks J, one panel per network, from
    :func:`plasticity_sim.dash.gain_over_cold.effect_rows`: the mean paired difference and its 95 %
    interval over seeds (``key``: ``vs_cold`` or ``vs_budget``). ``theory`` (from ``theory_vs_j``)
    adds a last panel: the discrete model's warm, S&P and ideal minus cold at the same J.

    Explained in: book/dash/02c_gain_over_cold.ipynb
    """
    names = list(rows_by_model)
    fig, axes = _dash_figure(len(names) + (theory is not None), figsize=(7.0, 3.4), sharey=False)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        rows = [r for r in rows_by_model[name] if key in r]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        for k, m in enumerate(methods):
            mine = [r for r in rows if r["method"] == m]
            x = np.array([r["J"] for r in mine]) * 1.06 ** (k - (len(methods) - 1) / 2)   # side by side
            mean = np.array([r[key].mean for r in mine])
            err = np.array([[r[key].mean - r[key].low for r in mine], [r[key].high - r[key].mean for r in mine]])
            ax.errorbar(x, mean, yerr=err, marker="o", markersize=3.5, capsize=2, linewidth=1.2,
                        color=method_color(m), label=label(m))
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("minus cold (pts)" if ax is axes[0] else "")
    if theory is not None:
        ax = axes[-1]
        js = sorted(theory)
        for m, shown in (("warm", "warm"), ("shrink_perturb", "sp"), ("ideal", "ideal")):
            ax.plot(js, [theory[j][m][0] - theory[j]["cold"][0] for j in js], marker="s", markersize=3.5,
                    color=method_color(shown), label=f"{label(shown)} (model)",
                    linestyle="--" if m == "shrink_perturb" else "-")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title("discrete model", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 20, 50], ["5", "10", "20", "50"])
        ax.minorticks_off()
        ax.set_xlabel("chunks J")
    handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=9, frameon=False)
    return fig


def plot_budget_control(cold_runs: dict, rows: list[dict], title: str = ""):
    """The budget control for one network: the cold start's test accuracy as it keeps training on
    all data past its target (mean over seeds, band = sample std), against total steps, and each
    method's final accuracy at its own total steps (one marker per J; the marker's size grows with J).

    Explained in: book/dash/02c_gain_over_cold.ipynb
    """
    curves = []
    for r in cold_runs.values():
        rec = r["experiments"][-1]
        curves.append(([rec["steps"]] + [rec["steps"] + s for s in rec["continuation"]["steps"]],
                       [rec["test_acc"]] + list(rec["continuation"]["test_acc"])))
    steps = np.mean([s for s, _ in curves], axis=0)
    accs = 100 * np.array([a for _, a in curves])
    fig, ax = _dash_figure(1, figsize=(7.0, 3.2))
    mean_std_band(ax, steps, accs.mean(axis=0), accs.std(axis=0, ddof=1), color=method_color("cold"),
                  label="cold, trained on past its target")
    for m in dict.fromkeys(r["method"] for r in rows if r["method"] != "cold"):
        mine = [r for r in rows if r["method"] == m]
        ax.scatter([r["total_steps"][0] for r in mine], [r["acc_last"][0] for r in mine],
                   s=[10 + 1.2 * r["J"] for r in mine], color=method_color(m), label=label(m), zorder=3)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("total SGD steps of the final network (log scale)")
    ax.set_ylabel("final test acc. (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False)
    return fig
