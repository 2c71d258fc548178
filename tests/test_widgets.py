"""Kernel-free frame widgets: frame grid and order, nested Stacks, jslinks in the stored state, budget."""
from __future__ import annotations

import io
import itertools
import math
import subprocess
import sys

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
from ipywidgets.embed import dependency_state
from matplotlib.figure import Figure
from PIL import Image

from plasticity_sim import plotting
from plasticity_sim import widgets as pw

SMALL = dict(figsize=(1.6, 1.0), dpi=40)  # tiny frames keep the suite fast on 2 cores


@pytest.fixture(autouse=True)
def _close_widgets():
    yield
    widgets.Widget.close_all()  # the test process holds no other widgets


def text_plot(calls=None):
    """plot_fn that writes its arguments as text, so every frame's pixels depend on its values."""
    def plot_fn(**values):
        if calls is not None:
            calls.append(dict(values))
        fig = Figure()
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, " ".join(f"{k}={v}" for k, v in values.items()), ha="center", va="center")
        return fig
    return plot_fn


def ref(w: widgets.Widget) -> str:
    return "IPY_MODEL_" + w.model_id


def link_table(root) -> set[tuple]:
    """(source model, source trait, target model, target trait) of every LinkModel in the stored state."""
    state = dependency_state(root, drop_defaults=False)
    out = set()
    for entry in state.values():
        if entry["model_name"] == "LinkModel":
            (s, sa), (t, ta) = entry["state"]["source"], entry["state"]["target"]
            out.add((s, sa, t, ta))
    return out


# ---------------------------------------------------------------------------------------------------
# one control

def test_single_slider_frames_in_order_and_matching_values():
    values = [0.5, 1.0, 2.0, 4.0]
    calls = []
    w = pw.frame_widget(text_plot(calls), {"k": pw.slider(values)}, **SMALL)
    assert [c["k"] for c in calls] == values
    assert [f.index for f in w.frames] == [(0,), (1,), (2,), (3,)]
    assert [f.values for f in w.frames] == [{"k": v} for v in values]
    assert [f.dom_class for f in w.frames] == ["pframe-0", "pframe-1", "pframe-2", "pframe-3"]
    assert len({f.png for f in w.frames}) == 4  # values differ -> pixels differ, so order is testable
    (stack,) = w.stacks[0]
    assert isinstance(stack, widgets.Stack) and len(stack.children) == 4
    for i, img in enumerate(stack.children):
        assert isinstance(img, widgets.Image) and img.format == "png"
        assert img._dom_classes == ("pframe", f"pframe-{i}")
        assert img.value == w.frames[i].png
        # an independent render at value i (static_figure + png_bytes) gives frame i, byte for byte
        fig = pw.static_figure(text_plot(), {"k": pw.slider(values, default=values[i])}, **SMALL)
        assert plotting.png_bytes(fig, dpi=SMALL["dpi"]) == img.value


def test_frames_have_figsize_at_dpi_and_opaque_white_background():
    w = pw.frame_widget(text_plot(), {"k": pw.slider([1, 2])}, figsize=(2.0, 1.5), dpi=50)
    with Image.open(io.BytesIO(w.frames[0].png)) as im:
        assert im.size == (100, 75)
        assert im.convert("RGBA").getpixel((0, 0)) == (255, 255, 255, 255)


def test_figsize_none_keeps_plot_fn_size():
    def plot_fn(k):
        return Figure(figsize=(1.0, 0.5))
    w = pw.frame_widget(plot_fn, {"k": pw.slider([1])}, figsize=None, dpi=40)
    with Image.open(io.BytesIO(w.frames[0].png)) as im:
        assert im.size == (40, 20)


def test_default_selects_frame_and_control_index():
    w = pw.frame_widget(text_plot(), {"k": pw.slider([1.0, 2.0, 3.0], default=2.0)}, **SMALL)
    assert w.controls["k"].index == 1
    assert w.stacks[0][0].selected_index == 1
    assert w.controls["k"]._options_labels == ("1", "2", "3")


