"""The chunked warm-start protocol (plasticity_sim.protocols.chunked) and resumable runs."""

import json
import math
import os

import pytest
import torch

from plasticity_sim import methods, protocols, runs
from plasticity_sim.protocols.specs import ChunkedConfig, table1_summary
from plasticity_sim.protocols import chunked

# 600 MNIST-1D samples -> 480 train / 120 test; 3 chunks of 160; a narrow MLP; few epochs.
TINY = dict(dataset="mnist1d", dataset_kwargs={"num_samples": 600}, model="mlp",
            model_kwargs={"depth": 3, "width": 24}, optimizer="adamw", lr=1e-2, weight_decay=1e-4,
            batch_size=64, num_chunks=3, target_train_acc=0.999, max_epochs=4, seed=0, device="cpu",
            progress=False)


def tiny(**overrides) -> ChunkedConfig:
    return runs.config_from_dict(ChunkedConfig, {**TINY, **overrides})


def numbers(results: dict) -> dict:
    """Everything a run computed, without wall times and provenance (which legitimately differ)."""
    strip = ("wall_time", "intervention_time")
    return {"config": results["config"], "seeds": results["seeds"], "summary": results["summary"],
            "method": results["method"],
            "experiments": [{k: v for k, v in r.items() if k not in strip} for r in results["experiments"]]}


def test_records_follow_the_protocol():
    result = chunked.run_chunked(tiny(method="warm"))
    assert result.complete and len(result.records) == 3
    for j, r in enumerate(result.records, start=1):
        assert r["experiment"] == j
        assert r["n_train"] == 160 * j  # experiment j trains on chunks 1..j
        # the last partial batch is kept: ceil(n / batch) steps per epoch
        assert r["steps"] == r["epochs"] * math.ceil(160 * j / 64)
        assert 1 <= r["epochs"] <= 4
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["train_acc"] <= 1.0
        assert r["reached_target"] == (r["train_acc"] >= 0.999)
    assert table1_summary(result.records) == table1_summary(result.records)
    assert result.seeds["streams"] == runs.seed_streams(0, chunked.STREAMS)
    # adding the augmentation stream left the other streams (and so every earlier result) unchanged
    assert {k: v for k, v in result.seeds["streams"].items() if k != "augment"} == runs.seed_streams(0)


def test_same_seed_same_numbers_and_other_seed_differs():
    a = chunked.run_chunked(tiny(method="sp")).records
    b = chunked.run_chunked(tiny(method="sp")).records
    c = chunked.run_chunked(tiny(method="sp", seed=1)).records
    key = lambda rs: [(r["test_acc"], r["train_acc"], r["steps"]) for r in rs]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_experiment_one_is_the_same_for_every_method():
    firsts = {m: chunked.run_chunked(tiny(method=m, num_chunks=2)).records
              for m in ("cold", "warm", "dash", "sp")}
    one = {m: (r[0]["test_acc"], r[0]["train_acc"], r[0]["steps"]) for m, r in firsts.items()}
    assert len(set(one.values())) == 1, one
    # ... and from experiment 2 on they differ (cold restarts, the others keep what they learned)
    two = {m: r[1]["test_acc"] for m, r in firsts.items()}
    assert two["cold"] != two["warm"]


class Recorder:
    """A stand-in intervention with a regularizer and a step hook, named like no real method."""

    def __init__(self):
        self.calls, self.hook_steps, self.reg_calls = [], 0, 0
        self.step_hooks = (self._hook,)

    def _hook(self, model, optimizer, step):
        self.hook_steps += 1

    def regularizer(self, model):
        self.reg_calls += 1
        return 0.0 * sum(p.sum() for p in model.parameters())

    def __call__(self, model, optimizer, ctx):
        self.calls.append((ctx.experiment, ctx.x_seen.clone(), ctx.y_seen.clone(), ctx.chunk_size))
        return model, optimizer


