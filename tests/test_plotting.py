"""The book's figure style: method colours, figures off pyplot, mean +- std bands, deterministic PNGs."""
from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from plasticity_sim import plotting


def test_method_colours_fixed_for_the_core_methods():
    assert plotting.method_color("cold") == "#2ca02c"   # green
    assert plotting.method_color("ideal") == "#d62728"  # red
    r, g, b = matplotlib.colors.to_rgb(plotting.method_color("warm"))
    assert b > 0.4 and r < 0.2 and g < 0.3              # navy: dark blue
    from plasticity_sim.methods import METHODS

    colours = [m.color for m in METHODS.values()]
    assert len(set(colours)) == len(colours)            # no two methods share a colour


def test_method_lookup_by_key_or_label():
    assert plotting.method_color("S&P (Gaussian)") == plotting.method_color("shrink_perturb")
    assert plotting.method_color("DASH") == plotting.method_color("dash") == plotting.method_color("Dash")
    assert plotting.method_label("shrink_perturb") == "S&P (Gaussian)"
    assert plotting.method_label("dash") == "DASH"
    with pytest.raises(ValueError, match="'lasso'.*cold"):
        plotting.method_color("lasso")


def test_new_figure_is_off_pyplot_white_and_book_sized():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig, ax = plotting.new_figure()
    assert plt.get_fignums() == before
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == (6.4, 3.6) and fig.dpi == 80
    assert matplotlib.colors.to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert not ax.spines["top"].get_visible()           # book style applied at creation
    fig2, axes = plotting.new_figure(2, figsize=(4, 2), sharey=True)
    assert axes.shape == (2,) and tuple(fig2.get_size_inches()) == (4.0, 2.0)
    _, grid = plotting.new_figure(3, 2)
    assert grid.shape == (2, 3)
    with pytest.raises(ValueError, match="ncols .* 0"):
        plotting.new_figure(0)


def test_page_figure_is_at_most_the_column_wide_at_96_dpi():
    fig, axes = plotting.page_figure(2, width_ratios=(1, 2))
    assert fig.dpi == plotting.PAGE_DPI == 96 and fig.get_size_inches()[0] == plotting.PAGE_WIDTH_IN
    assert axes[1].get_position().width > axes[0].get_position().width
    with pytest.raises(ValueError, match="at most 7.0 in"):
        plotting.page_figure(figsize=(7.5, 3.0))


def test_book_style_is_scoped_and_apply_style_is_global():
    original = matplotlib.rcParams["axes.spines.top"]
    with matplotlib.rc_context({"axes.spines.top": True, "figure.dpi": 123.0}):
        with plotting.book_style(**{"figure.dpi": 50}):
            assert matplotlib.rcParams["axes.spines.top"] is False
            assert matplotlib.rcParams["figure.dpi"] == 50
        assert matplotlib.rcParams["axes.spines.top"] is True and matplotlib.rcParams["figure.dpi"] == 123.0
        plotting.apply_style()
        assert matplotlib.rcParams["figure.dpi"] == 80 and matplotlib.rcParams["savefig.facecolor"] == "white"
    assert matplotlib.rcParams["axes.spines.top"] == original


def test_mean_std_band_line_and_band_extent():
    fig, ax = plotting.new_figure()
    x = np.array([0.0, 1.0, 2.0])
    mean = np.array([1.0, 2.0, 0.0])
    std = np.array([0.5, 0.25, 1.0])
    line = plotting.mean_std_band(ax, x, mean, std, label="warm", color=plotting.method_color("warm"))
    np.testing.assert_array_equal(line.get_ydata(), mean)
    assert line.get_label() == "warm"
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(-1.0) and ys.max() == pytest.approx(2.25)  # 0-1 and 2+0.25
    assert matplotlib.colors.to_hex(band.get_facecolor()[0]) == plotting.method_color("warm")
    line2 = plotting.mean_std_band(ax, x, mean, std, n_std=2.0)
    ys2 = ax.collections[1].get_paths()[0].vertices[:, 1]
    assert ys2.min() == pytest.approx(-2.0) and ys2.max() == pytest.approx(2.5)
    assert line2.get_color() != line.get_color()
    with pytest.raises(ValueError, match=r"\(3,\), \(2,\), \(3,\)"):
        plotting.mean_std_band(ax, x, mean[:2], std)


def _figure(facecolor="white"):
    fig = Figure(figsize=(2.0, 1.0), dpi=50, facecolor=facecolor)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [0, 1, 0], color="#1f2f7a")
    ax.fill_between([0, 1, 2], [0, 0.5, 0], [0.2, 1.0, 0.2], alpha=0.3)
    ax.set_title("t")
    return fig


@pytest.mark.parametrize("colors, mode", [(256, "P"), (None, "RGBA")])
def test_png_bytes_deterministic_sized_and_without_metadata(colors, mode):
    a = plotting.png_bytes(_figure(), colors=colors)
    b = plotting.png_bytes(_figure(), colors=colors)
    assert a == b
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Software" not in a and b"atplotlib" not in a
    with Image.open(io.BytesIO(a)) as im:
        assert im.mode == mode and im.size == (100, 50)
    with Image.open(io.BytesIO(plotting.png_bytes(_figure(), dpi=100, colors=colors))) as im:
        assert im.size == (200, 100)


def test_png_bytes_opaque_white_even_for_transparent_figures():
    for colors in (256, None):
        data = plotting.png_bytes(_figure(facecolor="none"), colors=colors)
        with Image.open(io.BytesIO(data)) as im:
            rgba = np.asarray(im.convert("RGBA"))
        assert (rgba[..., 3] == 255).all()
        assert tuple(rgba[0, 0]) == (255, 255, 255, 255)


def test_palette_png_is_smaller_and_close_to_lossless():
    lossless = plotting.png_bytes(_figure(), colors=None)
    palette = plotting.png_bytes(_figure())
    assert len(palette) < len(lossless)
    with Image.open(io.BytesIO(lossless)) as a, Image.open(io.BytesIO(palette)) as b:
        diff = np.abs(np.asarray(a.convert("RGB"), float) - np.asarray(b.convert("RGB"), float))
    assert diff.mean() < 2.0  # out of 255: invisible


def test_png_bytes_rejects_bad_colour_count():
    with pytest.raises(ValueError, match="colors .* 1"):
        plotting.png_bytes(_figure(), colors=1)
    with pytest.raises(ValueError, match="300"):
        plotting.png_bytes(_figure(), colors=300)
