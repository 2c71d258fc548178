"""Pictures of the Hare & Tortoise part: the ratio x noise grid, the method comparison, the
published tables beside ours, and the 2-D toy of the Hare, the Tortoise and the resets.

Figures are plain matplotlib Figures from :func:`plasticity_sim.plotting.page_figure` (the book's
style and page rule: at most 7 in at 96 dpi, no text below 9 pt; method colours from the method
table). The toy (:func:`toy_run`) is numpy only.
"""
from __future__ import annotations

import textwrap

import numpy as np

from plasticity_sim.checks import check_positive_int, check_range
from plasticity_sim.plotting import MAX_COLOURS, MIN_FONT_PT, method_color, method_label, page_figure


def _grid_matrix(rows, key):
    ratios = sorted({r["ratio"] for r in rows})
    noises = sorted({r["noise"] for r in rows})
    m = np.full((len(noises), len(ratios)), np.nan)
    for r in rows:
        m[noises.index(r["noise"]), ratios.index(r["ratio"])] = r[key]
    return ratios, noises, m


def _heat(ax, ratios, noises, m, title, cmap, vmin=None, vmax=None, fmt="{:+.1f}", *, xlabel=True, ylabel=True):
    """One heat map of the ratio x noise grid, every cell annotated (white on dark cells)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    im = ax.imshow(m, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    ax.set_yticks(range(len(noises)), [f"{n:g}" for n in noises])
    if xlabel:
        ax.set_xlabel("subset ratio (phase 1)")
    if ylabel:
        ax.set_ylabel("label noise (phase 1)")
    ax.set_title(title, fontsize=MIN_FONT_PT + 1)
    ax.grid(False)
    ax.tick_params(length=0)
    norm, cm = Normalize(vmin, vmax), colormaps[cmap]
    for i in range(len(noises)):
        for j in range(len(ratios)):
            if np.isfinite(m[i, j]):
                r, g, b, _ = cm(norm(m[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=MIN_FONT_PT,
                        color="white" if dark else "black")
    return im


def _outline(axes, ratios, noises, cell):
    import matplotlib.patches as mp

    j, i = ratios.index(cell[0]), noises.index(cell[1])
    for ax in axes:
        ax.add_patch(mp.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))


def plot_grid(rows, *, highlight=None):
    """Two heat maps over the ratio x noise grid (rows of ``ht_studies.grid_table``): warm - fresh
    final test accuracy (pts, paired mean) and the warm network's final train accuracy (%).
    ``highlight=(ratio, noise)`` outlines one cell (the slider's).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    fig, axes = page_figure(2, figsize=(7.0, 3.0))
    ratios, noises, d = _grid_matrix(rows, "diff")
    lim = max(1.0, float(np.nanmax(np.abs(d))))
    _heat(axes[0], ratios, noises, d, "test accuracy: warm − fresh (pts)", "RdBu", -lim, lim)
    _, _, tr = _grid_matrix(rows, "warm_train")
    _heat(axes[1], ratios, noises, tr, "warm: final train accuracy (%)", "Greens", 90, 100.5, fmt="{:.1f}",
          ylabel=False)
    if highlight is not None:
        _outline(axes, ratios, noises, highlight)
    return fig


def plot_cell(records, ratio, noise, rows=None):
    """One grid cell, seed by seed: the fresh network's and the warm start's final test accuracy
    (paired lines), beside the grid with the cell outlined (``rows`` given).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    if rows:
        fig, axes = page_figure(3, figsize=(7.0, 3.2), width_ratios=(0.8, 1.0, 1.0))
    else:
        fig, axes = page_figure(1, figsize=(3.0, 3.2))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    fresh = {r["seed"]: 100 * r["test_acc"] for r in records if r["method"] == "cold"}
    warm = {r["seed"]: 100 * r["test_acc"] for r in records
            if r["method"] == "warm" and r["ratio"] == ratio and r["noise"] == noise}
    for s in sorted(set(fresh) & set(warm)):
        ax.plot([0, 1], [fresh[s], warm[s]], "-o", color="grey", alpha=0.6, ms=4)
    ax.plot([0, 1], [np.mean(list(fresh.values())), np.mean(list(warm.values()))], "-o", color="black", lw=2.5)
    ax.set_xticks([0, 1], ["fresh", "warm"])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"ratio {ratio:g}, noise {noise:g}\none line per seed", fontsize=MIN_FONT_PT + 1)
    if rows:
        ratios, noises, d = _grid_matrix(rows, "diff")
        lim = max(1.0, float(np.nanmax(np.abs(d))))
        _heat(axes[1], ratios, noises, d, "warm − fresh (pts)", "RdBu", -lim, lim, ylabel=False)
        _, _, tr = _grid_matrix(rows, "warm_train")
        _heat(axes[2], ratios, noises, tr, "warm: train acc. (%)", "Greens", 90, 100.5, fmt="{:.1f}", ylabel=False)
        axes[1].set_ylabel("label noise")
        for a in axes[1:]:
            a.set_xlabel("subset ratio")
        _outline(axes[1:], ratios, noises, (ratio, noise))
    return fig


def plot_published_table5(table, datasets=("MNIST", "CIFAR-10", "CIFAR-100", "Tiny-ImageNet")):
    """The published Table 5 as heat maps of the drop from the (ratio 1.0, noise 0.0) cell, in pts,
    two by two.

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    ncols = min(2, len(datasets))
    nrows = -(-len(datasets) // ncols)
    fig, axes = page_figure(ncols, nrows, figsize=(7.0, 2.8 * nrows), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    for k, (ax, ds) in enumerate(zip(axes, datasets)):
        rows = table.select(dataset=ds)
        ref = next(r["test_acc"] for r in rows if r["ratio"] == 1.0 and r["noise"] == 0.0)
        ratios, noises, m = _grid_matrix([{**r, "d": 100 * (r["test_acc"] - ref)} for r in rows], "d")
        _heat(ax, ratios, noises, m, f"{ds} ({rows[0]['model']})", "RdBu", -15, 15, fmt="{:+.0f}",
              xlabel=k >= len(datasets) - ncols, ylabel=k % ncols == 0)
    for ax in axes[len(datasets):]:
        ax.set_visible(False)
    return fig


def plot_comparison(rows, *, title="", published=None):
    """Fig. 5 of the paper as a dot plot, one row per method: mean final test accuracy (%), which is
    the warm start's mean plus the paired difference to it, with that difference's 95 % interval as
    an error bar; the warm start and the fresh network as dashed vertical lines. ``published``
    (method key -> accuracy, %) adds the paper's numbers as hollow markers. Dots, not bars: the
    differences are a few points on top of ~70 %, which bars from zero would hide and bars from a
    cut axis would exaggerate.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    warm = next(r for r in rows if r["method"] == "warm")["test"]
    fresh = next((r for r in rows if r["method"] == "cold"), None)
    others = [r for r in rows if r["method"] not in ("warm", "cold")]
    fig, ax = page_figure(figsize=(7.0, 1.5 + 0.3 * len(others)))
    ax.axvline(warm, ls="--", color=method_color("warm"), lw=1.4, label=f"warm start {warm:.1f} %")
    if fresh:
        ax.axvline(fresh["test"], ls="--", color=method_color("cold"), lw=1.4,
                   label=f"fresh network {fresh['test']:.1f} %")
    for i, r in enumerate(others):
        y = len(others) - 1 - i                               # first method on top
        mean, lo, hi = r["vs_warm"]
        color = method_color(r["method"])
        ax.errorbar(warm + mean, y, xerr=[[mean - lo], [hi - mean]], fmt="o", color=color, ms=6,
                    capsize=3, elinewidth=1.6)
        if published and r["method"] in published:
            ax.plot(published[r["method"]], y, "o", mfc="white", mec=color, ms=7)
    ax.set_yticks(range(len(others)), [method_label(r["method"]) for r in others[::-1]])
    ax.set_ylim(-0.6, len(others) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("final test accuracy (%)")
    ax.set_title(textwrap.fill(title or "warm + paired difference to warm, 95 % interval", 80),
                 fontsize=MIN_FONT_PT + 1)
    fig.legend(loc="outside lower center", ncols=2)            # below the axes, off the data
    return fig


# ----------------------------------------------------------------------------- the 2-D toy
def _toy_loss_grad(p):
    """An ill-conditioned 2-D quadratic with its minimum at (2, 1): curvature 0.3 along x, 3 along
    y, so gradient steps zig-zag across the valley while they crawl along it."""
    x, y = p
    return 0.5 * (0.3 * (x - 2.0) ** 2 + 3.0 * (y - 1.0) ** 2), np.array([0.3 * (x - 2.0), 3.0 * (y - 1.0)])


def toy_loss_surface(n: int = 80):
    """(X, Y, Z) of the toy loss on [-2.5, 3.5] x [-2, 2.5] for contour plots."""
    xs, ys = np.linspace(-2.5, 3.5, n), np.linspace(-2.0, 2.5, n)
    X, Y = np.meshgrid(xs, ys)
    Z = np.vectorize(lambda a, b: _toy_loss_grad((a, b))[0])(X, Y)
    return X, Y, Z


def toy_run(steps: int = 120, *, mu: float = 0.9, reset_every: int = 20, lr: float = 0.4,
            noise: float = 0.5, seed: int = 0, start=(-2.0, -1.5)) -> dict:
    """Noisy gradient descent on the toy loss with a Hare & Tortoise pair: after every step the
    Tortoise's EMA ``t <- mu t + (1 - mu) h``; every ``reset_every`` steps ``h <- t``. Also a plain
    run (no Tortoise) from the same start with the same noise. Returns the paths (steps+1, 2),
    the reset steps and the final losses. Randomness from ``np.random.default_rng(seed)``.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    check_positive_int("steps", steps)
    check_positive_int("reset_every", reset_every)
    mu = check_range("mu", mu, 0.0, 1.0)
    if mu >= 1:
        raise ValueError(f"mu must be in [0, 1), got {mu!r}")
    rng = np.random.default_rng(seed)
    h = np.array(start, dtype=float)
    t, plain = h.copy(), h.copy()
    hare, tort, pl, resets = [h.copy()], [t.copy()], [plain.copy()], []
    for k in range(1, steps + 1):
        eps = noise * rng.standard_normal(2)
        h = h - lr * (_toy_loss_grad(h)[1] + eps)
        plain = plain - lr * (_toy_loss_grad(plain)[1] + eps)
        t = mu * t + (1 - mu) * h
        if k % reset_every == 0:
            h = t.copy()
            resets.append(k)
        hare.append(h.copy()); tort.append(t.copy()); pl.append(plain.copy())  # noqa: E702
    return {"hare": np.array(hare), "tortoise": np.array(tort), "plain": np.array(pl), "resets": resets,
            "final_loss": {"tortoise": float(_toy_loss_grad(t)[0]), "plain": float(_toy_loss_grad(plain)[0])}}


def plot_toy(run: dict, step: int, surface=None):
    """The toy's paths up to ``step``: loss contours, the Hare (thin), the Tortoise (thick), the
    plain run (dotted) and the resets so far (crosses).

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    X, Y, Z = surface if surface is not None else toy_loss_surface()
    fig, ax = page_figure(figsize=(7.0, 3.6))
    ax.contour(X, Y, Z, levels=18, cmap="Greys", linewidths=0.6)
    h, t, p = run["hare"][:step + 1], run["tortoise"][:step + 1], run["plain"][:step + 1]
    ax.plot(p[:, 0], p[:, 1], ":", color=method_color("warm"), lw=1.2, label="plain SGD")
    ax.plot(h[:, 0], h[:, 1], "-", color="#fd8d3c", lw=0.9, alpha=0.8, label="Hare")
    ax.plot(t[:, 0], t[:, 1], "-", color=method_color("hare_tortoise"), lw=2.6, label="Tortoise (EMA)")
    rs = [k for k in run["resets"] if k <= step]
    if rs:
        pts = run["hare"][rs]
        ax.plot(pts[:, 0], pts[:, 1], "x", color="black", ms=7, mew=2, label="Hare reset to Tortoise")
    ax.plot(*h[-1], "o", color="#fd8d3c", ms=6)
    ax.plot(*t[-1], "o", color=method_color("hare_tortoise"), ms=8)
    ax.set_xlim(-2.5, 3.5)
    ax.set_ylim(-2.0, 2.5)
    ax.plot(2.0, 1.0, "*", color="black", ms=10)
    ax.set_title(f"step {step}: {len(rs)} resets", fontsize=MIN_FONT_PT + 1)
    if not rs:   # keep the legend's entries (and the axes' size) the same in every frame
        ax.plot([], [], "x", color="black", ms=7, mew=2, label="Hare reset to Tortoise")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))   # right of the axes, off the paths
    ax.grid(False)
    return fig


def plot_metric_scatter(records, *, color_by="noise"):
    """One panel per App. C metric (end of phase 1) against the final test accuracy, one point per
    record, coloured by ``color_by`` (a record field; one colour per value, at most six); Pearson r in
    each title. Three panels a row; the legend of the colours takes the last free panel.

    Explained in: book/hare_tortoise/03_trainability_vs_generalisability.ipynb
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    from plasticity_sim.diagnostics import HT_METRICS, pearson

    rs = [r for r in records if r.get("phase1_metrics")]
    levels = sorted({r[color_by] for r in rs})
    if len(levels) > MAX_COLOURS:
        raise ValueError(f"{color_by!r} has {len(levels)} values; at most {MAX_COLOURS} colours can be told apart")
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(levels)))
    ncols = 3
    nrows = -(-(len(HT_METRICS) + 1) // ncols)
    fig, axes = page_figure(ncols, nrows, figsize=(7.0, 2.4 * nrows), sharey=True)
    axes = np.atleast_1d(axes).ravel()
    acc = np.array([100 * r["test_acc"] for r in rs])
    for ax, k in zip(axes, HT_METRICS):
        x = np.array([r["phase1_metrics"][k] for r in rs], dtype=float)
        for level, colour in zip(levels, colours):
            sel = np.array([r[color_by] == level for r in rs])
            ax.scatter(x[sel], acc[sel], color=colour, s=14, label=f"{level:g}")
        ax.set_title(f"{k.replace('_', ' ')}: r = {pearson(x, acc):+.2f}", fontsize=MIN_FONT_PT + 1)
        ax.xaxis.set_major_locator(MaxNLocator(4))
    for row in range(nrows):
        axes[row * ncols].set_ylabel("final test acc. (%)")
    legend_ax = axes[len(HT_METRICS)]
    legend_ax.axis("off")
    legend_ax.legend(*axes[0].get_legend_handles_labels(), loc="center", markerscale=1.5,
                     title=f"phase 1 {color_by}" if color_by == "noise" else color_by, title_fontsize=MIN_FONT_PT + 1)
    for ax in axes[len(HT_METRICS) + 1:]:
        ax.set_visible(False)
    return fig


def plot_continual(studies: dict):
    """Fig. 6 layout: test accuracy after each phase of the continual protocol, mean over seeds, one
    line per method; one panel per study (``{"full access": records, "buffer": records}``); the
    legend below the panels.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    fig, axes = page_figure(len(studies), figsize=(7.0, 3.4), sharey=True)
    for ax, (title, records) in zip(np.atleast_1d(axes), studies.items()):
        for m in dict.fromkeys(r["method"] for r in records):
            phases = sorted({r["phase"] for r in records if r["method"] == m})
            mean = [100 * np.mean([r["test_acc"] for r in records if r["method"] == m and r["phase"] == p])
                    for p in phases]
            ax.plot(phases, mean, "-o", ms=3, color=method_color(m), label=method_label(m))
        ax.set_xlabel("phase (noise falls 0.5 → 0)")
        ax.set_title(title, fontsize=MIN_FONT_PT + 1)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (%)")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)))
    return fig
