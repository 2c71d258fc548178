"""Back-links that cannot lie: an "Explained in: <chapter>" line names a chapter of the book whose
source (code or text) mentions the documented function, class or module by name."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"Explained in:\s*(book/[\w/.-]+?)(\.ipynb|\.md)?(?=[\s\"'(),]|$)")


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    for part in toc.get("parts", []):
        files |= {c["file"] for c in part.get("chapters", [])}
    return files


def _source(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    return path.read_text()


def _links():
    for py in sorted((ROOT / "plasticity_sim").rglob("*.py")):
        tree = ast.parse(py.read_text())
        module = py.parent.name if py.name == "__init__.py" else py.stem
        nodes = [(module, tree)] + [(n.name, n) for n in ast.walk(tree)
                                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for name, node in nodes:
            for m in LINK.finditer(ast.get_docstring(node, clean=False) or ""):
                yield py.relative_to(ROOT), name, m.group(1), m.group(2)


def test_every_back_link_names_a_chapter_that_uses_the_name():
    toc = _toc_files()
    links = list(_links())
    assert links, "no back-links found: the pattern or the package moved"
    bad = []
    for py, name, chapter, suffix in links:
        path = next((ROOT / f"{chapter}{s}" for s in ((suffix,) if suffix else (".ipynb", ".md"))
                     if (ROOT / f"{chapter}{s}").is_file()), None)
        if chapter not in toc or path is None:
            bad.append(f"{py}: {name} -> {chapter} (not a chapter in _toc.yml)")
        elif not re.search(rf"\b{re.escape(name)}\b", _source(path)):
            bad.append(f"{py}: {name} -> {chapter} (the chapter never mentions {name!r})")
    assert not bad, "back-links that lie:\n" + "\n".join(bad)


def test_the_check_can_fail(tmp_path):
    # a link to a chapter that does not mention the name is caught by the same pattern and search
    doc = '"""Does things.\n\nExplained in: book/dash/01_dash_rule.ipynb\n"""'
    m = LINK.search(doc)
    assert m and m.group(1) == "book/dash/01_dash_rule"
    text = _source(ROOT / "book/dash/01_dash_rule.ipynb")
    assert not re.search(r"\bno_such_function_anywhere\b", text)
