"""Pictures of the Hare & Tortoise part: the ratio x noise grid, the method comparison, the
published tables beside ours, and the 2-D toy of the Hare, the Tortoise and the resets.

Figures are plain matplotlib Figures from :func:`plasticity_sim.plotting.new_figure` (the book's
style, method colours from the method table). The toy (:func:`toy_run`) is numpy only.
"""
from __future__ import annotations

import numpy as np

from plasticity_sim.checks import check_positive_int, check_range
from plasticity_sim.plotting import method_color, method_label, new_figure


def _grid_matrix(rows, key):
    ratios = sorted({r["ratio"] for r in rows})
    noises = sorted({r["noise"] for r in rows})
    m = np.full((len(noises), len(ratios)), np.nan)
    for r in rows:
        m[noises.index(r["noise"]), ratios.index(r["ratio"])] = r[key]
    return ratios, noises, m


def _heat(ax, ratios, noises, m, title, cmap, vmin=None, vmax=None, fmt="{:+.1f}", fig=None):
    im = ax.imshow(m, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    ax.set_yticks(range(len(noises)), [f"{n:g}" for n in noises])
    ax.set_xlabel("subset ratio (phase 1)")
    ax.set_ylabel("label noise (phase 1)")
    ax.set_title(title, fontsize=9)
    ax.grid(False)
    for i in range(len(noises)):
        for j in range(len(ratios)):
            if np.isfinite(m[i, j]):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8)
    return im


