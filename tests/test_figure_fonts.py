"""Theory figures are readable on the page: natural size, fonts >= 9 pt, no legend over data (issue #15).

A figure is shown at its natural pixel size when it is at most 7 in wide at 96 dpi (the book's text
column is ~690 px), and at 96 dpi a matplotlib point is a CSS point, so ``fontsize >= 9`` means 9 pt on
the reader's screen. The same figure functions draw the kernel-free widget frames (the chapters pass
``figsize`` <= 7 in and ``dpi=96``), so this covers the frames too. Inputs are small versions of the
chapters' own (seconds in all).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.legend import Legend
from matplotlib.text import Text

from plasticity_sim.theory import Fig3Config, fig3_data, run_fig3, sample_seed, simulate, trace_training_run
from plasticity_sim.theory import figures as F
from plasticity_sim.theory.studies import (SMALL_INSTANCE, chunk_counts, second_experiment, small_instance,
                                             sp_sweep, warm_learn_rates)

SMALL = Fig3Config(n_seeds=2, n_exp=12)


def _figures():
    p, data, gamma, tau = small_instance()
    n = SMALL_INSTANCE["n_chunk"]
    trace = trace_training_run(data[:, :, :n], gamma=gamma, tau=tau)
    two = second_experiment(data, n_chunk=n, gamma=gamma, tau=tau)
    fig3_data_ = fig3_data(SMALL)
    yield "data_model_frame K=50", F.data_model_frame(50, "paper", 50)
    yield "data_model_frame K=10", F.data_model_frame(10, "two_level", 10)
    yield "frequency laws", F.plot_frequency_laws(50)
    yield "trace step 0", F.plot_trace_step(data[:, :, :n], trace, 0)
    yield "trace last", F.plot_trace_step(data[:, :, :n], trace, len(trace.steps) - 1)
    for m in ("warm", "ideal"):
        t = two[m]
        yield f"experiment 2 {m}", F.plot_trace_step(data, t, len(t.steps) - 1, title=f"experiment 2, {m}: ",
                                                     n_old=n, memorised_before=two["first"].memorised)
    for g in (25, 50, 75, 100):
        r = run_fig3(dataclasses.replace(SMALL, gamma=g), data=fig3_data_)
        yield f"fig3 gamma={g}", F.plot_fig3(r)
    p, train, _ = sample_seed(SMALL, 0)
    new, pooled = chunk_counts(train, SMALL.n_per_exp // SMALL.n_classes, SMALL.n_exp)
    sim = simulate(train, n_per_exp=SMALL.n_per_exp, n_exp=SMALL.n_exp, gamma=SMALL.gamma, tau=SMALL.tau)
    yield "chunk counts", F.plot_chunk_counts(p, new, pooled, gamma=SMALL.gamma, j=SMALL.n_exp,
                                              learned={m: sim[m].features[-1] for m in ("cold", "warm")})
    rates = warm_learn_rates(50 / 500 * np.linspace(0.3, 1.3, 6), n_exp=5, n_reps=3)
    yield "learn probability", F.plot_learn_probability(rates)
    sweep = sp_sweep(dataclasses.replace(SMALL, n_exp=6), [0.0, 0.5, 1.0])
    yield "sp sweep", F.plot_sp_sweep(sweep, 0.5)


FIGURES = list(_figures())


def _texts(fig):
    fig.canvas.draw()
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.figure is fig:
            yield t


@pytest.mark.parametrize("name,fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_figure_shows_at_natural_size_with_fonts_of_at_least_9pt(name, fig):
    w, _ = fig.get_size_inches()
    assert fig.dpi == F.FIG_DPI == 96 and w <= 7.05, f"{name}: {w:.2f} in at {fig.dpi} dpi"
    small = sorted({(round(t.get_fontsize(), 1), t.get_text()[:30]) for t in _texts(fig)
                    if t.get_fontsize() < F.MIN_FONT_PT})
    assert not small, f"{name}: text below {F.MIN_FONT_PT} pt: {small[:5]}"


def _data_points(ax):
    pts = [line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
           for line in ax.get_lines() if line.get_visible() and len(line.get_xdata())]
    pts += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
            if hasattr(c, "get_offsets") and len(c.get_offsets())]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


@pytest.mark.parametrize("name,fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_no_legend_over_data(name, fig):
    fig.canvas.draw()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for leg in legends:
        assert isinstance(leg, Legend)
        box = leg.get_window_extent()
        for ax in fig.axes:
            pts = _data_points(ax)
            pts = pts[np.isfinite(pts).all(axis=1)]
            inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
            assert not inside.any(), f"{name}: legend covers {inside.sum()} data points"


def test_legend_check_can_fail():
    fig, ax = F._figure((4, 3))
    ax.plot([0, 1], [0, 1], "o-", label="data")
    ax.plot([0.05], [0.95], "o")
    ax.legend(loc="upper left")                                  # drawn over the point (0.05, 0.95)
    with pytest.raises(AssertionError, match="legend covers"):
        test_no_legend_over_data("toy", fig)