def test_repr_is_short_and_deterministic():
    w = pw.frame_widget(text_plot(), {"k": pw.slider([1, 2, 3])}, **SMALL)
    assert repr(w) == "FrameWidget(controls=('k',), grid=(3,))"
    assert w._repr_mimebundle_()["text/plain"] == repr(w)


def test_single_link_in_state():
    w = pw.frame_widget(text_plot(), {"k": pw.slider([1, 2, 3])}, **SMALL)
    ctrl, (stack,) = w.controls["k"], w.stacks[0]
    assert link_table(w) == {(ref(ctrl), "index", ref(stack), "selected_index")}


# ---------------------------------------------------------------------------------------------------
# two and three controls

def test_two_controls_nested_stacks_order_and_links():
    a, b = [1, 2], ["x", "y", "z"]
    calls = []
    w = pw.frame_widget(text_plot(calls), {"a": pw.slider(a), "b": pw.dropdown(b)}, **SMALL)
    assert [(c["a"], c["b"]) for c in calls] == list(itertools.product(a, b))  # last control fastest
    assert w.grid_shape == (2, 3) and len(w.frames) == 6
    (outer,) = w.stacks[0]
    inner = w.stacks[1]
    assert list(outer.children) == list(inner) and len(inner) == 2
    for i, j in itertools.product(range(2), range(3)):
        img = inner[i].children[j]
        frame = w.frame_at(i, j)
        assert frame.values == {"a": a[i], "b": b[j]}
        assert img._dom_classes == ("pframe", f"pframe-{i}-{j}") and img.value == frame.png
    expected = {(ref(w.controls["a"]), "index", ref(outer), "selected_index")}
    expected |= {(ref(w.controls["b"]), "index", ref(s), "selected_index") for s in inner}
    assert link_table(w) == expected


def test_three_controls_every_inner_stack_linked_to_its_depth():
    w = pw.frame_widget(text_plot(), {"a": pw.slider([1, 2]), "b": pw.slider([3, 4, 5]),
                                      "c": pw.play([6, 7])}, **SMALL)
    assert [len(level) for level in w.stacks] == [1, 2, 6]
    assert len(w.frames) == 12 and len({f.png for f in w.frames}) == 12
    links = link_table(w)
    for depth, key in enumerate("abc"):
        for stack in w.stacks[depth]:
            assert (ref(w.controls[key]), "index", ref(stack), "selected_index") in links
    play = next(x for x in w.children[0].children[2].children if isinstance(x, widgets.Play))
    assert (ref(play), "value", ref(w.controls["c"]), "index") in links
    assert len(links) == 1 + 2 + 6 + 1
    leaf = w.stacks[2][5].children[1]  # a index 1, b index 2, c index 1
    assert leaf._dom_classes == ("pframe", "pframe-1-2-1") and leaf.value == w.frame_at(1, 2, 1).png


def test_stored_state_has_defaults_and_labels():
    w = pw.frame_widget(text_plot(), {"a": pw.slider([0.1, 0.25, 1e-3], default=0.25),
                                      "b": pw.dropdown([("low", 1), ("high", 2)], default=2)}, **SMALL)
    state = dependency_state(w, drop_defaults=False)
    by_id = {k: v["state"] for k, v in state.items()}
    sl, dd = by_id[w.controls["a"].model_id], by_id[w.controls["b"].model_id]
    assert sl["index"] == 1 and list(sl["_options_labels"]) == ["0.1", "0.25", "0.001"]
    assert dd["index"] == 1 and list(dd["_options_labels"]) == ["low", "high"]
    assert by_id[w.stacks[0][0].model_id]["selected_index"] == 1
    assert all(by_id[s.model_id]["selected_index"] == 1 for s in w.stacks[1])
    assert "pwidget" in by_id[w.model_id]["_dom_classes"]


# ---------------------------------------------------------------------------------------------------
# dropdown and play

