"""The shipped studies of book/dash/03 and 04 (plasticity_sim.dash.mechanism): written, loaded, checked,
and the paired tables and primary comparisons, on tiny runs."""
import json
import math

import pytest

from plasticity_sim import stats
from plasticity_sim.dash import mechanism as mech


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(mech, "PRETRAIN", {"dataset_kwargs": {"num_samples": 600}, "pretrain_epochs": (0, 2, 4),
                                  "methods": ("warm", "dash"), "max_epochs": 5})
    mp.setattr(mech, "SUBSETS", {"sizes": (40, 80, 160), "dataset_kwargs": {"num_samples": 600}, "max_epochs": 5})
    mp.setattr(mech, "WHOLE_SIZES", (40, 160))
    out = tmp_path_factory.mktemp("mech")
    try:
        pre = mech.pretrain_file(out / mech.PRETRAIN_FILE, seeds=(0, 1, 2))
        cos = mech.cosine_file(out / mech.COSINE_FILE, seeds=(0, 1, 2))
    finally:
        mp.undo()
    return out, pre, cos


def test_studies_are_declared_with_their_chapters():
    from plasticity_sim import study as runner

    reg = runner.registry()
    assert reg["dash/pretrain_sweep"].chapters == ("dash/03",) and reg["dash/pretrain_sweep"].seeds == mech.SEEDS
    assert reg["dash/subset_cosines"].chapters == ("dash/04",) and reg["dash/subset_cosines"].folder == "dash_cosine"


def test_jobs_check_name_and_existing_file_before_training(tmp_path):
    with pytest.raises(ValueError, match="pretrain_sweep.json"):
        mech.pretrain_file(tmp_path / "other.json", seeds=(0,), check_only=True)
    with pytest.raises(ValueError, match="subset_cosines.json"):
        mech.cosine_file(tmp_path / "other.json", seeds=(0,), check_only=True)
    (tmp_path / mech.COSINE_FILE).write_text("{}")
    with pytest.raises(Exception, match="exists|overwrite"):
        mech.cosine_file(tmp_path / mech.COSINE_FILE, seeds=(0,), check_only=True)
    assert mech.pretrain_file(tmp_path / mech.PRETRAIN_FILE, seeds=(0,), check_only=True).endswith(mech.PRETRAIN_FILE)
    assert not (tmp_path / mech.PRETRAIN_FILE).exists()


def test_shipped_configs_are_the_chapters_settings():
    cfg = mech.pretrain_config()
    assert cfg.seeds == (0, 1, 2, 3, 4) and cfg.pretrain_epochs == (0, 5, 10, 20, 40, 80)
    assert cfg.dataset_kwargs == {"num_samples": 6000} and cfg.methods == ("warm", "dash")
    sub = mech.subset_config()
    assert sub.seeds == (0, 1, 2, 3, 4) and sub.sizes == (250, 500, 1000, 2000, 4000)


def test_pretrain_file_loads_as_a_live_result_and_pairs_by_seed(files):
    out, pre, _ = files
    data = json.loads(open(pre).read())
    assert data["provenance"]["torch_threads"] == 1 and data["protocol"] == "two_phase"
    res = mech.load_pretrain(pre)
    assert res.config.seeds == (0, 1, 2) and len(res.cold) == 3 and math.isnan(res.cold[0]["pretrain_train_acc"])
    rows = mech.pretrain_rows(res)
    assert [r["E"] for r in rows] == [0, 2, 4] and rows[0]["warm_vs_cold"] is None   # E = 0 warm is cold
    # by hand: warm - cold at E = 4, paired by seed
    cold = {r["seed"]: r["test_acc"] for r in res.cold}
    diffs = [100 * (r["test_acc"] - cold[r["seed"]]) for r in sorted(res.select(method="warm", pretrain_epochs=4),
                                                                     key=lambda r: r["seed"])]
    prim = mech.pretrain_primary(res)
    assert set(prim) == {"warm - cold", "dash - warm", "dash - cold"}
    assert prim["warm - cold"]["ci"].mean == pytest.approx(sum(diffs) / 3)
    ps = stats.holm([prim[k]["ci"].pvalue for k in prim])
    assert [prim[k]["p_holm"] for k in prim] == pytest.approx(ps)
    assert "E" in str(mech.pretrain_display(rows))
    with pytest.raises(ValueError, match="E = 7"):
        mech.pretrain_primary(res, e=7)


def test_cosine_file_holds_whole_network_cosines_and_loads(files):
    out, _, cos = files
    res, whole = mech.load_cosines(cos)
    assert len(res.records) == 9 and len(whole) == 6
    rows = mech.cosine_rows(res)
    assert [r["size"] for r in rows] == [40, 80, 160] and rows[0]["vs_smallest"] is None
    prim = mech.cosine_primary(res, whole)
    assert set(prim) == {"median rise", "correlation", "whole cos at 40", "whole cos at 160"}
    assert prim["whole cos at 160"]["ci"].mean == pytest.approx(
        sum(w["cos_all"] for w in whole if w["size"] == 160) / 3)
    assert all(-1 <= r for r in mech.per_seed_correlations(res).values())
    assert "training" in str(mech.cosine_display(rows))


def test_damaged_files_are_refused(files, tmp_path):
    out, pre, cos = files
    data = json.loads(open(cos).read())
    del data["whole_network"]
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="whole-network"):
        mech.load_cosines(bad)
    data = json.loads(open(cos).read())
    data["whole_network"]["records"] = data["whole_network"]["records"][1:]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="one record per"):
        mech.load_cosines(bad)
    with pytest.raises(ValueError, match="two_phase"):
        mech.load_pretrain(cos)
    with pytest.raises(ValueError, match="subsets"):
        mech.load_cosines(pre)
