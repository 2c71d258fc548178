"""Figures of the DASH chapters (plasticity_sim.dash.figures) that need no training run.

Figures of chunked results are tested with the fake results of test_report.py; those of a protocol's
result beside the protocol (test_two_phase.py, test_subsets.py, test_feature_probe.py).
"""
import numpy as np
import pytest

from figure_checks import check_layout, check_legends_off_data, check_size_and_fonts
from plasticity_sim.dash.figures import plot_factor_histograms, plot_shrink_geometry
from plasticity_sim.dash.report import label


def test_geometry_figure_builds():
    fig = plot_shrink_geometry(0.5)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="lam"):
        plot_shrink_geometry(-0.1)


def test_factor_histograms_show_shares_per_granularity():
    fig = plot_factor_histograms({"a": {"kernel": np.full(4, 0.5), "row": np.ones(2)},
                                  "b": {"kernel": np.full(3, 0.3), "row": np.full(3, 0.9)}}, bins=7)
    assert len(fig.axes) == 2
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == pytest.approx(2.0)       # two histograms, each summing to 1
    with pytest.raises(ValueError, match="empty"):
        plot_factor_histograms({})


def test_method_names_for_the_figures():
    assert label("sp") == "S&P (Gaussian)" and label("dash_row") == "DASH (row)"
    with pytest.raises(ValueError, match="unknown method"):
        label("nope")


# ---------------------------------------------------------------------------------------------------
# The DASH chapters' pictures follow the book's page rule (issues #15 and #26, tests/figure_checks.py):
# at most 7 in wide at 96 dpi, no text below 9 pt, no legend over data, labels apart, bars whole, few
# colours per legend. Inputs are small fakes of the protocols' results (no training), or the shipped
# results the chapters draw (read in well under a second).
def _dash_figures():
    from plasticity_sim.dash.figures import (plot_cosine_histogram, plot_pretrain_sweep, plot_probe_scatter,
                                        plot_subset_cosines)
    from plasticity_sim.protocols.subsets import SubsetCosineConfig, SubsetCosineResult
    from plasticity_sim.protocols.two_phase import PretrainSweepConfig, PretrainSweepResult

    rng = np.random.default_rng(0)
    for lam in (0.0, 0.3, 0.9):
        yield f"geometry lam={lam}", plot_shrink_geometry(lam)
    per_seed = [dict(seed=s, feature_share=rng.uniform(0, 1, 32), feature_share_init=rng.uniform(0, .08, 32),
                     noise_alignment=rng.uniform(.15, .4, 32), noise_alignment_init=rng.uniform(.15, .25, 32),
                     cos_row=rng.normal(0, .1, 32)) for s in range(8)]
    yield "probe scatter", plot_probe_scatter(per_seed)
    yield "factor histograms", plot_factor_histograms(
        {t: {"kernel": np.clip(rng.normal(.4, .3, 300), 0, 1), "row": np.full(32, .3)} for t in "abc"})
    grid = (0, 5, 10, 20, 40, 80)
    config = PretrainSweepConfig(pretrain_epochs=grid, methods=("warm", "dash"), seeds=(0, 1))
    records = [dict(seed=s, method=m, pretrain_epochs=e, pretrain_train_acc=min(1.0, 0.1 + e / 20),
                    test_acc=0.67 + (0.003 if m == "dash" else -0.003) * np.log1p(e) + rng.normal(0, .005))
               for s in (0, 1) for m in ("warm", "dash") for e in grid]
    sweep = PretrainSweepResult(config, records, [dict(seed=s, test_acc=0.67) for s in (0, 1)], {}, 0.0)
    yield "pretrain sweep", plot_pretrain_sweep(sweep)
    sizes = (250, 500, 1000, 2000, 4000)
    cos = SubsetCosineResult(SubsetCosineConfig(sizes=sizes, seeds=(0, 1)), [
        dict(seed=s, size=n, test_acc=0.3 + 0.15 * i,
             cosines={f"features.{k}": list(rng.normal(-0.7 + 0.15 * i, .2, 32)) for k in (0, 2, 4)})
        for s in (0, 1) for i, n in enumerate(sizes)], {}, 0.0)
    for n in (250, 4000):
        yield f"cosine histogram {n}", plot_cosine_histogram(cos, n)
    yield "subset cosines", plot_subset_cosines(cos)
    yield from _shipped_dash_figures()


