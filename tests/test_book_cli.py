"""`python tools/book.py execute`: deterministic re-execution, clear errors, nothing half-written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import book

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, cwd=ROOT, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _notebook(path: Path, *sources: str) -> bytes:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path.read_bytes()


def _one_line_error(proc) -> str:
    """The command failed the documented way: exit 2, ending in one ``error:`` line, no traceback.

    (Lines the kernel itself logs, such as ipykernel's "[IPKernelApp] WARNING", may come before it.)
    """
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("[IPKernelApp]")]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


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
    before = _notebook(nb, "print('fine')", "raise ValueError('boom-42')")
    line = _one_line_error(_run("execute", str(nb)))
    assert "bad.ipynb cell 1" in line and "ValueError: boom-42" in line
    assert nb.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


@pytest.mark.parametrize("content, what", [(b"", "empty"), (b"   \n", "empty"),
                                           (b'{"cells": [', "not valid JSON"),
                                           (b'{"hello": 1}', "not a version-4 notebook"),
                                           (b'[1, 2]', "not a version-4 notebook")])
def test_broken_notebook_fails_before_anything_runs(tmp_path, content, what):
    good = tmp_path / "a_good.ipynb"
    good_before = _notebook(good, "print(1)")
    broken = tmp_path / "z_broken.ipynb"
    broken.write_bytes(content)
    line = _one_line_error(_run("execute", str(good), str(broken)))
    assert "z_broken.ipynb" in line and what in line, line
    assert good.read_bytes() == good_before, "a notebook ran and was written before the broken one was seen"
    assert broken.read_bytes() == content


def test_cell_timeout_names_notebook_and_cell(tmp_path):
    nb = tmp_path / "slow.ipynb"
    before = _notebook(nb, "x = 1", "import time\ntime.sleep(60)")
    line = _one_line_error(_run("execute", "--timeout", "3", str(nb)))
    assert "slow.ipynb cell 1" in line and "3 s" in line and "--timeout" in line, line
    assert nb.read_bytes() == before


def test_dead_kernel_names_notebook_and_cell(tmp_path):
    nb = tmp_path / "dies.ipynb"
    before = _notebook(nb, "x = 1", "y = 2", "import os\nos._exit(3)")
    line = _one_line_error(_run("execute", str(nb)))
    assert "dies.ipynb cell 2" in line and "kernel died" in line, line
    assert nb.read_bytes() == before


@pytest.mark.parametrize("value", ["-5", "0", "abc"])
def test_bad_timeout_is_rejected_naming_the_value(tmp_path, value):
    nb = tmp_path / "n.ipynb"
    before = _notebook(nb, "print(1)")
    proc = _run("execute", "--timeout", value, str(nb))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--timeout" in proc.stderr and repr(value) in proc.stderr, proc.stderr
    assert nb.read_bytes() == before
    with pytest.raises(book.BookError, match="got 0"):
        book.execute([nb], timeout=0)


def test_book_tool_is_not_in_the_installed_package():
    import plasticity_sim

    assert not (Path(plasticity_sim.__file__).parent / "book.py").exists()
    assert Path(book.__file__).resolve() == ROOT / "tools" / "book.py"


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


def test_stream_outputs_are_merged_whatever_the_flush_timing(tmp_path):
    nb = tmp_path / "s.ipynb"
    _notebook(nb, "import sys, time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b', flush=True)\n"
                  "sys.stderr.write('e\\n'); sys.stderr.flush()\ntime.sleep(0.3)\nprint('c')")
    assert _run("execute", str(nb)).returncode == 0
    outs = json.loads(nb.read_text())["cells"][0]["outputs"]
    assert [(o["name"], "".join(o["text"])) for o in outs] == [("stdout", "a\nb\n"), ("stderr", "e\n"),
                                                             ("stdout", "c\n")]