def test_loop_uses_the_interventions_own_hooks(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(methods, "build", lambda name, params=None: recorder)
    result = chunked.run_chunked(tiny(method="warm"))
    total_steps = sum(r["steps"] for r in result.records)
    assert recorder.hook_steps == total_steps
    assert recorder.reg_calls == total_steps
    # called before every experiment with all data so far, chunk 1 first
    from plasticity_sim.data import load_dataset, random_chunks

    data = load_dataset("mnist1d", num_samples=600)
    chunks = random_chunks(480, 3, torch.Generator().manual_seed(runs.seed_streams(0)["chunks"]))
    assert [c[0] for c in recorder.calls] == [1, 2, 3]
    for j, x_seen, y_seen, chunk_size in recorder.calls:
        idx = torch.cat(chunks[:j])
        assert chunk_size == 160
        assert torch.equal(x_seen, data.x_train[idx]) and torch.equal(y_seen, data.y_train[idx])


@pytest.fixture(scope="module")
def warm_two_chunks():
    return chunked.run_chunked(tiny(method="warm", num_chunks=2, max_epochs=2)).records


@pytest.mark.parametrize("method", [m for m in methods.trainable()
                                    if not methods.get_method(m).only_in or "chunked" in methods.get_method(m).only_in])
def test_every_method_runs_and_shares_experiment_one(method, warm_two_chunks):
    result = chunked.run_chunked(tiny(method=method, num_chunks=2, max_epochs=2))
    assert result.complete and result.intervention["intervention"] == methods.get_method(method).intervention
    if methods.get_method(method).acts == "between":  # "during" methods act from the first step on
        first = lambda r: (r["test_acc"], r["train_acc"], r["steps"])  # noqa: E731
        assert first(result.records[0]) == first(warm_two_chunks[0])


def test_diagnostics_are_recorded_as_json():
    result = chunked.run_chunked(tiny(method="warm", num_chunks=2, max_epochs=2, diagnostics=True,
                                      diagnostics_max_points=100))
    first, second = (r["diagnostics"] for r in result.records)
    json.dumps(first, allow_nan=False)
    assert first["num_samples"] == 100 and second["num_samples"] == 100
    assert {"dormant", "effective_rank", "weight_magnitude", "distance_to_init"} <= set(first)
    # warm keeps training the same weights: they move further from the initial ones
    assert 0 < first["distance_to_init"]["l2"] < second["distance_to_init"]["l2"]
    assert "diagnostics" not in chunked.run_chunked(tiny(method="warm", num_chunks=2, max_epochs=1)).records[0]


def test_chunks_must_divide_the_data_and_nothing_is_written(tmp_path):
    out, ckpt = tmp_path / "r.json", tmp_path / "ck"
    with pytest.raises(ValueError, match="num_chunks=7 does not divide the 480"):
        protocols.run_config(tiny(num_chunks=7), out=out, checkpoint_dir=ckpt)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("method", ["dash", "l2_init", "cold"])
def test_resume_gives_identical_results(tmp_path, method):
    config = tiny(method=method)
    full = protocols.run_config(config, out=tmp_path / "full.json")
    ckpt = tmp_path / "ck"
    partial = protocols.run_config(config, out=tmp_path / "resumed.json", checkpoint_dir=ckpt, stop_after=2)
    assert not partial["complete"] and len(partial["experiments"]) == 2
    assert not (tmp_path / "resumed.json").exists()  # no results file for an unfinished run
    assert runs.load_checkpoint(ckpt / runs.CHECKPOINT_NAME)["completed"] == 2
    resumed = protocols.run_config(config, out=tmp_path / "resumed.json", checkpoint_dir=ckpt, resume=True)
    assert resumed["provenance"]["resumed"] is True
    assert numbers(resumed) == numbers(full)
    assert numbers(protocols.load_results(tmp_path / "resumed.json")) == numbers(protocols.load_results(tmp_path / "full.json"))


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    protocols.run_config(tiny(method="warm"), checkpoint_dir=tmp_path, stop_after=1)
    with pytest.raises(ValueError, match=r"different config \(fields \['method'\]\)"):
        protocols.run_config(tiny(method="cold"), checkpoint_dir=tmp_path, resume=True)


def test_augmentation_control_changes_inputs_not_batches(monkeypatch):
    """augment_pad shifts every training batch with its own generator stream: the batch order and
    initial model stay those of the run without augmentation, and a shift of 0 is no augmentation."""
    seen = {}
    real = chunked.train_until

    def spy(model, x, y, **kw):
        seen.setdefault(kw["augment"] is not None, []).append(kw["generator"].get_state().clone())
        return real(model, x, y, **kw)

    monkeypatch.setattr(chunked, "train_until", spy)
    plain = chunked.run_chunked(tiny(method="warm", num_chunks=2)).records
    shifted = chunked.run_chunked(tiny(method="warm", num_chunks=2, augment_pad=3)).records
    # same batch-order generator state entering each experiment's training...
    assert [torch.equal(a, b) for a, b in zip(seen[False], seen[True])] == [True, True]
    # ...but the model saw shifted inputs, so the numbers differ
    assert [(r["test_acc"], r["steps"]) for r in plain] != [(r["test_acc"], r["steps"]) for r in shifted]
    assert chunked._augmenter(tiny(), torch.Generator()) is None
    batch = torch.arange(12.0).reshape(2, 1, 6)
    out = chunked._augmenter(tiny(augment_pad=2), torch.Generator().manual_seed(0))(batch, None)
    assert out.shape == batch.shape and not torch.equal(out, batch)
    with pytest.raises(ValueError, match="augment_pad"):
        chunked.check(tiny(augment_pad=-1))
