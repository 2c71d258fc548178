"""Figures and studies of the theory chapters: hand-built data, invariants, figure structure."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from plasticity_sim.theory import Fig3Config, run_fig3, sample_seed, trace_training_run
from plasticity_sim.theory import figures as F
from plasticity_sim.theory import studies as S

TINY = Fig3Config(n_per_exp=100, n_exp=4, n_features=10, n_classes=2, gamma=8, tau=2, n_seeds=2,
                  n_test=200)


@pytest.fixture(scope="module")
def tiny_result():
    return run_fig3(TINY)


# --- data prep, by hand -----------------------------------------------------------------------------

def test_point_matrix_is_block_diagonal_by_hand():
    data = np.zeros((2, 2, 3), bool)
    data[0, 0, 0] = data[0, 1, 1] = True        # class 0: point 0 holds f0, point 1 holds f1
    data[1, 1, 0] = data[1, 0, 2] = True        # class 1: point 0 holds f1, point 2 holds f0
    matrix, owner = F.point_matrix(data, 2)     # first 2 points of each class
    expected = np.array([[1, 0, 0, 0],
                         [0, 1, 0, 0],
                         [0, 0, 0, 0],
                         [0, 0, 1, 0]], bool)
    assert (matrix == expected).all()
    assert owner.tolist() == [0, 0, 1, 1]
    full, _ = F.point_matrix(data)
    assert full.shape == (4, 6) and full.sum() == 4
    with pytest.raises(ValueError, match="n_show must be in 1..3, got 4"):
        F.point_matrix(data, 4)


def test_chunk_counts_by_hand():
    data = np.array([[[1, 0, 1, 1], [0, 0, 1, 0]]], bool)   # 1 class, 2 features, 4 points
    new, pooled = S.chunk_counts(data, 2, 2)                # chunk 2 = points 2, 3
    assert new.tolist() == [[2, 1]] and pooled.tolist() == [[3, 1]]
    new1, pooled1 = S.chunk_counts(data, 2, 1)
    assert new1.tolist() == pooled1.tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="j \\* n_chunk = 6"):
        S.chunk_counts(data, 2, 3)


def test_second_experiment_by_hand():
    # 1 class, 2 features, tau=1, gamma=2, chunks of 2 points. Chunk 1: a={f0}, b={f1}: both counts 1 <
    # gamma, so both are memorised. Chunk 2: c={f1}, d={f0}. Warm sees only c, d: counts 1, 1, learns
    # nothing. Ideal and cold see all four: f0 has 2 (a, d; tie with f1 -> lowest index), then f1 has 2.
    data = np.array([[[1, 0, 0, 1], [0, 1, 1, 0]]], bool)
    t = S.second_experiment(data, n_chunk=2, gamma=2, tau=1)
    assert not t["first"].learned.any() and t["first"].memorised.all()
    assert not t["warm"].learned.any()
    assert t["warm"].steps[0].active.tolist() == [[False, False, True, True]]
    assert t["ideal"].learned.all() and t["cold"].learned.all()
    assert t["ideal"].order == [(0, 0), (0, 1)]
    assert t["ideal"].steps[0].active.sum() == 4
    with pytest.raises(ValueError, match="2 \\* n_chunk = 6"):
        S.second_experiment(data, n_chunk=3, gamma=2, tau=1)


def test_small_instance_and_data_model_example():
    p, data, gamma, tau = S.small_instance()
    assert data.shape == (2, 8, 60) and p.shape == (2, 8) and (gamma, tau) == (5, 2)
    p2, d2 = S.data_model_example(8, "paper", 60, seed=9, p_max=0.7)
    assert (p2 == p).all() and (d2 == data).all()           # deterministic in the seed
    assert (np.diff(p, axis=1) <= 0).all() and p.max() <= 0.7


def test_fig3_grid_equals_separate_runs():
    grid = S.fig3_grid(TINY, [5, 8], [2, 3])
    assert sorted(grid) == [(5, 2), (5, 3), (8, 2), (8, 3)]
    for (g, t), res in grid.items():
        ref = run_fig3(dataclasses.replace(TINY, gamma=g, tau=t))
        for m in ("cold", "warm", "ideal"):
            assert (res[m].features == ref[m].features).all()
            assert (res[m].accuracy == ref[m].accuracy).all()
            assert (res[m].active_at_start == ref[m].active_at_start).all()
    with pytest.raises(ValueError, match="tau must satisfy"):
        S.fig3_grid(TINY, [5], [11])


def test_compare_fig3_tolerance_formula(tiny_result):
    c = tiny_result["warm"]
    j = 3
    ours = 100 * c.mean("accuracy")[j - 1]
    std = 100 * c.std("accuracy")[j - 1]
    tol = 3.0 * std * np.sqrt(2.0 / TINY.n_seeds) + 0.05
    exact = {j: {"warm": (ours, c.mean("n_learned")[j - 1], c.mean("active_at_start")[j - 1])}}
    rows = S.compare_fig3(tiny_result, exact, n_se=3.0)
    assert len(rows) == 3 and all(r["ok"] for r in rows)
    assert rows[0]["tolerance"] == pytest.approx(tol)
    off = {j: {"warm": (ours + tol + 0.01, c.mean("n_learned")[j - 1], c.mean("active_at_start")[j - 1])}}
    assert [r["ok"] for r in S.compare_fig3(tiny_result, off, n_se=3.0)] == [False, True, True]


def test_sensitivity_table_rows_read_the_results():
    variants = (S.Variant("gamma = 5", {"gamma": 5}, 3, {"cold": (1.0, 2.0, 3.0)}),)
    rows = S.sensitivity_table(2, variants=variants, base=TINY, extra_at=(2,))
    assert [r["name"] for r in rows] == ["default", "gamma = 5"]
    assert rows[0]["at"] == TINY.n_exp and "ours_at_2" in rows[0]
    res = rows[1]["result"]
    assert res.config.gamma == 5 and res.config.n_seeds == 2
    acc, feats, act = rows[1]["ours"]["warm"]
    assert acc == pytest.approx(100 * res["warm"].accuracy[:, 2].mean())
    assert feats == pytest.approx(res["warm"].n_learned[:, 2].mean())
    assert act == pytest.approx(res["warm"].active_at_start[:, 2].mean())
    assert rows[1]["reference"] == {"cold": (1.0, 2.0, 3.0)}
    names = [v.name for v in S.SENSITIVITY_VARIANTS]
    assert names == ["gamma = 25", "gamma = 100", "tau = 2", "tau = 5", "C = 10", "N = 2000, J = 25"]


def test_warm_learn_rates_limits_by_hand():
    # p = 0: no feature ever appears. p = 1: every point holds all 10 features, so the first run learns
    # features 0, 1, 2 (counts n >= gamma), which explains every point (tau = 3): the others keep a
    # count of 0. Rate tau / K = 0.3 for warm and cold alike; every chunk reaches gamma.
    r = S.warm_learn_rates([0.0, 1.0], n_per_class=60, gamma=50, n_exp=3, n_features=10, tau=3, n_reps=2)
    assert r["warm"].tolist() == [0.0, 0.3] and r["cold"].tolist() == [0.0, 0.3]
    assert r["any_chunk"].tolist() == [0.0, 1.0] and r["violations"] == 0 and r["n_trials"] == 20


def test_warm_never_learns_without_a_chunk_reaching_gamma():
    r = S.warm_learn_rates(np.linspace(0.05, 0.2, 4), n_per_class=100, gamma=12, n_exp=5, n_reps=3)
    assert r["violations"] == 0 and (r["warm"] <= r["any_chunk"]).all()


def test_sp_sweep_ends_are_ideal_and_cold():
    sweep = S.sp_sweep(TINY, [0.0, 1.0])
    res = sweep["result"]
    assert sweep["labels"] == ["sp 0", "sp 1"]
    for lab, ref in (("sp 0", "ideal"), ("sp 1", "cold")):
        assert (res[lab].features == res[ref].features).all()
        assert (res[lab].active_at_start == res[ref].active_at_start).all()
    assert sweep["cost_mean"][1] == pytest.approx(res["cold"].active_at_start.mean())
    assert sweep["acc_mean"].shape == (2,)


# --- figures: structure -----------------------------------------------------------------------------

def test_plot_data_points_draws_every_feature_and_a_noise_cell_per_point():
    p, data = S.data_model_example(6, "uniform", 5, seed=3)
    fig = F.plot_data_points(p, data, n_show=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[1]
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == data[:, :, :4].sum()
    assert len(ax.patches) == 2 * 4                       # one noise cell per shown point
    assert len(fig.axes[0].patches) == 2 * 6              # one frequency bar per feature
    fig2 = F.data_model_frame(10, "two_level", 10)
    assert len(fig2.axes) == 2 and "two_level" in fig2.get_suptitle()


def test_plot_frequency_laws_one_line_per_law():
    fig = F.plot_frequency_laws(20)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4


def test_plot_trace_step_titles_and_bars():
    data = np.array([[[1, 0, 0, 1], [0, 1, 1, 0]]], bool)
    trace = trace_training_run(data, gamma=2, tau=1)          # learns f0, then f1, then stops
    first = F.plot_trace_step(data, trace, 0)
    assert len(first.axes) == 2
    title = first.get_suptitle()   # a figure title: it spans both panels
    assert "feature (0, 0)" in title and "learn it" in title
    bars = [b for b in first.axes[1].patches]
    assert len(bars) == 2 and bars[0].get_linewidth() == pytest.approx(1.5)
    last = F.plot_trace_step(data, trace, len(trace.steps) - 1, title="X: ")
    assert last.get_suptitle() == "X: step 3: every feature is learned: stop"
    with pytest.raises(ValueError, match="step must be in 0..2, got 3"):
        F.plot_trace_step(data, trace, 3)


def test_plot_fig3_three_panels_one_band_per_method(tiny_result):
    fig = F.plot_fig3(tiny_result)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.lines) == 3 and len(ax.collections) == 3
    assert fig.axes[2].get_yscale() == "log"
    colours = [line.get_color() for line in fig.axes[0].lines]
    assert colours == ["#2ca02c", "#1f2f7a", "#d62728"]      # cold green, warm navy, ideal red
    two = F.plot_fig3(tiny_result, methods=["warm"], log_active=False)
    assert len(two.axes[0].lines) == 1 and two.axes[2].get_yscale() == "linear"


def test_plot_chunk_counts_and_learn_probability():
    p, train, _ = sample_seed(TINY, 0)
    new, pooled = S.chunk_counts(train, 50, 4)
    learned = {"cold": np.ones((2, 10), bool), "warm": np.zeros((2, 10), bool)}
    fig = F.plot_chunk_counts(p, new, pooled, gamma=8, j=4, learned=learned)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    rates = S.warm_learn_rates([0.05, 0.1], n_per_class=40, gamma=4, n_exp=2, n_reps=2)
    fig2 = F.plot_learn_probability(rates)
    assert len(fig2.axes) == 1 and len(fig2.axes[0].lines) >= 4


def test_plot_sp_sweep_rejects_unknown_probability():
    sweep = S.sp_sweep(TINY, [0.0, 0.5])
    assert len(F.plot_sp_sweep(sweep, 0.5).axes) == 3
    with pytest.raises(ValueError, match="one of the sweep's values"):
        F.plot_sp_sweep(sweep, 0.3)


def test_importing_figures_and_studies_does_not_import_torch():
    code = ("import sys, plasticity_sim.theory.figures, plasticity_sim.theory.studies; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
