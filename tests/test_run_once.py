"""One run validates its config once and prepares its data and intervention once: the pre-run check
and the run share what was prepared (issue #21). Counted by wrapping the functions that do the work."""

from __future__ import annotations

import collections
import functools

import pytest

import plasticity_sim.data as data
from plasticity_sim import cli, devices, protocols, runs
from plasticity_sim.protocols import chunked


@pytest.fixture
def calls(monkeypatch):
    counts = collections.Counter()

    def counted(key, f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return f(*args, **kwargs)
        return wrapper

    # validate_config is called through the module (runs.config_from_dict and ensure_valid look it up there)
    monkeypatch.setattr(runs, "validate_config", counted("validate", runs.validate_config))
    monkeypatch.setattr(chunked, "prepare", counted("prepare", chunked.prepare))
    monkeypatch.setattr(devices, "check_device_name", counted("device", devices.check_device_name))
    for name, loader in list(data.DATASETS.items()):  # what load_dataset dispatches to: the real loading
        monkeypatch.setitem(data.DATASETS, name, counted("load", loader))
    return counts


def test_cli_run_chunked_validates_and_prepares_once(calls, tmp_path):
    out = tmp_path / "r.json"
    rc = cli.main(["run", "chunked", "--preset", "tiny", "--method", "dash", "--seed", "0", "--quiet",
                   "--set", "max_epochs=1", "--set", "num_chunks=2", "--set", "dataset_kwargs.num_samples=500",
                   "--out", str(out)])
    assert rc == 0 and out.is_file()
    assert calls["validate"] == 1, calls
    assert calls["prepare"] == 1 and calls["load"] == 1, calls
    # one resolver: the config's check and the run's resolve both go through devices' one name check
    assert calls["device"] >= 1


@pytest.mark.parametrize("protocol, overrides", [
    ("growing_data", {}),
    ("permuted", {"num_tasks": 1, "samples_per_task": 100, "probe_points": 20}),
])
def test_run_config_loads_data_once(calls, protocol, overrides):
    config = protocols.preset_config("tiny", protocol=protocol, **overrides)
    calls.clear()
    protocols.run_config(config)
    assert calls["validate"] == 0, calls      # validated when built, not again by the run's steps
    assert calls["load"] == 1, calls


def test_a_config_changed_after_validation_is_validated_again(calls):
    config = protocols.preset_config("tiny", protocol="chunked")
    runs.ensure_valid(config)
    assert calls["validate"] == 1             # built: validated; ensure_valid: nothing changed
    config.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        protocols.run_config(config)
    config.lr = 0.1
    config.method_params["lam"] = float("nan")  # an edit inside a dict field counts as a change
    with pytest.raises(ValueError, match="not a finite number"):
        runs.ensure_valid(config)
