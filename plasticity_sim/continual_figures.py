"""Figures of the continual-learning chapters (book/continual). Each function returns a Figure.

Explained in: book/continual/01_loss_of_plasticity.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

from plasticity_sim.plotting import method_color, new_figure

LABELS = {"bp": "backprop", "cbp": "continual backprop", "l2": "L2", "sp": "S&P"}
COLORS = {"bp": method_color("warm"), "cbp": method_color("cbp"), "l2": method_color("l2"),
          "sp": method_color("sp_continual")}


def _band(ax, x, rows, color, label):
    rows = np.asarray(rows, float)
    mean = rows.mean(0)
    half = _st.t.ppf(0.975, len(rows) - 1) * rows.std(0, ddof=1) / np.sqrt(len(rows))
    ax.plot(x, mean, color=color, label=f"{label} ({len(rows)} runs)")
    ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, lw=0)


def plot_regression(errors: dict, bin_size: int, *, dead: dict | None = None, title: str | None = None):
    """Binned squared error over time, mean and 95 % t band over runs, one line per method
    (``errors``: method -> (runs, bins) array); with ``dead`` a second panel shows the share of
    hidden units that never fired in a bin.

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    fig, axes = new_figure(2 if dead else 1, figsize=(9.6, 3.6) if dead else None)
    axes = np.atleast_1d(axes)
    for method, rows in errors.items():
        rows = np.asarray(rows)
        x = (np.arange(rows.shape[1]) + 1) * bin_size / 1e3
        _band(axes[0], x, rows, COLORS.get(method), LABELS.get(method, method))
    axes[0].set_xlabel("step (thousands)")
    axes[0].set_ylabel(f"squared error (mean per {bin_size // 1000}k-step bin)")
    axes[0].legend(loc="upper left", fontsize=8)
    if title:
        axes[0].set_title(title)
    if dead:
        for method, rows in dead.items():
            rows = np.asarray(rows)
            x = (np.arange(rows.shape[1]) + 1) * bin_size / 1e3
            _band(axes[1], x, 100 * rows, COLORS.get(method), LABELS.get(method, method))
        axes[1].set_xlabel("step (thousands)")
        axes[1].set_ylabel("hidden units that never fired (%)")
    pass  # the book style lays the figure out
    return fig


def plot_frame(data: dict, activation: str, lr: float):
    """One slider frame: error curves of backprop and each CBP replacement rate for one activation
    and step size, from ``continual_studies.load_frames()`` (mean and 95 % t band over runs).

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    from plasticity_sim.continual_studies import frame

    fig, ax = new_figure()
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
    ax.legend(loc="upper left", fontsize=8)
    pass  # the book style lays the figure out
    return fig