def test_dropdown_passes_values_not_labels_and_links_index():
    calls = []
    opts = [("SGD", {"opt": "sgd"}), ("SAM", {"opt": "sam"})]
    w = pw.frame_widget(text_plot(calls), {"o": pw.dropdown(opts, description="optimizer",
                                                            default={"opt": "sam"})}, **SMALL)
    assert [c["o"] for c in calls] == [{"opt": "sgd"}, {"opt": "sam"}]
    dd = w.controls["o"]
    assert isinstance(dd, widgets.Dropdown) and dd.index == 1 and dd.description == "optimizer"
    assert dd._options_labels == ("SGD", "SAM")
    assert link_table(w) == {(ref(dd), "index", ref(w.stacks[0][0]), "selected_index")}
    assert w.frame_at(1).labels == {"o": "SAM"}


def test_play_button_linked_to_slider_which_drives_the_stack():
    w = pw.frame_widget(text_plot(), {"t": pw.play([0, 1, 2, 3], interval_ms=250, default=2)}, **SMALL)
    row = w.children[0].children[0]
    play, sl = row.children
    assert isinstance(play, widgets.Play) and isinstance(sl, widgets.SelectionSlider)
    assert (play.min, play.max, play.value, play.interval, play.step) == (0, 3, 2, 250, 1)
    assert play._dom_classes == ("pplay", "pplay-t") and sl._dom_classes == ("pcontrol", "pcontrol-t")
    assert w.controls["t"] is sl and sl.index == 2
    assert link_table(w) == {(ref(play), "value", ref(sl), "index"),
                             (ref(sl), "index", ref(w.stacks[0][0]), "selected_index")}


def test_name_becomes_css_class():
    w = pw.frame_widget(text_plot(), {"k": pw.slider([1])}, name="fig3", **SMALL)
    assert w._dom_classes == ("pwidget", "pwidget-fig3")
    with pytest.raises(ValueError, match="has space"):
        pw.frame_widget(text_plot(), {"k": pw.slider([1])}, name="has space", **SMALL)


def test_caption_and_alt_in_state_for_every_frame():
    w = pw.frame_widget(text_plot(), {"a": pw.slider([1, 2], description="step"), "b": pw.dropdown(["x", "y"])},
                        caption='Loss over steps; move "step".', alt="Line plot of loss <falling>.", **SMALL)
    assert (w.caption, w.alt) == ('Loss over steps; move "step".', "Line plot of loss <falling>.")
    boxes = [c for c in w.children if isinstance(c, widgets.HTML)]
    assert len(boxes) == 1 and "pcaption-box" in boxes[0]._dom_classes
    text = boxes[0].value
    assert 'class="pcaption"' in text and "Loss over steps; move &quot;step&quot;." in text
    assert 'data-alt="Line plot of loss &lt;falling&gt;."' in text   # escaped: no markup from alt text
    # every frame's control values are stored for the page script, keyed by the frame's DOM class
    import html as _html
    import json as _json
    import re as _re
    frames = _json.loads(_html.unescape(_re.search(r'data-frames="([^"]*)"', text).group(1)))
    assert set(frames) == {f.dom_class for f in w.frames} and frames["pframe-1-0"] == "step = 2, b = x"
    assert pw.frame_alt(w, 1, 0) == "Line plot of loss <falling>. Shown: step = 2, b = x."
    # the caption travels in the saved widget state the static page renders
    state = dependency_state(w, drop_defaults=False)
    assert any(e["state"].get("value") == text for e in state.values())


def test_caption_and_alt_go_together_and_must_be_text():
    with pytest.raises(ValueError, match="together"):
        pw.frame_widget(text_plot(), {"a": pw.slider([1])}, caption="a caption", **SMALL)
    with pytest.raises(ValueError, match="alt must be a non-empty string"):
        pw.frame_widget(text_plot(), {"a": pw.slider([1])}, caption="a caption", alt="  ", **SMALL)
    w = pw.frame_widget(text_plot(), {"a": pw.slider([1])}, **SMALL)   # neither: no caption box
    assert not any(isinstance(c, widgets.HTML) for c in w.children) and pw.frame_alt(w, 0) == ""


