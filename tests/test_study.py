"""The one study runner (plasticity_sim.study): every shipped folder covered, one way to run a study."""
import json
from pathlib import Path

import pytest

from plasticity_sim import cli, runs, sweep
from plasticity_sim import study as runner

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_results_file_belongs_to_exactly_one_study():
    owned: dict[Path, str] = {}
    for s in runner.registry().values():
        for f in runner.shipped_files(s):
            assert f not in owned, f"{f} claimed by {owned.get(f)} and {s.name}"
            owned[f] = s.name
    shipped = set(runs.results_dir().rglob("*.json"))
    assert shipped, "no shipped results found"
    assert shipped == set(owned), f"files no study makes: {sorted(map(str, shipped - set(owned)))[:5]}"


def test_studies_are_named_by_their_part_and_their_chapters_exist():
    studies = runner.registry()
    assert {name.split("/")[0] for name in studies} == set(runner.PART_MODULES)
    for s in studies.values():
        assert s.chapters, s.name
        for ch in s.chapters:
            assert list((ROOT / "book").glob(f"{ch}_*.ipynb")), f"{s.name}: no chapter {ch}"


def test_listing_names_every_study_with_its_measured_cost(capsys):
    assert cli.main(["study"]) == 0
    out = capsys.readouterr().out
    for name, s in runner.registry().items():
        n, seconds = runner.measured_cost(s)
        assert f"{name} " in out and f"{n} shipped files, {seconds / 60:.1f} min" in out


def test_list_prints_only_jobs_still_to_run(capsys, tmp_path):
    # the shipped folder is complete: nothing to run, and the count of what is done goes to stderr
    assert cli.main(["study", "hare_tortoise/table7", "--list"]) == 0
    out, err = capsys.readouterr()
    n = len(runner.jobs(runner.select("hare_tortoise/table7")[0]))
    assert n == 35 + 40                          # our cell's 7 methods, and the paper's cell's 8, x 5 seeds
    assert out.strip() == "" and f"{n} job(s) already done" in err
    # an empty folder: one self-contained `run` command per job
    assert cli.main(["study", "hare_tortoise/table7", "--list", "--out-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == n and all(l.startswith("python -m plasticity_sim run noisy_warm_start --preset compare")
                                   for l in lines)
    # with --overwrite every job is listed, and each command carries it
    assert cli.main(["study", "hare_tortoise/table7", "--list", "--overwrite"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == n and all(l.endswith("--overwrite") for l in lines)


def test_call_jobs_are_listed_as_study_job_commands(capsys, tmp_path):
    assert cli.main(["study", "continual", "--list", "--overwrite"]) == 0
    lines = capsys.readouterr().out.splitlines()
    calls = [j for s in runner.select("continual") for j in runner.jobs(s, overwrite=True)]
    assert len(lines) == len(calls) == 10
    assert lines[0].startswith("python -m plasticity_sim study continual/permuted --job 0 --seeds 0,1,2,3,4")


@pytest.mark.parametrize("argv, message", [
    (["study", "nope"], "unknown study 'nope'"),
    (["study", "dash", "--out-dir", "x"], "--out-dir needs one study"),
    (["study", "dash/main", "--workers", "0"], "--workers 0 must be >= 1"),
    (["study", "dash/main", "--seeds", "1,-1"], "-1 is negative"),
    (["study", "continual/adam", "--job", "3"], "--job 3 is not a job of 'continual/adam'"),
])
def test_bad_study_command_lines_are_one_line_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_help_is_the_runners_own(capsys):
    assert cli.main(["study", "--help"]) == 0
    assert "--workers" in capsys.readouterr().out


# A tiny study of our own, so that the runner's run path (check, skip, overwrite) is tested in seconds.
def fake_target(out, *, seeds, overwrite=False, check_only=False, value=1):
    runs.check_output(out, overwrite=overwrite, what="results file")
    if value < 0:
        raise ValueError(f"value {value} must be >= 0")
    if not check_only:
        runs.write_json_atomic(out, {"seeds": list(seeds), "value": value})
    return str(out)


@pytest.fixture
def fake_study(monkeypatch):
    s = sweep.Study("dash/fake", "fake", (sweep.Call("test_study:fake_target", "a.json", {"value": 2}),
                                          sweep.Call("test_study:fake_target", "b.json", {"value": -1})),
                    seeds=(0, 1), chapters=("dash/02",))
    monkeypatch.setattr(runner, "registry", lambda: {s.name: s})
    return s


def test_every_job_is_checked_before_any_runs(fake_study, tmp_path, capsys):
    assert cli.main(["study", "dash/fake", "--out-dir", str(tmp_path), "--workers", "1"]) == 2
    assert "value -1 must be >= 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())   # job 0 was fine, but nothing ran


def test_existing_files_are_kept_unless_overwrite(fake_study, tmp_path, capsys):
    assert cli.main(["study", "dash/fake", "--job", "0", "--out-dir", str(tmp_path), "--quiet"]) == 0
    assert json.loads((tmp_path / "a.json").read_text()) == {"seeds": [0, 1], "value": 2}
    (tmp_path / "a.json").write_text('{"mine": true}')
    assert cli.main(["study", "dash/fake", "--job", "0", "--out-dir", str(tmp_path), "--quiet",
                     "--seeds", "5"]) == 0
    assert json.loads((tmp_path / "a.json").read_text()) == {"mine": True}   # kept
    assert cli.main(["study", "dash/fake", "--job", "0", "--out-dir", str(tmp_path), "--quiet",
                     "--seeds", "5", "--overwrite"]) == 0
    assert json.loads((tmp_path / "a.json").read_text()) == {"seeds": [5], "value": 2}


def test_a_file_shared_by_two_sweeps_of_a_study_is_counted_once():
    t7 = runner.registry()["hare_tortoise/table7"]
    files = runner.shipped_files(t7)
    assert len(files) == len(set(files))
    assert sum(1 for p in t7.parts if getattr(p, "sub", None) == "") >= 2   # the case this guards
