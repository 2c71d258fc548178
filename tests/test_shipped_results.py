"""Shipped results are made by the code on main (issue 22).

Every results file under ``results/`` records a clean commit (``+dirty`` means the code that ran was
modified: :func:`plasticity_sim.runs.git_commit`) and no absolute path of the producing machine. For
every results folder, the cheapest file is re-run through :mod:`plasticity_sim.verify` and must come out
identical wherever this machine's arithmetic matches the producing machine's; elsewhere the test is
skipped and says why. Files holding several runs (``keeping_*.json``) have their cheapest run re-run,
in full. To keep the whole test near one minute of one core, folders are taken cheapest first while
their recorded wall times plus a process start-up each stay within ``BUDGET_S``, and none whose
cheapest run takes more than ``MAX_RERUN_S``; the others are skipped with the command that verifies
them, and ``test_costly_folders_are_listed`` prints that list.
"""
import json
import os
from pathlib import Path

import pytest

from plasticity_sim import runs, verify

ROOT = runs.RESULTS_ROOT
FILES = sorted(ROOT.rglob("*.json"))
FOLDERS = sorted({f.parent for f in FILES})
MAX_RERUN_S = 20.0     # recorded wall time of one re-run
BUDGET_S = 60.0        # all re-runs together, each with STARTUP_S
STARTUP_S = 5.0        # a fresh process: torch import, data (measured ~4-6 s on one core)


# Folders known not to be made by the code on main, each with why and the command that regenerates it.
# A listed folder's files are expected to fail the provenance test (strict xfail: once regenerated, the
# test fails until the entry is removed).
KNOWN_STALE: dict[str, str] = {}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT.parent))


def _argv_paths(argv) -> list[str]:
    tokens = [t for a in argv for t in str(a).replace("=", " ").split()]
    return [t for t in tokens if os.path.isabs(t) or t.startswith("~")]


def test_results_exist():
    assert len(FILES) > 100 and len(FOLDERS) >= 10


def _stale(path: Path):
    reason = KNOWN_STALE.get(str(path.parent.relative_to(ROOT.parent)))
    return [pytest.mark.xfail(reason=reason, strict=True)] if reason else []


@pytest.mark.parametrize("path", [pytest.param(f, marks=_stale(f)) for f in FILES], ids=_rel)
def test_every_shipped_file_records_a_clean_commit_and_no_absolute_path(path):
    prov = json.loads(path.read_text()).get("provenance") or {}
    commit = prov.get("git_commit")
    assert commit and len(commit.split("+")[0]) == 40, f"{_rel(path)}: no git commit recorded"
    assert not commit.endswith("+dirty"), f"{_rel(path)}: made by modified code ({commit}); regenerate it"
    assert not _argv_paths(prov.get("argv") or []), f"{_rel(path)}: argv holds an absolute path {prov['argv']}"


def _cheapest(folder: Path) -> Path:
    return verify.cheapest(sorted(folder.glob("*.json")))[0]


def _cost(path: Path) -> float:
    """The recorded wall time of the file's cheapest run (0 for a file verify cannot re-run)."""
    found = verify.units(verify.read(path))
    return 0.0 if isinstance(found, str) else min(u.cost_s for u in found)


def _plan() -> tuple[set, list]:
    """(folders re-run here, [(cheapest file, its cost)] of the others), cheapest folders first."""
    costs = sorted((_cost(_cheapest(f)), str(f)) for f in FOLDERS)
    chosen, spent, costly = set(), 0.0, []
    for cost, folder in costs:
        if cost <= MAX_RERUN_S and spent + cost + STARTUP_S <= BUDGET_S:
            chosen.add(folder)
            spent += cost + STARTUP_S
        else:
            costly.append((_rel(_cheapest(Path(folder))), cost))
    return chosen, costly


CHOSEN, COSTLY = _plan()


@pytest.mark.parametrize("folder", FOLDERS, ids=_rel)
def test_the_cheapest_file_of_each_folder_reproduces(folder):
    path = _cheapest(folder)
    cost = _cost(path)
    if str(folder) not in CHOSEN:
        pytest.skip(f"outside the unit tests' re-run budget ({cost:.0f} s recorded): "
                    f"verify it with `python -m plasticity_sim verify {_rel(path)}`")
    if _stale(path):
        pytest.skip(f"{_rel(folder)} is known not to be made by the code on main: {KNOWN_STALE[_rel(folder)]}")
    report = verify.verify_file(path, one_run=True)
    if report.verdict == "not re-runnable by verify":
        pytest.skip(f"{_rel(path)}: {report.reason}")
    if report.identity_expected is not True:
        pytest.skip(f"{_rel(path)}: {report.arithmetic}")
    assert report.verdict == "identical", report.line()


def test_costly_folders_are_listed(capsys):
    with capsys.disabled():
        print("\noutside the unit tests' re-run budget: verify them with `python -m plasticity_sim verify PATH`")
        for path, cost in COSTLY:
            print(f"  {path} ({cost:.0f} s recorded)")
    # the command printed for each must work: every one of them is a file verify can re-run
    assert all(not isinstance(verify.units(verify.read(ROOT.parent / path)), str) for path, _ in COSTLY)