def _shipped_dash_figures():
    """The chapters' figures of shipped results, drawn as book/dash/02, 02b and 02c draw them."""
    from plasticity_sim.dash import cpu_study as study
    from plasticity_sim.dash import gain_over_cold as goc
    from plasticity_sim.dash import report
    from plasticity_sim.dash.figures import (plot_budget_control, plot_effect_vs_j, plot_experiment_curves,
                                        plot_paired_intervals)

    results = study.RESULTS
    four = ("cold", "warm", "sp", "dash")
    mlp = report.summarize_results(results / "mlp", methods=four)
    yield "experiment curves (dash/02)", plot_experiment_curves(mlp, title="MLP: mean over 5 seeds, band = range")
    yield "experiment curves, one seed", plot_experiment_curves(mlp, seed=study.SEEDS[0], title="MLP: seed 0")
    tables = {"MLP": study.arm_table("mlp", results), "1-D CNN": study.arm_table("cnn", results)}
    yield "paired intervals (dash/02)", plot_paired_intervals(
        {name: [r for r in rows if r["method"] != "l2_init"] for name, rows in tables.items()})
    names = {"mlp": "SGD lr 1e-2 (main)", "mlp_adamw": "AdamW, wd 1e-4", "mlp_lr1e-3": "SGD lr 1e-3 (paper)",
             "mlp_aug": "SGD + shifts", "cnn": "SGD lr 1e-2 (main)", "cnn_adamw": "AdamW, wd 1e-4",
             "cnn_aug": "SGD + shifts"}
    warm = {a: next(r for r in study.arm_table(a, results) if r["method"] == "warm") for a in names}
    yield "paired intervals (dash/02b controls)", plot_paired_intervals(
        {net: [warm[a] | {"label": names[a]} for a in arms]
         for net, arms in (("MLP", ("mlp", "mlp_adamw", "mlp_lr1e-3", "mlp_aug")),
                           ("1-D CNN", ("cnn", "cnn_adamw", "cnn_aug")))},
        title="warm minus cold, paired by seed: dots = seeds, bar = mean, line = 95 % interval")
    easy = {"digits, MLP": study.arm_table("digits_mlp", results),
            "feature/noise, 2-D CNN": study.arm_table("feature_noise_cnn", results)}
    yield "paired intervals (dash/02b easy)", plot_paired_intervals(
        easy, title="easy tasks, paired by seed: dots = seeds, bar = mean, line = 95 % interval")
    rows = goc.effect_rows("mlp", goc.RESULTS)
    yield "effect vs J (dash/02c)", plot_effect_vs_j({"MLP": rows}, theory=goc.theory_vs_j(n_seeds=1))
    yield "budget control (dash/02c)", plot_budget_control(goc.load_sweep("mlp", goc.RESULTS)["cold_last"],
                                                           rows, title="MLP")


DASH_FIGURES = list(_dash_figures())


@pytest.mark.parametrize("name,fig", DASH_FIGURES, ids=[n for n, _ in DASH_FIGURES])
def test_dash_figure_natural_size_and_fonts(name, fig):
    check_size_and_fonts(name, fig)


@pytest.mark.parametrize("name,fig", DASH_FIGURES, ids=[n for n, _ in DASH_FIGURES])
def test_dash_figure_no_legend_over_data(name, fig):
    check_legends_off_data(name, fig)


@pytest.mark.parametrize("name,fig", DASH_FIGURES, ids=[n for n, _ in DASH_FIGURES])
def test_dash_figure_labels_apart_bars_whole_and_few_colours(name, fig):
    check_layout(name, fig)


def test_geometry_half_circles_are_not_clipped():
    # issue #15: the radius-1 half-circle and its labels must lie inside the picture's limits
    ax = plot_shrink_geometry(0.3).axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < -1.0 and x1 > 1.3 and y0 < 0.0 and y1 > 1.05
    assert all(p.theta1 == 0 and p.theta2 == 180 for p in ax.patches if hasattr(p, "theta1"))
