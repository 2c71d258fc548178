"""The two ways readers run the chapters live, checked offline (issue #15).

* **Binder** builds from ``binder/requirements.txt`` and then ``pip install --no-deps -e .``
  (``binder/postBuild``): those pins must resolve together with the package's own dependencies, and
  provide every module a chapter's first cell imports. Checked with ``pip install --dry-run`` against
  the configured package index only (the pytorch.org index line is dropped: CI reaches no other
  network; the pinned CPU wheel comes from the package index's wheel folder).
* **Colab** runs the hidden first cell of each chapter, ``%pip install -q "plasticity_sim[EXTRAS] @
  git+https://github.com/..."``: every extra named there must exist, and the same spec, pointed at this
  checkout, must install into a clean virtual environment (no network: ``--no-deps
  --no-build-isolation``, then a dry-run resolution of the full dependency set).

The package sources are copied to a temporary folder first, so no build files land in the checkout.
Cost: about 40-60 s on 2 cores (two pip resolutions over the local index).
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import nbformat
import pytest

from tools.book import toc_notebooks

ROOT = Path(__file__).resolve().parent.parent
INSTALL_LINE = re.compile(r'%pip install -q "plasticity_sim\[([^\]]*)\] @ '
                          r'git\+https://github\.com/plasticity-book/plasticity-book"')
# import name -> distribution name, where they differ
DISTRIBUTION = {"IPython": "ipython", "myst_nb": "myst-nb", "sklearn": "scikit-learn", "PIL": "pillow",
                "plasticity_sim": "plasticity_sim"}


def _first_cells():
    for path in toc_notebooks(ROOT):
        yield path, nbformat.read(path, as_version=4).cells[0].source


def _imports(source: str) -> set[str]:
    """Top-level modules imported by a cell (IPython magics dropped)."""
    code = "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith("%") else line
                     for line in source.splitlines())
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("pkg")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "plasticity_sim", dest / "plasticity_sim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _dry_run(pip: list[str], args: list[str], report: Path) -> set[str]:
    proc = subprocess.run([*pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                           *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"pip could not resolve {args}:\n{proc.stderr[-3000:]}"
    return {x["metadata"]["name"].lower().replace("_", "-") for x in json.loads(report.read_text())["install"]}


def test_every_chapter_has_the_colab_install_line_with_existing_extras():
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for path, source in _first_cells():
        m = INSTALL_LINE.search(source)
        assert m, f"{path.name}: first cell lacks the Colab install line"
        named = {e.strip() for e in m.group(1).split(",") if e.strip()}
        assert named and named <= extras, f"{path.name}: extras {sorted(named - extras)} do not exist ({sorted(extras)})"


def test_binder_requirements_resolve_with_the_package_and_cover_the_chapters(package_copy, tmp_path):
    lines = [line for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "--"))]
    req = tmp_path / "binder-requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    names = _dry_run([sys.executable, "-m", "pip"], ["-r", str(req), str(package_copy)], tmp_path / "report.json")
    missing = {}
    for path, source in _first_cells():
        need = {DISTRIBUTION.get(m, m).lower().replace("_", "-") for m in _imports(source)}
        if need - names:
            missing[path.name] = sorted(need - names)
    assert not missing, f"Binder's environment lacks what chapters import: {missing}"


def test_colab_spec_installs_from_this_checkout_into_a_clean_venv(package_copy, tmp_path):
    specs = {INSTALL_LINE.search(source).group(1) for _, source in _first_cells()}
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    # a build backend for --no-build-isolation: the venv's bundled setuptools is too old for pyproject.toml
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "setuptools>=77"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for extras in sorted(specs):
        spec = f"plasticity_sim[{extras}] @ {package_copy.as_uri()}"
        proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                               "--no-index", spec], capture_output=True, text=True)
        assert proc.returncode == 0, f"{spec!r} did not install into a clean venv:\n{proc.stderr[-3000:]}"
        names = _dry_run([str(py), "-m", "pip"], [spec], tmp_path / "colab.json")
        wanted = {r.split(">")[0].split("<")[0].split("=")[0].strip().lower()
                  for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][extras.split(",")[0]]}
        assert wanted <= names, f"{spec!r}: the extra's packages {sorted(wanted - names)} would not be installed"
    meta = subprocess.run([str(py), "-c", "import importlib.metadata as m; d = m.distribution('plasticity_sim');"
                           "print(d.version); print(sorted(set(d.metadata.get_all('Provides-Extra'))))"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert meta.returncode == 0 and "0.1.0" in meta.stdout and "data" in meta.stdout, meta.stdout + meta.stderr
