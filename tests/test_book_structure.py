"""The book's notebooks are all in the table of contents and committed executed, in order.

nbval silently accepts a notebook whose cells were never executed (nothing to compare), so this test
is what makes strict nbval mean something.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tools.book import toc_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 1


def test_every_notebook_is_in_the_toc():
    in_toc = {p.resolve() for p in toc_notebooks(ROOT)}
    missing = [str(p.relative_to(ROOT)) for p in NOTEBOOKS if p.resolve() not in in_toc]
    assert not missing, f"notebooks not listed in _toc.yml: {missing}"


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    missing = [f for f in files if not any((ROOT / (f + ext)).exists() for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists missing files: {missing}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_executed_in_order(nb):
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{nb.name}: execution counts {counts}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_no_timing_metadata_or_errors(nb):
    doc = json.loads(nb.read_text())
    for i, c in enumerate(doc["cells"]):
        assert "execution" not in c.get("metadata", {}), f"{nb.name} cell {i}: timing metadata"
        for out in c.get("outputs", []):
            assert out.get("output_type") != "error", f"{nb.name} cell {i} stored an error"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_widget_cells_are_tagged(nb):
    """A cell that displays a widget must be tagged nbval-ignore-output (its reprs are not stable)."""
    for i, c in enumerate(json.loads(nb.read_text())["cells"]):
        has_widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                         for o in c.get("outputs", []))
        tags = c.get("metadata", {}).get("tags", [])
        if has_widget and "tqdm" not in json.dumps(c.get("outputs")):
            assert "nbval-ignore-output" in tags, f"{nb.name} cell {i} shows a widget but is not tagged"
