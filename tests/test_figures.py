"""Figures of the DASH chapters (plasticity_sim.figures) that need no training run.

Figures of chunked results are tested with the fake results of test_report.py; those of a protocol's
result beside the protocol (test_two_phase.py, test_subsets.py, test_feature_probe.py).
"""
import numpy as np
import pytest

from plasticity_sim.figures import plot_factor_histograms, plot_shrink_geometry
from plasticity_sim.report import label


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
