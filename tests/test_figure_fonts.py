"""Theory figures are readable on the page: natural size, fonts >= 9 pt, no legend over data (issue #15),
labels apart, bars whole and few colours per legend (issue #26). The checks are tests/figure_checks.py.

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

from figure_checks import (check_bars_from_zero, check_colours, check_layout, check_legends_off_data,
                           check_size_and_fonts, check_texts_apart)
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


@pytest.mark.parametrize("name,fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_figure_shows_at_natural_size_with_fonts_of_at_least_9pt(name, fig):
    assert F.FIG_DPI == 96 and F.MIN_FONT_PT == 9
    check_size_and_fonts(name, fig)


@pytest.mark.parametrize("name,fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_no_legend_over_data(name, fig):
    check_legends_off_data(name, fig)


@pytest.mark.parametrize("name,fig", FIGURES, ids=[n for n, _ in FIGURES])
def test_labels_apart_bars_whole_and_few_colours(name, fig):
    check_layout(name, fig)


# ---------------------------------------------------------------------------------------------------
# Every check of tests/figure_checks.py can fail: one small figure that breaks each rule.
def test_legend_check_can_fail():
    fig, ax = F._figure((4, 3))
    ax.plot([0, 1], [0, 1], "o-", label="data")
    ax.plot([0.05], [0.95], "o")
    ax.legend(loc="upper left")                                  # drawn over the point (0.05, 0.95)
    with pytest.raises(AssertionError, match="legend covers"):
        test_no_legend_over_data("toy", fig)


def test_legend_over_bars_fails():
    fig, ax = F._figure((4, 3))
    ax.bar(range(4), [5, 6, 7, 8], label="bars")
    ax.legend(loc="lower right")                                 # over the last bar's body, not its top
    with pytest.raises(AssertionError, match="legend covers 1 bars"):
        check_legends_off_data("toy", fig)


def test_size_and_font_checks_can_fail():
    fig, ax = F._figure((4, 3))
    ax.set_title("small", fontsize=7)
    with pytest.raises(AssertionError, match="below 9 pt"):
        check_size_and_fonts("toy", fig)
    wide, _ = F._figure((9, 3))
    with pytest.raises(AssertionError, match="9.00 in at 96"):
        check_size_and_fonts("toy", wide)


def test_overlapping_and_cut_off_labels_fail():
    fig, ax = F._figure((4, 3))
    ax.set_xticks(range(2, 6), [f"a long tick label {i}" for i in range(4)])  # four long labels, 0.3 in apart
    ax.set_xlim(-5, 12)
    with pytest.raises(AssertionError, match="labels overlap"):
        check_texts_apart("toy", fig)
    fig, ax = F._figure((4, 3))
    ax.text(1.3, 0.5, "beyond the right edge", transform=ax.transAxes)
    with pytest.raises(AssertionError, match="cut off"):
        check_texts_apart("toy", fig)


def test_truncated_bar_axis_fails():
    fig, ax = F._figure((4, 3))
    ax.bar(range(3), [60, 65, 70])
    ax.set_ylim(55, 75)                                          # bars from 0, axis from 55
    with pytest.raises(AssertionError, match="truncated"):
        check_bars_from_zero("toy", fig)
    ax.set_ylim(0, 75)
    check_bars_from_zero("toy", fig)


def test_too_many_colours_in_a_legend_fail():
    fig, ax = F._figure((4, 3))
    for i in range(7):
        ax.plot([0, 1], [i, i + 1], color=f"C{i}", label=f"line {i}")
    fig.legend(loc="outside right center")
    with pytest.raises(AssertionError, match="7 colours"):
        check_colours("toy", fig)