# ---------------------------------------------------------------------------------------------------
# budget and report

def test_too_many_frames_rejected_before_rendering():
    calls = []
    with pytest.raises(ValueError, match=r"75 frames .*max_frames=64"):
        pw.frame_widget(text_plot(calls), {"a": pw.slider(range(5)), "b": pw.slider(range(5)),
                                           "c": pw.slider(range(3))}, **SMALL)
    assert calls == []
    with pytest.raises(ValueError, match="max_frames=3"):
        pw.frame_widget(text_plot(), {"a": pw.slider(range(4))}, max_frames=3, **SMALL)


def test_too_many_bytes_rejected_and_no_widget_left_behind():
    before = len(widgets.Widget.get_manager_state()["state"])
    with pytest.raises(ValueError, match="max_bytes=2000"):
        pw.frame_widget(text_plot(), {"a": pw.slider(range(6))}, max_bytes=2000, **SMALL)
    # a budget just over the PNGs but under the JSON state: the check after building must also clean up
    w = pw.frame_widget(text_plot(), {"a": pw.slider(range(3))}, **SMALL)
    b64 = sum(4 * math.ceil(len(f.png) / 3) for f in w.frames)
    w.close()
    widgets.Widget.close_all()
    before = len(widgets.Widget.get_manager_state()["state"])
    with pytest.raises(ValueError, match="max_bytes"):
        pw.frame_widget(text_plot(), {"a": pw.slider(range(3))}, max_bytes=b64 + 3 * 700, **SMALL)
    assert len(widgets.Widget.get_manager_state()["state"]) == before


def test_frame_report_numbers():
    w = pw.frame_widget(text_plot(), {"a": pw.slider([1, 2]), "b": pw.slider([3, 4])}, **SMALL)
    rep = pw.frame_report(w)
    sizes = [len(f.png) for f in w.frames]
    assert rep["n_frames"] == 4 and rep["grid_shape"] == [2, 2]
    assert rep["frame_bytes"] == sum(sizes) == w.frame_bytes
    assert rep["min_frame_bytes"] == min(sizes) and rep["max_frame_bytes"] == max(sizes)
    # the page embeds every PNG as base64, so the state is at least 4/3 of the PNG bytes
    assert rep["embedded_bytes"] > sum(4 * math.ceil(s / 3) for s in sizes)
    assert [f["dom_class"] for f in rep["frames"]] == ["pframe-0-0", "pframe-0-1", "pframe-1-0", "pframe-1-1"]
    assert rep["frames"][3]["labels"] == {"a": "2", "b": "4"}
    with pytest.raises(ValueError, match="FrameWidget"):
        pw.frame_report(widgets.VBox())
    with pytest.raises(ValueError, match=r"\(5, 0\)"):
        w.frame_at(5, 0)


# ---------------------------------------------------------------------------------------------------
# bad specs

