"""The geometry of DASH's shrink rule, and the figures of the DASH-rule chapter (numpy/matplotlib only).

DASH multiplies each weight group w by ``max(lam, cos(w, -grad))`` (papers.md §C.1): a group that
points along the descent direction keeps its length, one at 90 degrees or more is cut to ``lam``
times its length, and in between the factor is the cosine itself. This module draws that rule in
two dimensions (the paper's Fig. 4) and plots the measurements of the chapter's ground-truth probe
(:mod:`plasticity_sim.protocols.feature_probe`). Importing it never imports torch.

Explained in: book/dash/01_dash_rule.ipynb
"""
from __future__ import annotations

import numpy as np

from .plotting import method_color, new_figure

DEFAULT_ANGLES = (0.0, 35.0, 65.0, 100.0, 150.0)


def _check_lam(lam) -> float:
    try:
        v = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"lam must be a number in [0, 1], got {lam!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    return v


def shrink_factor(cos, lam: float = 0.3) -> np.ndarray:
    """DASH's factor ``clamp(cos, lam, 1)`` = ``max(lam, cos)`` (cosines are at most 1).

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = _check_lam(lam)
    c = np.asarray(cos, dtype=float)
    if np.any(np.abs(c) > 1 + 1e-9) or np.any(np.isnan(c)):
        raise ValueError(f"cosines must lie in [-1, 1], got values from {np.nanmin(c)} to {np.nanmax(c)}")
    return np.clip(c, lam, 1.0)


def shrink_2d(weights, direction, lam: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Shrink each row of ``weights`` (n, 2) by DASH's factor against ``direction`` (2,).

    Returns (shrunk weights, factors). A zero weight or direction has cosine 0 (as torch's
    cosine with its eps), hence factor ``lam``.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    d = np.asarray(direction, dtype=float)
    if w.shape[1:] != d.shape:
        raise ValueError(f"weights {w.shape} and direction {d.shape} must have matching last dimension")
    norms = np.linalg.norm(w, axis=1) * np.linalg.norm(d)
    cos = np.divide(w @ d, norms, out=np.zeros(len(w)), where=norms > 1e-12)
    f = shrink_factor(np.clip(cos, -1.0, 1.0), lam)
    return w * f[:, None], f


def plot_shrink_geometry(lam: float = 0.3, angles=DEFAULT_ANGLES):
    """Fig. 4 in two dimensions: weights at several angles to -grad, before and after DASH, and the
    factor as a function of the angle.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = _check_lam(lam)
    theta = np.deg2rad(np.asarray(angles, dtype=float))
    w = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    shrunk, f = shrink_2d(w, np.array([1.0, 0.0]), lam)
    fig, (ax, bx) = new_figure(2, figsize=(8.0, 3.4))
    kept = np.arccos(lam)  # beyond this angle the factor sits at the floor lam
    arc = np.linspace(-kept, kept, 60)
    ax.fill(np.r_[0, np.cos(arc)], np.r_[0, np.sin(arc)], color=method_color("cold"), alpha=0.12, lw=0)
    ax.add_patch(_circle(1.0, ls=":", color="0.6"))
    ax.add_patch(_circle(lam, ls="--", color="0.6"))
    ax.annotate("", xy=(1.25, 0), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="black", lw=2))
    ax.text(1.27, -0.12, r"$-\nabla L$", fontsize=11)
    color = method_color("dash")
    for (x0, y0), (x1, y1), fi, deg in zip(w, shrunk, f, angles):
        ax.plot([0, x0], [0, y0], color=color, alpha=0.3, lw=1.2, ls="--")
        ax.annotate("", xy=(x1, y1), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=color, lw=1.8))
        lx, ly = (0.75, 0.09) if abs(y0) < 0.2 and x0 > 0 else (1.12 * x0, 1.12 * y0)  # clear of -grad
        ax.text(lx, ly, f"{deg:.0f}°: ×{fi:.2f}", fontsize=8, ha="center", va="center")
    ax.set_aspect("equal")
    ax.set_xlim(-1.3, 1.6)
    ax.set_ylim(-0.35, 1.3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(f"before (dashed) and after DASH, λ = {lam:g}", fontsize=10)
    grid = np.linspace(0, 180, 361)
    bx.plot(grid, np.cos(np.deg2rad(grid)), color="0.6", ls=":", label="cos θ")
    bx.plot(grid, shrink_factor(np.cos(np.deg2rad(grid)), lam), color=color, label="factor max(λ, cos θ)")
    bx.scatter(angles, f, color=color, zorder=3, s=18)
    bx.axvline(np.rad2deg(kept), color="0.5", lw=0.8)
    bx.set_xlabel("angle θ between weight and −∇L (degrees)")
    bx.set_ylabel("shrink factor")
    bx.set_xticks([0, 45, 90, 135, 180])
    bx.set_ylim(-1.05, 1.05)
    bx.legend(loc="lower left")
    return fig


def _circle(r, **kw):
    from matplotlib.patches import Circle

    return Circle((0, 0), r, fill=False, lw=0.8, **kw)


def plot_probe_scatter(per_seed: list[dict], lam: float = 0.3):
    """Per filter of the feature/noise probe: feature share (x) and noise alignment (right) against
    the DASH cosine (y), all seeds pooled, with the chance levels of the initial filters.

    ``per_seed`` are the dicts of :class:`plasticity_sim.protocols.feature_probe.FeatureProbeResult`.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = _check_lam(lam)
    if not per_seed:
        raise ValueError("per_seed is empty: run the probe for at least one seed")
    fig, axes = new_figure(2, figsize=(8.0, 3.4), sharey=True)
    panels = (("feature_share", "feature_share_init", "feature share of the filter (energy in feature span)"),
              ("noise_alignment", "noise_alignment_init", "max |cos| with a memorised noise patch"))
    for ax, (key, init_key, label) in zip(axes, panels):
        for i, s in enumerate(per_seed):
            ax.scatter(s[key], s["cos_row"], s=10, alpha=0.7, label=f"seed {s['seed']}")
        chance = float(np.mean(np.concatenate([np.asarray(s[init_key]) for s in per_seed])))
        ax.axvline(chance, color="0.4", ls="--", lw=1)
        ax.text(chance, 0.98, " at init", transform=ax.get_xaxis_transform(), fontsize=8, va="top")
        ax.axhline(lam, color=method_color("dash"), lw=1)
        ax.set_xlabel(label)
    axes[0].set_ylabel("DASH cosine (per filter)")
    axes[0].text(0.99, lam, f"λ = {lam:g}", color=method_color("dash"), ha="right", va="bottom",
                 transform=axes[0].get_yaxis_transform(), fontsize=8)
    axes[1].legend(loc="lower right", fontsize=7, markerscale=1.5)
    return fig


def plot_factor_histograms(factors: dict, lam: float = 0.3, bins: int = 20):
    """Side-by-side histograms of DASH factors: one panel per layer, one colour per granularity.

    ``factors`` maps a panel title to ``{"kernel": array, "row": array}`` (any shapes, flattened).
    Each histogram shows shares (its bars sum to 1), so a layer with 3x more kernel slices than
    rows compares fairly.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    lam = _check_lam(lam)
    if not factors:
        raise ValueError("factors is empty")
    fig, axes = new_figure(len(factors), figsize=(8.0, 3.0), sharey=True)
    axes = np.atleast_1d(axes)
    edges = np.linspace(lam, 1.0, bins + 1)
    for ax, (title, by_gran) in zip(axes, factors.items()):
        for gran, color in (("kernel", method_color("dash")), ("row", method_color("shrink_perturb"))):
            v = np.asarray(by_gran[gran], dtype=float).ravel()
            ax.hist(np.clip(v, lam, 1.0), bins=edges, weights=np.full(v.size, 1.0 / v.size), alpha=0.55,
                    color=color, label=f"{gran} ({v.size} groups)")
        ax.set_title(title, fontsize=9)
        ax.set_yscale("log")  # the floor bar dominates; a log axis keeps the spread above it visible
        ax.set_ylim(1e-3, 1.5)
        ax.set_xlabel("factor")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("share of groups (log scale)")
    return fig
