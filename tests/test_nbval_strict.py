"""Strict nbval really compares the stored outputs: a tampered number makes it fail.

Runs nbval in a subprocess on a copy of the headline chapter (no torch, a few seconds), once as
committed (must pass) and once with one printed number changed in the stored output (must fail).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "00_headline_results.ipynb"


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval",
         "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
         "--rootdir", str(path.parent), str(path)],
        cwd=path.parent, capture_output=True, text=True)


def test_tampered_output_fails_strict_nbval(tmp_path):
    good = tmp_path / "chapter.ipynb"
    shutil.copy(CHAPTER, good)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = _nbval(good)
    assert proc.returncode == 0, proc.stdout[-3000:]

    doc = json.loads(good.read_text())
    tampered = False
    for cell in doc["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", []))
            if "25.69 (0.13)" in text:  # Tiny-ImageNet, Random Init, SGD accuracy as printed
                out["text"] = text.replace("25.69 (0.13)", "25.70 (0.13)")
                tampered = True
    assert tampered, "the number to tamper with is no longer printed; update this test"
    bad = tmp_path / "tampered.ipynb"
    bad.write_text(json.dumps(doc))
    good.unlink()
    proc = _nbval(bad)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "25.70" in proc.stdout and "mismatch" in proc.stdout.lower()