@pytest.mark.parametrize("make, match", [
    (lambda: pw.slider([]), "empty"),
    (lambda: pw.dropdown([]), "empty"),
    (lambda: pw.slider([1, 2], default=3), "default 3 "),
    (lambda: pw.dropdown(["a", "b"], default="c"), "default 'c'"),
    (lambda: pw.slider([True, False], default=1), "default 1 "),
    (lambda: pw.slider([1, 1.0]), "'1' appears 2 times"),
    (lambda: pw.slider("abc"), "'abc'"),
    (lambda: pw.slider(5), "5"),
    (lambda: pw.play([1, 2], interval_ms=0), "interval_ms .* 0"),
    (lambda: pw.slider([1], description=3), "description .* 3"),
])
def test_bad_specs(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_default_by_value_or_label():
    assert pw.slider([0.1, 0.2], default=0.2).default_index == 1
    assert pw.dropdown([("a", 10), ("b", 20)], default="b").default == 20
    assert pw.slider(np.array([1, 2, 3]), default=np.int64(3)).default_index == 2


def test_bad_controls():
    f = text_plot()
    with pytest.raises(ValueError, match="got 4"):
        pw.frame_widget(f, {k: pw.slider([1]) for k in "abcd"}, **SMALL)
    with pytest.raises(ValueError, match="got 0"):
        pw.frame_widget(f, {}, **SMALL)
    with pytest.raises(ValueError, match="'a'.*\\[1, 2\\]"):
        pw.frame_widget(f, {"a": [1, 2]}, **SMALL)
    with pytest.raises(ValueError, match="'not a name'"):
        pw.frame_widget(f, {"not a name": pw.slider([1])}, **SMALL)
    with pytest.raises(ValueError, match="callable"):
        pw.frame_widget(None, {"a": pw.slider([1])}, **SMALL)
    with pytest.raises(ValueError, match="must return a matplotlib Figure, got int"):
        pw.frame_widget(lambda a: 3, {"a": pw.slider([1])}, **SMALL)


# ---------------------------------------------------------------------------------------------------
# determinism, pyplot hygiene, live mode, imports

def test_png_determinism_across_builds():
    spec = {"a": pw.slider([1, 2]), "b": pw.dropdown(["x", "y"])}
    one = [f.png for f in pw.frame_widget(text_plot(), spec, **SMALL).frames]
    two = [f.png for f in pw.frame_widget(text_plot(), spec, **SMALL).frames]
    assert one == two
    assert all(b"Software" not in p and b"atplotlib" not in p for p in one)


def test_pyplot_figures_are_closed():
    import matplotlib.pyplot as plt

    plt.close("all")
    keep = plt.figure()  # the caller's own figure must survive

    def plot_fn(k):
        fig, ax = plt.subplots()
        ax.plot([0, k])
        plt.figure()  # a stray figure must not leak into the cell output either
        return fig

    pw.frame_widget(plot_fn, {"k": pw.slider([1, 2, 3])}, **SMALL)
    fig = pw.static_figure(plot_fn, {"k": pw.slider([1, 2, 3])}, figsize=(2.0, 1.0), dpi=50)
    assert plt.get_fignums() == [keep.number]
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == (2.0, 1.0) and fig.dpi == 50
    plt.close("all")


def test_static_figure_uses_defaults_and_book_style():
    calls = []
    fig = pw.static_figure(text_plot(calls), {"a": pw.slider([1, 2], default=2), "b": pw.dropdown(["x", "y"])})
    assert calls == [{"a": 2, "b": "x"}]
    assert tuple(fig.get_size_inches()) == plotting.FIGSIZE and fig.dpi == plotting.DPI
    assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"


def test_live_mode_redraws_through_callbacks():
    calls = []
    w = pw.frame_widget(text_plot(calls), {"g": pw.slider([0.0, 0.5, 1.0]), "m": pw.dropdown(["cold", "warm"])},
                        live=True, **SMALL)
    live = w.children[2]
    assert live._dom_classes == ("plive",)
    fs = next(c for c in live.children if isinstance(c, widgets.FloatSlider))
    dd = next(c for c in live.children if isinstance(c, widgets.Dropdown))
    img = live.children[-1]
    assert (fs.min, fs.max, fs.value) == (0.0, 1.0, 0.0) and not fs.continuous_update
    assert img.value == w.frame_at(0, 0).png  # starts at the default frame
    calls.clear()
    fs.value = 0.3
    assert calls == [{"g": 0.3, "m": "cold"}]
    dd.index = 1
    assert calls[-1] == {"g": 0.3, "m": "warm"}
    assert img.value not in {f.png for f in w.frames}  # 0.3 is not on the grid


def test_live_integer_values_get_int_slider():
    w = pw.frame_widget(text_plot(), {"n": pw.play([2, 4, 8])}, live=True, **SMALL)
    (isl,) = [c for c in w.children[2].children if isinstance(c, widgets.IntSlider)]
    assert (isl.min, isl.max, isl.value) == (2, 8, 2)


def test_import_does_not_pull_torch():
    code = "import plasticity_sim.widgets, plasticity_sim.plotting, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
