"""The package's layout rules, checked by reading its source (ast): no import circles, no module
over 450 lines, no private name imported across modules, and the shared engine never imports a
book part (dash, hare_tortoise, continual, theory)."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "plasticity_sim"
PARTS = ("dash", "hare_tortoise", "continual", "theory", "guide")
ENGINE = ("data", "models", "train", "interventions", "protocols", "methods", "runs", "stats", "sweep",
          "diagnostics", "plotting", "widgets", "controls", "checks", "arithmetic", "atomic", "published",
          "registry", "frequencies", "ground_truth", "tables")
MAX_LINES = 450
# Edges that other work of issue #21 removes (the one study runner moves the CLI's study command;
# the helper work breaks dash.report <-> dash.studies); allowed here only until that lands.
# removed by the runner / helper work
ALLOWED_EDGES: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str):
    """(imported module, imported names, line) for every import of ``name``, at any depth (module
    level and inside functions alike), relative imports resolved; only plasticity_sim modules."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("plasticity_sim"):
                    yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("plasticity_sim"):
                continue
            names = tuple(a.name for a in node.names)
            yield target, names, node.lineno
            for n in names:  # `from plasticity_sim import runs` imports the module plasticity_sim.runs
                if f"{target}.{n}" in MODULES:
                    yield f"{target}.{n}", (), node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _ in _imports(m):
            if target in MODULES and target != m:
                graph[m].add(target)
    return graph


def _edge_ok(a: str, b: str) -> bool:
    # A package importing its own submodules (re-exports) is how a package is built, not a circle
    # through code: `x/__init__` -> `x.y` is dropped; `x.y` -> `x` (its package) stays an edge.
    return (a, b) not in ALLOWED_EDGES and not (_is_package(a) and b.startswith(a + "."))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        colour[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if not _edge_ok(m, n):
                continue
            if colour.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in colour:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if m not in colour:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = _graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    used = sorted(f"{a} -> {b}" for a, b in ALLOWED_EDGES if b in graph.get(a, ()))
    if used:  # reported, not failed, until the work that removes them lands
        warnings.warn("import edges allowed only for now (each closes a circle): " + "; ".join(used))


def test_find_cycle_sees_a_circle():
    # the detector itself can fail: a -> b -> c -> a is found, a tree is not
    saved = dict(MODULES)
    try:
        MODULES.update({k: ROOT / "checks.py" for k in ("a", "b", "c")})
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    finally:
        MODULES.clear()
        MODULES.update(saved)


def test_allowed_edges_still_exist():
    # the allow-list names only edges that are really there (delete an entry once its edge is gone)
    graph = _graph()
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED_EDGES if b not in graph.get(a, ()))
    assert not stale, f"allow-listed import edges no longer exist, remove them: {stale}"


def test_no_module_over_450_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_imports_across_modules():
    bad = [f"{MODULES[m].relative_to(ROOT.parent)}:{line}: from {target} import {n}"
           for m in MODULES for target, names, line in _imports(m)
           for n in names if n.startswith("_") and not n.startswith("__") and target != m]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


@pytest.mark.parametrize("root", ENGINE)
def test_engine_never_imports_a_part(root):
    mods = [m for m in MODULES if m == f"plasticity_sim.{root}" or m.startswith(f"plasticity_sim.{root}.")]
    assert mods, f"no engine module {root}"
    bad = [f"{m} imports {target} (line {line})" for m in mods for target, _, line in _imports(m)
           if target.split(".")[1:2] and target.split(".")[1] in PARTS]
    assert not bad, "the engine imports a book part:\n" + "\n".join(bad)
