"""Configs, presets, typed overrides, results files and checkpoints (plasticity_sim.runs)."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from plasticity_sim import methods, protocols, runs
from plasticity_sim.protocols import specs
from plasticity_sim.protocols.specs import ChunkedConfig

# ----------------------------------------------------------------------------- presets


def test_presets_exist_and_validate():
    assert set(specs.CHUNKED_PRESETS) == {"tiny", "tiny_cnn", "small", "paper"}
    for name in specs.CHUNKED_PRESETS:
        config = protocols.preset_config(name)
        runs.validate_config(config)
        assert name in specs.CHUNKED_COST


def test_small_preset_is_the_cpu_findings_setting():
    c = protocols.preset_config("small")
    # cpu_warmstart_findings.md: MLP 40-256-256-10, AdamW lr 1e-2 wd 1e-4, batch 128,
    # 10,000 MNIST-1D samples (8,000 train), J = 10, target 0.999
    assert (c.dataset, c.model, c.optimizer) == ("mnist1d", "mlp", "adamw")
    assert c.model_kwargs == {"depth": 3, "width": 256}
    assert (c.lr, c.weight_decay, c.batch_size) == (1e-2, 1e-4, 128)
    assert c.dataset_kwargs == {"num_samples": 10000}
    assert (c.num_chunks, c.target_train_acc) == (10, 0.999)


def test_paper_preset_matches_the_official_standard_setting():
    c = protocols.preset_config("paper")  # papers.md §C.3
    assert (c.dataset, c.model, c.optimizer) == ("cifar10", "resnet18", "sgd")
    assert (c.lr, c.momentum, c.weight_decay, c.batch_size) == (1e-3, 0.9, 0.0, 128)
    assert (c.num_chunks, c.target_train_acc) == (50, 0.999)


def test_preset_copies_are_independent():
    a = protocols.preset_config("tiny")
    a.dataset_kwargs["num_samples"] = 20
    assert protocols.preset_config("tiny").dataset_kwargs != {"num_samples": 20}


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'.*tiny, tiny_cnn, small, paper"):
        protocols.preset_config("huge")


# ----------------------------------------------------------------------------- overrides


def test_overrides_are_typed_by_field():
    base = protocols.preset_config("tiny")
    c = runs.apply_overrides(base, ["lr=0.5", "num_chunks=4", "diagnostics=yes", "progress=False",
                                    "method=dash", "model_kwargs={\"depth\": 2, \"width\": 8}",
                                    "method_params.lam=0.4", "method_params.granularity=row"])
    assert c.lr == 0.5 and isinstance(c.lr, float)
    assert c.num_chunks == 4 and isinstance(c.num_chunks, int)
    assert c.diagnostics is True and c.progress is False
    assert c.method == "dash"
    assert c.model_kwargs == {"depth": 2, "width": 8}
    assert c.method_params == {"lam": 0.4, "granularity": "row"}
    assert base.lr == 1e-2 and base.method_params == {}  # the input is not modified


def test_float_field_accepts_integer_text():
    c = runs.apply_overrides(ChunkedConfig(), ["weight_decay=0"])
    assert c.weight_decay == 0.0


@pytest.mark.parametrize("assignment, fragment", [
    ("lrr=1", "unknown config key 'lrr'"),
    ("lr=abc", "bad value 'abc' for lr"),
    ("lr=nan", "bad value 'nan' for lr"),
    ("num_chunks=1.5", "bad value '1.5' for num_chunks"),
    ("diagnostics=maybe", "bad value 'maybe' for diagnostics"),
    ("model_kwargs=[1, 2]", "bad value '\\[1, 2\\]' for model_kwargs"),
    ("model_kwargs={bad json", "bad value"),
    ("lr.x=1", "'lr' is not a dict field"),
    ("no_equals_sign", "expected key=value"),
    ("method=foo", "unknown method 'foo'"),
    ("dataset=imagenet", "unknown dataset 'imagenet'"),
    ("model=transformer", "unknown model 'transformer'"),
    ("optimizer=lbfgs", "unknown optimizer 'lbfgs'"),
    ("target_train_acc=1.5", "target_train_acc=1.5 must lie in \\(0, 1\\]"),
    ("target_train_acc=0", "target_train_acc=0.0 must lie in \\(0, 1\\]"),
    ("num_chunks=0", "num_chunks=0 must be > 0"),
    ("momentum=1", "momentum=1.0 must lie in \\[0, 1\\)"),
    ("device=tpu", "unknown device 'tpu'"),
])
def test_bad_overrides_fail_loudly(assignment, fragment):
    with pytest.raises(ValueError, match=fragment):
        runs.apply_overrides(ChunkedConfig(), [assignment])


def test_config_from_dict_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ValueError, match="unknown config key"):
        runs.config_from_dict(ChunkedConfig, {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="num_chunks=True has type bool"):
        runs.config_from_dict(ChunkedConfig, {"num_chunks": True})
    with pytest.raises(ValueError, match="lr='0.1' has type str"):
        runs.config_from_dict(ChunkedConfig, {"lr": "0.1"})


def test_config_dict_round_trip():
    c = runs.apply_overrides(protocols.preset_config("paper"), ["seed=3", "method=sp"])
    assert runs.config_from_dict(ChunkedConfig, json.loads(json.dumps(runs.to_dict(c)))) == c


# ----------------------------------------------------------------------------- methods, seeds


def test_method_table_maps_cli_names_to_published_variants():
    # the DASH part's names are all there (other parts add their own entries to the same table)
    assert {"cold", "warm", "warm_reset_opt", "sp", "sp_fresh", "sp_init", "dash", "dash_row", "l2_init",
            "l2_init_kumar", "head_reset", "cbp", "redo", "hare_tortoise"} <= set(methods.trainable())
    assert len(set(methods.trainable())) == len(methods.trainable())
    spec = methods.intervention_spec
    assert spec("sp") == ("shrink_perturb", {"mode": "gaussian"})
    assert spec("sp_fresh") == ("shrink_perturb", {"mode": "fresh_init"})
    assert spec("sp_init") == ("shrink_perturb", {"mode": "toward_init"})
    assert spec("dash") == ("dash", {"granularity": "kernel"})
    assert spec("dash_row", {"lam": 0.5}) == ("dash", {"granularity": "row", "lam": 0.5})
    assert spec("l2_init") == ("l2_init", {"form": "dash"}) and spec("l2_init_kumar")[1] == {"form": "kumar"}
    with pytest.raises(ValueError, match="theory engine"):
        spec("ideal")
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        spec("magic")


def test_seed_streams_are_deterministic_and_distinct():
    a, b = runs.seed_streams(0), runs.seed_streams(1)
    assert a == runs.seed_streams(0)
    assert set(a) == {"init", "chunks", "train", "intervention"}
    assert len(set(a.values())) == 4 and a != b


# ----------------------------------------------------------------------------- results files


def _records(accs, steps):
    return [{"experiment": i + 1, "n_train": 100 * (i + 1), "test_acc": a, "train_acc": 1.0,
             "steps": s, "epochs": s // 10, "wall_time": 0.1} for i, (a, s) in enumerate(zip(accs, steps))]


def test_table1_summary_by_hand():
    s = specs.table1_summary(_records([0.5, 0.6, 0.9], [10, 20, 60]))
    assert s["test_acc_last"] == 0.9 and s["steps_last"] == 60
    assert s["test_acc_avg"] == pytest.approx(2.0 / 3.0)
    assert s["steps_avg"] == pytest.approx(30.0) and s["total_steps"] == 90
    assert s["num_experiments"] == 3
    with pytest.raises(ValueError):
        specs.table1_summary([])


def _results(num_chunks=3):
    config = ChunkedConfig(num_chunks=num_chunks)
    records = _records([0.5, 0.6, 0.9][:num_chunks], [10, 20, 60][:num_chunks])
    return {"format": runs.RESULTS_FORMAT, "protocol": "chunked", "complete": True,
            "config": runs.to_dict(config), "method": {"name": "warm"}, "provenance": {"device": "cpu"},
            "seeds": {"seed": 0}, "experiments": records, "summary": specs.table1_summary(records)}


def test_results_round_trip(tmp_path):
    path = runs.write_json_atomic(tmp_path / "sub" / "r.json", _results())
    assert protocols.load_results(path) == _results()
    assert os.listdir(tmp_path / "sub") == ["r.json"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "r.json"
    runs.write_json_atomic(path, {"old": 1})
    with pytest.raises(ValueError):  # NaN is not JSON
        runs.write_json_atomic(path, {"new": float("nan")})
    with pytest.raises(TypeError):
        runs.write_json_atomic(path, {"new": {1, 2}})
    assert json.loads(path.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["r.json"]


@pytest.mark.parametrize("corrupt, fragment", [
    (lambda r: r.update(format="other/1"), "format"),
    (lambda r: r.pop("summary"), "missing key 'summary'"),
    (lambda r: r["experiments"].pop(), "expected 3 experiment records"),
    (lambda r: r["experiments"][1].pop("steps"), "record 2 is malformed"),
    (lambda r: r["summary"].update(test_acc_last=0.99), "summary does not match"),
    (lambda r: r["config"].update(bogus=1), "unknown config key"),
    (lambda r: r["config"].update(target_train_acc=2.0), "target_train_acc"),
])
def test_load_results_rejects_bad_files(tmp_path, corrupt, fragment):
    results = _results()
    corrupt(results)
    path = runs.write_json_atomic(tmp_path / "r.json", results)
    with pytest.raises(ValueError, match=fragment):
        protocols.load_results(path)


def test_load_results_missing_or_not_json(tmp_path):
    with pytest.raises(FileNotFoundError):
        protocols.load_results(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        protocols.load_results(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- checkpoints, provenance


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    import torch

    g = torch.Generator().manual_seed(5)
    state = {"completed": 2, "model": {"w": torch.arange(6.0).view(2, 3)},
             "generators": {"train": g.get_state()}, "records_json": runs.json_dumps([{"a": 1.5}])}
    path = runs.save_checkpoint(tmp_path / "ck" / runs.CHECKPOINT_NAME, state)
    loaded = runs.load_checkpoint(path)
    assert loaded["completed"] == 2
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert runs.json_loads(loaded["records_json"]) == [{"a": 1.5}]
    g2 = torch.Generator()
    g2.set_state(loaded["generators"]["train"])
    assert torch.equal(torch.rand(4, generator=g2), torch.rand(4, generator=g))
    assert os.listdir(tmp_path / "ck") == [runs.CHECKPOINT_NAME]
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a plasticity_sim.checkpoint"):
        runs.load_checkpoint(tmp_path / "other.pt")


def test_git_commit_tolerates_a_directory_without_git(tmp_path):
    assert runs.git_commit(tmp_path) is None
    here = runs.git_commit()
    assert here is None or len(here.split("+")[0]) == 40


def test_config_cli_and_results_do_not_import_torch():
    code = ("import sys, plasticity_sim.runs, plasticity_sim.cli, plasticity_sim.protocols, "
            "plasticity_sim.methods, plasticity_sim.sweep, plasticity_sim.plotting; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_config_field_has_a_parseable_type():
    import typing

    hints = typing.get_type_hints(ChunkedConfig)
    assert {hints[f.name] for f in dataclasses.fields(ChunkedConfig)} <= {int, float, bool, str, dict}


def test_vocabulary_matches_the_modules():
    # specs keeps its own copy of the names so that it need not import torch; keep them in sync
    from plasticity_sim import data, interventions, models, train

    assert set(specs.DATASETS) == set(data.DATASETS)
    assert set(specs.MODELS) == set(models.MODEL_NAMES)
    assert set(specs.OPTIMIZERS) == set(train.OPTIMIZER_NAMES)
    for name in methods.trainable():
        intervention, params = methods.intervention_spec(name)
        interventions.get_intervention(intervention, **params)  # every table entry builds
        assert methods.build(name).name == intervention


def test_git_commit_is_dirty_only_when_the_package_changed(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "plasticity_sim").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "results").mkdir()
    files = {"plasticity_sim/x.py": "a = 1\n", "pyproject.toml": "[project]\n", "book/c.ipynb": "{}\n",
             "results/r.json": "{}\n", "README.md": "hi\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert runs.git_commit(tmp_path) == sha
    # A modified chapter, results file or README, and a new results file: still the code that was committed.
    for name in ("book/c.ipynb", "results/r.json", "README.md"):
        (tmp_path / name).write_text("changed\n")
    (tmp_path / "results" / "new.json").write_text("{}\n")
    assert runs.git_commit(tmp_path) == sha
    assert runs.git_commit(tmp_path / "book") == sha  # from any folder of the checkout
    # A modified module, a new module, a modified pyproject.toml: the code that ran is not the commit.
    for change in ("plasticity_sim/x.py", "plasticity_sim/new.py", "pyproject.toml"):
        (tmp_path / change).write_text("b = 2\n")
        assert runs.git_commit(tmp_path) == sha + "+dirty", change
        git("checkout", "-q", "--", ".") if change != "plasticity_sim/new.py" else (tmp_path / change).unlink()
        assert runs.git_commit(tmp_path) == sha
