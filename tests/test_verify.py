"""`python -m plasticity_sim verify`: re-runs results files and says identical / differs / not re-runnable."""
import json
import subprocess
import sys

import pytest

from plasticity_sim import protocols, runs, verify
from plasticity_sim.continual import remedies as ks


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "plasticity_sim", "verify", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny permuted run and a two-run keeping file, written by the code under test."""
    folder = tmp_path_factory.mktemp("made")
    cfg = protocols.preset_config("tiny", protocol="permuted", method="warm", seed=3, num_tasks=2,
                                  samples_per_task=60, probe_points=10)
    protocols.run_config(cfg, out=folder / "a" / "run.json")
    ks.run_study("permuted", folder / "b", seeds=(0,), arms=["bp", "clip"], num_tasks=2, samples_per_task=40,
                 probe_points=10)
    return folder


def test_a_fresh_file_is_identical_and_its_arithmetic_is_expected_to_match(made):
    report = verify.verify_file(made / "a" / "run.json")
    assert report.verdict == "identical", report.line()
    assert report.identity_expected is True and "bit-identity expected" in report.arithmetic
    assert report.values_compared > 10 and report.runs == 1


def test_a_changed_number_is_named_with_its_difference(made, tmp_path):
    data = json.loads((made / "a" / "run.json").read_text())
    data["records"][1]["online_acc"] += 0.25
    data["summary"] = protocols.get("permuted").summarize(data["records"])   # still loads
    path = tmp_path / "changed.json"
    runs.write_json_atomic(path, data)
    report = verify.verify_file(path)
    assert report.verdict == "differs"
    assert report.record_diffs == 1
    (name, recorded, rerun), = report.summary_diffs
    assert "mean_online_acc" in name or "online_acc" in name
    assert recorded - rerun == pytest.approx(0.125)       # mean over the two tasks moved by 0.25 / 2
    assert "summary field" in report.line() and "-0.125" in report.line()
    out = _cli(path)
    assert out.returncode == 1 and "differs" in out.stdout, out.stderr


def test_keeping_files_rerun_each_arm_and_seed(made, tmp_path):
    path = made / "b" / "keeping_permuted.json"
    report = verify.verify_file(path)
    assert report.verdict == "identical" and report.runs == 2, report.line()
    data = json.loads(path.read_text())
    data["arms"]["clip"]["runs"]["0"]["columns"]["online_acc"][0] += 0.5
    changed = tmp_path / "keeping_permuted.json"
    runs.write_json_atomic(changed, data)
    one = verify.verify_file(changed, one_run=True)
    assert one.runs == 1
    report = verify.verify_file(changed)
    assert report.verdict == "differs" and report.record_diffs == 1
    assert report.summary_diffs[0][0] == "clip seed 0 mean online_acc"


def test_cheapest_picks_one_file_per_folder_by_recorded_wall_time(made, tmp_path):
    for name, wall in (("slow.json", 50.0), ("fast.json", 2.0)):
        data = json.loads((made / "a" / "run.json").read_text())
        data["provenance"]["wall_time_s"] = wall
        runs.write_json_atomic(tmp_path / "f" / name, data)
    runs.write_json_atomic(tmp_path / "g" / "frames.json", {"format": verify.FRAMES_FORMAT, "frames": []})
    files = verify.collect([tmp_path])
    assert [f.name for f in verify.cheapest(files)] == ["fast.json", "frames.json"]
    report = verify.verify_file(tmp_path / "g" / "frames.json")
    assert report.verdict == "not re-runnable by verify" and "continual/frames" in report.reason


def test_arithmetic_comparison_names_what_differs():
    facts = {"machine": "x86_64", "cpu_model": "A", "torch": "2.13.0", "aten_cpu_capability": "AVX2",
             "num_threads": 1, "blas": "mkl", "env": {"MKL_CBWR": "AVX2"}}
    assert verify.compare_arithmetic(facts, dict(facts), "cpu", "cpu")[0] is True
    ok, why = verify.compare_arithmetic(facts, dict(facts, aten_cpu_capability="AVX512", num_threads=2), "cpu", "cpu")
    assert ok is False and "aten_cpu_capability 'AVX512' here vs 'AVX2'" in why and "num_threads" in why
    ok, why = verify.compare_arithmetic(facts, dict(facts, env={}), "cpu", "cpu")
    assert ok is False and "MKL_CBWR" in why
    assert verify.compare_arithmetic(None, facts, "cpu", "cpu")[0] is None
    assert verify.compare_arithmetic(facts, facts, "cuda", "cpu")[0] is False


@pytest.mark.parametrize("args, message", [
    (["no/such/file.json"], "no such file or folder"),
    (["README.md"], "not valid JSON"),
    (["pyproject.toml"], "not valid JSON"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = _cli(*args, cwd=runs.RESULTS_ROOT.parent)
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stdout == ""


def test_a_json_file_of_another_kind_is_bad_input(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "something/1"}')
    (tmp_path / "ok").mkdir()
    out = _cli(tmp_path)
    assert out.returncode == 2 and "x.json: format 'something/1' is not a results file" in out.stderr
    out = _cli(tmp_path / "ok")
    assert out.returncode == 2 and "no .json results files" in out.stderr
