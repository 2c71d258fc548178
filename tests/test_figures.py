"""Figures of the DASH chapters (plasticity_sim.dash.figures) that need no training run.

Figures of chunked results are tested with the fake results of test_report.py; those of a protocol's
result beside the protocol (test_two_phase.py, test_subsets.py, test_feature_probe.py).
"""
import numpy as np
import pytest

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
    assert label("sp") == "S&P" and label("dash_row") == "DASH (row)"
    with pytest.raises(ValueError, match="unknown method"):
        label("nope")


# ---------------------------------------------------------------------------------------------------
# The DASH chapters' pictures follow the theory part's page rule (issue #15, tests/test_figure_fonts.py):
# at most 7 in wide at 96 dpi, no text below 9 pt, no legend over data. Inputs are small fakes of the
# protocols' results (no training).
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


DASH_FIGURES = list(_dash_figures())


def _visible_texts(fig):
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.figure is fig]


@pytest.mark.parametrize("name,fig", DASH_FIGURES, ids=[n for n, _ in DASH_FIGURES])
def test_dash_figure_natural_size_and_fonts(name, fig):
    w, _ = fig.get_size_inches()
    assert fig.dpi == 96 and w <= 7.05, f"{name}: {w:.2f} in at {fig.dpi} dpi"
    small = sorted({(round(t.get_fontsize(), 1), t.get_text()[:30]) for t in _visible_texts(fig)
                    if t.get_fontsize() < 9})
    assert not small, f"{name}: text below 9 pt: {small[:5]}"


@pytest.mark.parametrize("name,fig", DASH_FIGURES, ids=[n for n, _ in DASH_FIGURES])
def test_dash_figure_no_legend_over_data(name, fig):
    from matplotlib.patches import Rectangle

    fig.canvas.draw()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for leg in legends:
        box = leg.get_window_extent()
        for ax in fig.axes:
            pts = [line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
                   for line in ax.get_lines() if line.get_visible() and len(line.get_xdata())]
            pts += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
                    if hasattr(c, "get_offsets") and len(c.get_offsets())]
            pts += [ax.transData.transform([(p.get_x() + p.get_width() / 2, p.get_height())])
                    for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
            if not pts:
                continue
            pts = np.concatenate(pts)
            pts = pts[np.isfinite(pts).all(axis=1)]
            inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
            assert not inside.any(), f"{name}: legend covers {inside.sum()} data points"


def test_geometry_half_circles_are_not_clipped():
    # issue #15: the radius-1 half-circle and its labels must lie inside the picture's limits
    ax = plot_shrink_geometry(0.3).axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < -1.0 and x1 > 1.3 and y0 < 0.0 and y1 > 1.05
    assert all(p.theta1 == 0 and p.theta2 == 180 for p in ax.patches if hasattr(p, "theta1"))
