"""`python -m plasticity_sim.book execute`: deterministic re-execution, clear errors, nothing half-written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from plasticity_sim import book

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "plasticity_sim.book", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_missing_notebook_is_rejected_and_nothing_written(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), good)
    before = good.read_bytes()
    proc = _run("execute", str(good), str(tmp_path / "nope.ipynb"))
    assert proc.returncode == 2
    assert "nope.ipynb" in proc.stderr and "not found" in proc.stderr
    assert good.read_bytes() == before, "a notebook was written although the command failed"


def test_non_notebook_is_rejected(tmp_path):
    f = tmp_path / "chapter.md"
    f.write_text("# hi")
    proc = _run("execute", str(f))
    assert proc.returncode == 2 and "chapter.md" in proc.stderr


def test_unknown_subcommand_fails():
    proc = _run("frobnicate")
    assert proc.returncode != 0 and "frobnicate" in proc.stderr


def test_failing_cell_leaves_notebook_unchanged(tmp_path):
    nb = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom-42')")]), nb)
    before = nb.read_bytes()
    proc = _run("execute", str(nb))
    assert proc.returncode == 2 and "boom-42" in proc.stderr
    assert nb.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_execute_is_deterministic_with_widgets(tmp_path):
    src = ("import ipywidgets as w\n"
           "s = w.IntSlider(value=3, min=0, max=9)\n"
           "b = w.Stack([w.Label('a'), w.Label('b')], selected_index=0)\n"
           "w.jslink((s, 'value'), (b, 'selected_index'))\n"
           "print('value', s.value)\n"
           "w.VBox([s, b])")
    nb = tmp_path / "w.ipynb"
    cell = nbformat.v4.new_code_cell(src)
    cell["id"] = "fixed-id"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), nb)
    assert _run("execute", str(nb)).returncode == 0
    first = nb.read_bytes()
    assert _run("execute", str(nb)).returncode == 0
    second = nb.read_bytes()
    assert first == second, "re-executing an unchanged notebook changed it"
    doc = json.loads(first)
    state = doc["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) >= 4  # slider, stack, labels, link (+ layouts/styles)
    assert "execution" not in doc["cells"][0]["metadata"]
    assert doc["cells"][0]["execution_count"] == 1
    assert any("value 3" in "".join(o.get("text", "")) for o in doc["cells"][0]["outputs"])


def test_toc_notebooks_match_toc():
    paths = book.toc_notebooks(ROOT)
    assert all(p.suffix == ".ipynb" and p.exists() for p in paths)
    assert paths == sorted(set(paths), key=paths.index)  # no duplicates