def plot_grid(rows, *, highlight=None):
    """Two heat maps over the ratio x noise grid (rows of ``ht_studies.grid_table``): warm - fresh
    final test accuracy (pts, paired mean) and the warm network's final train accuracy (%).
    ``highlight=(ratio, noise)`` outlines one cell (the slider's).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    fig, axes = new_figure(2, figsize=(7.6, 3.2))
    ratios, noises, d = _grid_matrix(rows, "diff")
    lim = max(1.0, float(np.nanmax(np.abs(d))))
    _heat(axes[0], ratios, noises, d, "test accuracy: warm − fresh (pts)", "RdBu", -lim, lim)
    _, _, tr = _grid_matrix(rows, "warm_train")
    _heat(axes[1], ratios, noises, tr, "warm: final train accuracy (%)", "Greens", 90, 100.5, fmt="{:.1f}")
    if highlight is not None:
        import matplotlib.patches as mp
        j, i = ratios.index(highlight[0]), noises.index(highlight[1])
        for ax in axes:
            ax.add_patch(mp.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
    return fig


def plot_cell(records, ratio, noise, rows=None):
    """One grid cell, seed by seed: the fresh network's and the warm start's final test accuracy
    (paired lines), beside the grid with the cell outlined (``rows`` given).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    fig, axes = new_figure(3 if rows else 1, figsize=(10.5, 3.2) if rows else (4, 3.2))
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
    ax.set_title(f"ratio {ratio:g}, noise {noise:g}: one line per seed", fontsize=9)
    if rows:
        ratios, noises, d = _grid_matrix(rows, "diff")
        lim = max(1.0, float(np.nanmax(np.abs(d))))
        _heat(axes[1], ratios, noises, d, "warm − fresh (pts)", "RdBu", -lim, lim)
        _, _, tr = _grid_matrix(rows, "warm_train")
        _heat(axes[2], ratios, noises, tr, "warm: train accuracy (%)", "Greens", 90, 100.5, fmt="{:.1f}")
        import matplotlib.patches as mp
        j, i = ratios.index(ratio), noises.index(noise)
        for a in axes[1:]:
            a.add_patch(mp.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
    return fig


def plot_published_table5(table, datasets=("MNIST", "CIFAR-10", "CIFAR-100", "Tiny-ImageNet")):
    """The published Table 5 as heat maps of the drop from the (ratio 1.0, noise 0.0) cell, in pts.

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    fig, axes = new_figure(len(datasets), figsize=(2.7 * len(datasets), 3.0))
    for ax, ds in zip(np.atleast_1d(axes), datasets):
        rows = table.select(dataset=ds)
        ref = next(r["test_acc"] for r in rows if r["ratio"] == 1.0 and r["noise"] == 0.0)
        ratios, noises, m = _grid_matrix([{**r, "d": 100 * (r["test_acc"] - ref)} for r in rows], "d")
        _heat(ax, ratios, noises, m, f"{ds} ({rows[0]['model']})", "RdBu", -15, 15, fmt="{:+.0f}")
        if ax is not np.atleast_1d(axes)[0]:
            ax.set_ylabel("")
    return fig


def plot_comparison(rows, *, title="", published=None):
    """Fig. 5 layout: final test accuracy per method (mean, %), the paired difference to the warm
    start with its 95 % interval as an error bar; the fresh network and the warm start as dashed
    lines. ``published`` (label -> accuracy) adds the paper's numbers as hollow markers.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    fig, ax = new_figure(figsize=(7.2, 3.4))
    warm = next(r for r in rows if r["method"] == "warm")["test"]
    fresh = next((r for r in rows if r["method"] == "cold"), None)
    others = [r for r in rows if r["method"] not in ("warm", "cold")]
    for i, r in enumerate(others):
        mean, lo, hi = r["vs_warm"]
        ax.bar(i, r["test"], color=method_color(r["method"]), alpha=0.85)
        ax.errorbar(i, warm + mean, yerr=[[mean - lo], [hi - mean]], color="black", capsize=4)
    ax.axhline(warm, ls="--", color=method_color("warm"), label=f"warm {warm:.1f} %")
    if fresh:
        ax.axhline(fresh["test"], ls="--", color=method_color("cold"), label=f"fresh {fresh['test']:.1f} %")
    ax.set_xticks(range(len(others)), [method_label(r["method"]) for r in others], rotation=20, fontsize=8)
    lo = min([warm] + [r["test"] for r in others]) - 3
    hi = max([fresh["test"] if fresh else warm] + [r["test"] for r in others]) + 2
    ax.set_ylim(lo, hi)
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(title or "error bars: warm + paired difference to warm, 95 % interval", fontsize=9)
    ax.legend(loc="lower right")
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
    fig, ax = new_figure(figsize=(6.0, 3.6))
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
    ax.set_title(f"step {step}: {len(rs)} resets", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(False)
    return fig


def plot_metric_scatter(records, *, color_by="noise"):
    """One panel per App. C metric (end of phase 1) against the final test accuracy, one point per
    record, coloured by ``color_by`` (a record field); Pearson r in each title.

    Explained in: book/hare_tortoise/03_trainability_vs_generalisability.ipynb
    """
    from plasticity_sim.diagnostics import HT_METRICS, pearson

    rs = [r for r in records if r.get("phase1_metrics")]
    fig, axes = new_figure(len(HT_METRICS), figsize=(12.0, 2.8))
    acc = np.array([100 * r["test_acc"] for r in rs])
    c = np.array([r[color_by] for r in rs], dtype=float)
    for ax, k in zip(axes, HT_METRICS):
        x = np.array([r["phase1_metrics"][k] for r in rs], dtype=float)
        ax.scatter(x, acc, c=c, cmap="viridis", s=12)
        ax.set_title(f"{k.replace('_', ' ')}\nr = {pearson(x, acc):+.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("final test accuracy (%)")
    return fig


def plot_continual(studies: dict):
    """Fig. 6 layout: test accuracy after each phase of the continual protocol, mean over seeds, one
    line per method; one panel per study (``{"full access": records, "buffer": records}``).

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    fig, axes = new_figure(len(studies), figsize=(4.2 * len(studies), 3.2), sharey=True)
    for ax, (title, records) in zip(np.atleast_1d(axes), studies.items()):
        for m in dict.fromkeys(r["method"] for r in records):
            phases = sorted({r["phase"] for r in records if r["method"] == m})
            mean = [100 * np.mean([r["test_acc"] for r in records if r["method"] == m and r["phase"] == p])
                    for p in phases]
            ax.plot(phases, mean, "-o", ms=3, color=method_color(m), label=method_label(m))
        ax.set_xlabel("phase (noise falls 0.5 → 0)")
        ax.set_title(title, fontsize=9)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (%)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return fig
