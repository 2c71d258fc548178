"""Figures of the bridge chapter: the discrete model's predictions (dashed) over the networks'
measurements (solid). Every function takes plain arrays and returns a Figure that follows the book's
page rule (at most 7 in wide at 96 dpi, no text below 9 pt, legends off the data; see
:func:`plasticity_sim.plotting.page_figure`).

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from plasticity_sim.plotting import MIN_FONT_PT, method_color, page_figure

NETWORK_LABELS = {"patch_cnn": "patch CNN", "cnn": "small CNN"}
LABELS = {"cold": "cold", "warm": "warm", "sp": "S&P (Gaussian)", "dash": "DASH", "oracle": "oracle ideal",
          "ideal": "ideal"}


def color(method: str) -> str:
    return method_color("ideal" if method == "oracle" else method)


def _legend_below(fig, axes, ncols=None):
    """One legend for the whole figure, below the axes (never over the data); entries deduplicated."""
    handles = {}
    for ax in np.atleast_1d(axes):
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=ncols or min(4, len(handles)), fontsize=MIN_FONT_PT)


def plot_regime(p_rank, model: dict, *, rare_p: float, figsize=(7.0, 3.4)):
    """The regime: left, the frequencies p_k; right, the model's share of features learned after the
    last experiment against p, for each gamma (``model``: gamma -> {method: (K,) share}); colour is
    the method, line style the threshold gamma."""
    fig, (a, b) = page_figure(2, figsize=figsize)
    k = np.arange(1, len(p_rank) + 1)
    a.plot(k, p_rank, "o-", color="0.3", ms=3)
    a.axhline(rare_p, color="0.5", ls=":", lw=1)
    a.text(len(k), rare_p * 1.08, f"rare: p ≤ {rare_p}", ha="right", va="bottom", fontsize=MIN_FONT_PT)
    a.set_yscale("log")
    a.set_xlabel("feature rank k (each class)")
    a.set_ylabel("frequency p")
    styles = ["-", "--", ":"]
    gammas = sorted(model)
    methods = list(dict.fromkeys(m for g in gammas for m in model[g]))
    for gamma, ls in zip(gammas, styles):
        for m, share in model[gamma].items():
            b.plot(p_rank, 100 * share, ls=ls, color=color(m))
    b.axvline(rare_p, color="0.5", ls=":", lw=1)
    b.set_xscale("log")
    b.set_xlabel("frequency p")
    b.set_ylabel("features learned, last exp. (%)")
    handles = [Line2D([], [], color=color(m), label=LABELS[m]) for m in methods]
    handles += [Line2D([], [], color="0.4", ls=ls, label=f"γ = {g}") for g, ls in zip(gammas, styles)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=MIN_FONT_PT,
               handlelength=1.8, columnspacing=1.0)
    return fig


def plot_curves(p_rank, networks: dict, model: dict, *, rare_p: float, figsize=(7.0, 3.4)):
    """Share learned against frequency after the last experiment, one panel per network
    (``networks``: network -> {method: (seeds, K) share}; ``model``: network -> {method: (K,)})."""
    fig, axes = page_figure(len(networks), figsize=figsize, sharey=True)
    for ax, (net, curves) in zip(np.atleast_1d(axes), networks.items()):
        for m, rows in curves.items():
            rows = 100 * np.asarray(rows, float)
            ax.plot(p_rank, rows.mean(0), "o-", ms=3, color=color(m), label=f"{LABELS[m]} (network)")
        for m, share in model.get(net, {}).items():
            ax.plot(p_rank, 100 * np.asarray(share), "--", color=color(m), label=f"{LABELS[m]} (model)")
        ax.axvline(rare_p, color="0.5", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_title(NETWORK_LABELS.get(net, net))
        ax.set_xlabel("frequency p")
    np.atleast_1d(axes)[0].set_ylabel("features learned (%)")
    _legend_below(fig, axes)
    return fig


def plot_intervals(rows, *, xlabel: str, figsize=None):
    """Paired differences with their (Holm) intervals: ``rows`` of (label, mean, low, high, holds)."""
    fig, ax = page_figure(figsize=figsize or (7.0, 1.0 + 0.32 * len(rows)))
    for i, (label, mean, low, high, holds) in enumerate(rows):
        c = "#2ca02c" if holds else "#d62728"
        ax.plot([low, high], [i, i], color=c, lw=2)
        ax.plot([mean], [i], "o", color=c)
    ax.axvline(0, color="0.4", lw=1)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=MIN_FONT_PT)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return fig


def plot_fitted_share(gaps: dict, figsize=(7.0, 3.0)):
    """(b): per network and seed, the mean fitted share of the points of features warm then missed
    and of features it then learned (``gaps``: network -> {"missed": (seeds,), "learned": (seeds,)})."""
    fig, ax = page_figure(figsize=figsize)
    for i, (net, g) in enumerate(gaps.items()):
        for a, b in zip(g["learned"], g["missed"]):
            ax.plot([2 * i, 2 * i + 1], [100 * a, 100 * b], "o-", color="0.5", ms=4)
    ax.set_xticks(range(2 * len(gaps)), [f"{NETWORK_LABELS.get(n, n)}\n{w}" for n in gaps
                                         for w in ("learned in j", "missed in j")], fontsize=MIN_FONT_PT)
    ax.set_ylabel("points already fitted (%)")
    return fig


def plot_memorised(networks: dict, model: dict, figsize=(7.0, 3.4)):
    """(c): memorised training points after every experiment (``networks``: network -> {method:
    (seeds, J)}; ``model``: {method: (J,)}, the discrete model's memorised points)."""
    fig, axes = page_figure(len(networks), figsize=figsize, sharey=True)
    for ax, (net, curves) in zip(np.atleast_1d(axes), networks.items()):
        for m, rows in curves.items():
            rows = np.asarray(rows, float)
            j = np.arange(1, rows.shape[1] + 1)
            ax.plot(j, rows.mean(0), "o-", ms=3, color=color(m), label=f"{LABELS[m]} (network)")
        for m, row in model.items():
            ax.plot(np.arange(1, len(row) + 1), row, "--", color=color(m), label=f"{LABELS[m]} (model)")
        ax.set_title(NETWORK_LABELS.get(net, net))
        ax.set_xlabel("experiment j")
    np.atleast_1d(axes)[0].set_ylabel("memorised training points")
    _legend_below(fig, axes)
    return fig


def plot_gamma_fit(fits: dict, figsize=(7.0, 3.4)):
    """(e): cold's final verdicts against each feature's number of training points, with the fitted
    effective gamma (``fits``: network -> :func:`plasticity_sim.bridge.compare.fit_gamma`), written in
    each panel's title."""
    fig, axes = page_figure(len(fits), figsize=figsize, sharey=True)
    edges = np.array([1, 3, 5, 8, 12, 17, 25, 40, 70, 120, 200, 400])
    for ax, (net, f) in zip(np.atleast_1d(axes), fits.items()):
        counts, L = np.asarray(f["counts"]).ravel(), np.asarray(f["learned"]).ravel()
        mids, share = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (counts >= lo) & (counts < hi)
            if sel.any():
                mids.append(np.sqrt(lo * hi))
                share.append(100 * L[sel].mean())
        ax.plot(mids, share, "o-", color=color("cold"), label="cold (network)")
        ax.axvline(f["gamma"], color="0.3", ls="--", lw=1, label="fitted γ")
        ax.axvspan(*f["range"], color="0.85", zorder=0, label="within 2 % of the best")
        ax.set_xscale("log")
        ax.set_title(f"{NETWORK_LABELS.get(net, net)}: fitted γ = {f['gamma']}")
        ax.set_xlabel("training points holding the feature")
    np.atleast_1d(axes)[0].set_ylabel("features learned (%)")
    _legend_below(fig, axes, ncols=3)
    return fig


def plot_over_experiments(p: float, networks: dict, model: dict, figsize=(7.0, 3.4)):
    """The slider's frame: for the features of frequency ``p``, the share learned after each
    experiment, network (solid) over model (dashed), one panel per network."""
    fig, axes = page_figure(len(networks), figsize=figsize, sharey=True)
    for ax, (net, curves) in zip(np.atleast_1d(axes), networks.items()):
        for m, row in curves.items():
            ax.plot(np.arange(1, len(row) + 1), 100 * np.asarray(row), "o-", ms=3, color=color(m),
                    label=f"{LABELS[m]} (network)")
        for m, row in model.get(net, {}).items():
            ax.plot(np.arange(1, len(row) + 1), 100 * np.asarray(row), "--", color=color(m),
                    label=f"{LABELS[m]} (model)")
        ax.set_ylim(-5, 105)
        ax.set_title(NETWORK_LABELS.get(net, net))
        ax.set_xlabel("experiment j")
    np.atleast_1d(axes)[0].set_ylabel("learned (%)")
    fig.suptitle(f"features with p = {p:.3f}", fontsize=MIN_FONT_PT + 1)
    _legend_below(fig, axes)
    return fig
