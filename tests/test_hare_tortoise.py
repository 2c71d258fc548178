"""Hare & Tortoise, plain EMA and self-distillation on tiny hand-checked tensors (Lee et al. 2024)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from plasticity_sim import methods
from plasticity_sim.stats import SHORT_VERDICTS
from plasticity_sim.interventions import (HareTortoise, PlainEMA, SelfDistillation, get_intervention,
                                          get_step_hook)
from plasticity_sim.models import build_model


class _Tiny(nn.Module):
    """One weight, one bias, a BatchNorm (float running stats + integer counter)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.bn = nn.BatchNorm1d(1)
        with torch.no_grad():
            self.lin.weight.fill_(0.0)
            self.lin.bias.fill_(0.0)

    def forward(self, x):
        return self.bn(self.lin(x))


def _set(model, w, mean):
    with torch.no_grad():
        model.lin.weight.fill_(w)
        model.bn.running_mean.fill_(mean)
        model.bn.num_batches_tracked.fill_(7)


def test_tortoise_is_the_ema_of_the_hare_parameters_and_buffers():
    hare = _Tiny()
    hook = HareTortoise(hare, momentum=0.9, reset_every=100)
    _set(hare, 1.0, 10.0)
    hook(hare)
    # theta_t <- 0.9 * 0 + 0.1 * 1 (the §4.2 direction): the Tortoise moves, the Hare does not
    assert math.isclose(hook.tortoise.lin.weight.item(), 0.1, rel_tol=1e-6)
    assert hare.lin.weight.item() == 1.0
    assert math.isclose(hook.tortoise.bn.running_mean.item(), 1.0, rel_tol=1e-6)  # 0.9*0 + 0.1*10
    assert hook.tortoise.bn.num_batches_tracked.item() == 7    # integer buffers are copied
    hook(hare)
    assert math.isclose(hook.tortoise.lin.weight.item(), 0.19, rel_tol=1e-6)  # 0.9*0.1 + 0.1*1


def test_backwards_ema_of_the_transcribed_listing_is_not_what_we_do():
    # Algorithm 1 as transcribed writes h <- m h + (1 - m) t: the Hare would move toward 0.
    hare = _Tiny()
    hook = HareTortoise(hare, momentum=0.9, reset_every=100)
    _set(hare, 1.0, 0.0)
    hook(hare)
    assert hare.lin.weight.item() == 1.0 and hook.tortoise.lin.weight.item() != 1.0


def test_ema_buffers_false_copies_buffers():
    hare = _Tiny()
    hook = HareTortoise(hare, momentum=0.9, reset_every=100, ema_buffers=False)
    _set(hare, 1.0, 10.0)
    hook(hare)
    assert hook.tortoise.bn.running_mean.item() == 10.0


def test_reset_every_r_steps_copies_the_tortoise_into_the_hare():
    hare = _Tiny()
    hook = HareTortoise(hare, momentum=0.5, reset_every=2)
    _set(hare, 1.0, 4.0)
    hook(hare)                       # t = 0.5
    assert hare.lin.weight.item() == 1.0 and hook.resets == 0
    hook(hare)                       # t = 0.75, then reset: h = t
    assert hook.resets == 1
    assert hare.lin.weight.item() == hook.tortoise.lin.weight.item() == 0.75
    assert hare.bn.running_mean.item() == hook.tortoise.bn.running_mean.item() == 3.0


def test_plain_ema_never_resets():
    hare = _Tiny()
    hook = PlainEMA(hare, momentum=0.5)
    _set(hare, 1.0, 0.0)
    for _ in range(5):
        hook(hare)
    assert hare.lin.weight.item() == 1.0
    assert math.isclose(hook.tortoise.lin.weight.item(), 1 - 0.5 ** 5)


@pytest.mark.parametrize("mu", [1.0, 1.5, -0.1, float("nan")])
def test_momentum_outside_0_1_is_an_error_naming_it(mu):
    for make in (lambda: HareTortoise(_Tiny(), momentum=mu), lambda: PlainEMA(_Tiny(), momentum=mu),
                 lambda: SelfDistillation(momentum=mu)):
        with pytest.raises(ValueError, match=r"momentum \(mu\)") as err:
            make()
        assert str(mu) in str(err.value)


@pytest.mark.parametrize("r", [0, -3, 2.5, True])
def test_reset_interval_must_be_a_positive_int(r):
    with pytest.raises(ValueError, match=r"reset_every \(r\)") as err:
        HareTortoise(_Tiny(), reset_every=r)
    assert repr(r) in str(err.value)


def _train_steps(model, intervention, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 1, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(1, n + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        reg = getattr(intervention, "regularizer", None)
        if reg is not None:
            loss = loss + reg(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for hook in intervention.step_hooks:
            hook(model, opt, step)
    return x


def test_hare_tortoise_method_evaluates_the_tortoise():
    model = build_model("mlp", (1, 8), 3, seed=0, depth=2, width=8)
    iv = methods.build("hare_tortoise", {"momentum": 0.9, "reset_every": 1000})
    assert methods.get_method("hare_tortoise").evaluates == "tortoise"
    _train_steps(model, iv)
    judged = iv.evaluation_model(model)
    assert judged is not model and judged is iv.bound.tortoise
    assert not torch.equal(judged.head.weight, model.head.weight)
    assert iv.evaluation_model(build_model("mlp", (1, 8), 3, seed=1, depth=2, width=8)) is not judged


def test_ema_and_self_distillation_methods_evaluate_their_teacher():
    for name in ("ema", "self_distill"):
        model = build_model("mlp", (1, 8), 3, seed=0, depth=2, width=8)
        iv = methods.build(name, {"momentum": 0.9})
        _train_steps(model, iv)
        assert iv.evaluation_model(model) is not model, name


def test_self_distillation_pulls_toward_the_teacher():
    model = build_model("mlp", (1, 8), 3, seed=0, depth=2, width=8)
    sd = SelfDistillation(momentum=0.9, strength=2.0)
    x = _train_steps(model, sd, n=3)
    out = model(x)                                    # captured by the forward hook
    expected = 2.0 * (out - sd.teacher.tortoise.eval()(x)).pow(2).mean()
    assert torch.allclose(sd.regularizer(model), expected)
    assert sd.regularizer(model).requires_grad
    with pytest.raises(ValueError, match="strength"):
        SelfDistillation(strength=-1)


def test_new_methods_are_in_the_table_and_build():
    for name in ("ema", "self_distill", "l2", "augmentation", "spectral", "crelu"):
        m = methods.get_method(name)
        assert m.acts == "during" and m.label
        methods.build(name)
    assert get_intervention("architecture", model="mlp_crelu").model == "mlp_crelu"
    with pytest.raises(ValueError, match="vit_huge"):
        get_intervention("architecture", model="vit_huge")
    assert isinstance(get_step_hook("ema", _Tiny(), momentum=0.5), PlainEMA)


def test_augmentation_shifts_1d_signals_with_its_own_generator():
    aug = get_intervention("augmentation", pad=2, seed=3)
    x = torch.arange(10.).view(1, 1, 10).repeat(4, 1, 1)
    out = aug.augment(x)
    assert out.shape == x.shape
    for row in out[:, 0]:
        nz = row[row != 0]
        # a contiguous run of the original values, shifted by at most 2
        assert torch.equal(nz, torch.arange(nz[0].item(), nz[0].item() + len(nz)))
        assert len(nz) >= 7
    assert torch.equal(out, get_intervention("augmentation", pad=2, seed=3).augment(x))


def test_vit_tiny_and_crelu_mlp():
    vit = build_model("vit_tiny", (1, 40), 10, seed=0, patch=4, dim=32, depth=2, heads=2, dropout=0.0)
    assert vit(torch.randn(3, 1, 40)).shape == (3, 10)
    again = build_model("vit_tiny", (1, 40), 10, seed=0, patch=4, dim=32, depth=2, heads=2, dropout=0.0)
    assert all(torch.equal(a, b) for a, b in zip(vit.state_dict().values(), again.state_dict().values()))
    paper = build_model("vit_tiny", (3, 32, 32), 100, seed=0)   # the paper's CIFAR-100 size
    assert 5.0e6 < sum(p.numel() for p in paper.parameters()) < 5.6e6
    with pytest.raises(ValueError, match="heads"):
        build_model("vit_tiny", (1, 40), 10, dim=30, heads=4)
    crelu = build_model("mlp_crelu", (1, 40), 10, seed=0, width=64)
    plain = build_model("mlp", (1, 40), 10, seed=0, width=64)
    assert crelu(torch.randn(2, 1, 40)).shape == (2, 10)
    n_c, n_p = (sum(p.numel() for p in m.parameters()) for m in (crelu, plain))
    assert 0.5 * n_p < n_c < n_p


# ------------------------------------------------------------------ studies and figures (numpy only)
from plasticity_sim.hare_tortoise import studies as ht_studies  # noqa: E402
from plasticity_sim.hare_tortoise.figures import plot_toy, toy_run  # noqa: E402


def _records(methods_seeds):
    recs = []
    for method, seeds in methods_seeds.items():
        for s in seeds:
            cell = (None, None) if method == "cold" else (0.5, 0.5)
            recs.append({"seed": s, "method": method, "ratio": cell[0], "noise": cell[1], "phase": 1,
                         "test_acc": (0.7 if method == "cold" else 0.68) + 0.01 * s})
    return recs


def test_paired_difference_pairs_by_seed():
    recs = _records({"cold": [2, 0, 1], "warm": [0, 1, 2]})
    d = ht_studies.paired_difference(recs, "warm", "cold", ratio=0.5, noise=0.5)
    assert math.isclose(d["ci"].mean, -2.0) and math.isclose(d["ci"].high, -2.0) and d["seeds"] == [0, 1, 2]
    assert math.isclose(d["method_mean"], 69.0) and math.isclose(d["baseline_mean"], 71.0)


def test_paired_difference_and_continual_table_refuse_a_missing_seed():
    # warm lacks seed 2: pairing over the seeds both happen to have would compare different runs
    recs = _records({"cold": [0, 1, 2], "warm": [0, 1]})
    with pytest.raises(ValueError, match=r"cannot pair warm \(ratio=0.5, noise=0.5\) with cold by seed: "
                                         r"warm \(ratio=0.5, noise=0.5\) lacks seed\(s\) \[2\]"):
        ht_studies.paired_difference(recs, "warm", "cold", ratio=0.5, noise=0.5)
    with pytest.raises(ValueError, match=r"cannot pair (cold|warm) with (cold|warm) by seed: warm lacks seed\(s\) \[2\]"):
        ht_studies.continual_table(recs, ["cold", "warm"])
    rows = ht_studies.continual_table(_records({"cold": [0, 1, 2], "warm": [0, 1, 2]}), ["cold", "warm"])
    assert rows[1]["vs_cold"][0] == pytest.approx(-2.0)


def test_toy_resets_and_ema():
    run = toy_run(steps=40, mu=0.5, reset_every=10, seed=1)
    assert run["resets"] == [10, 20, 30, 40]
    for k in run["resets"]:
        assert np.allclose(run["hare"][k], run["tortoise"][k])    # the Hare is put on the Tortoise
    assert np.allclose(run["tortoise"][1], 0.5 * run["tortoise"][0] + 0.5 * run["hare"][1])
    assert plot_toy(run, 20) is not None
    with pytest.raises(ValueError, match="mu"):
        toy_run(mu=1.0)


def test_load_records_reads_a_study_folder_with_one_fresh_baseline_per_seed(tmp_path):
    # the name says what it returns: the records of a noisy_warm_start study folder (the continual
    # part's remedies.load_keeping_file returns a whole keeping_<study>.json file instead)
    study = ht_studies.load_records("compare")
    keys = [(r["seed"], r["method"], r["ratio"], r["noise"]) for r in study["records"]]
    assert len(keys) == len(set(keys)) and study["files"] >= 1
    assert sorted({r["seed"] for r in study["records"] if r["method"] == "cold"}) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="no results files in"):
        ht_studies.load_records(tmp_path)


def test_chapter_tables_carry_the_rows_numbers_and_fit_the_column():
    """The *_display tables show the numbers of the rows they are made from, and each row's text
    stays within what the book's 688 px column holds (about 95 characters of cell text)."""
    from plasticity_sim.published import load_table

    grid = ht_studies.grid_table(ht_studies.load_records("grid")["records"])
    t = ht_studies.grid_display(grid)
    assert len(t.rows) == len(grid) == 12 and t.header[0] == "ratio"
    cell = {(r[0], r[1]): r for r in t.rows}
    worst = min(grid, key=lambda r: r["diff"])
    row = cell[(f"{worst['ratio']:g}", f"{worst['noise']:g}")]
    assert row[4] == f"{worst['diff']:+.1f} [{worst['lo']:+.1f}, {worst['hi']:+.1f}]" and row[5] == "below"

    recs = ht_studies.load_records("compare")["records"]
    rows = ht_studies.comparison_table(recs, ["cold", "warm", "hare_tortoise"])
    t = ht_studies.comparison_display(rows, groups={"baseline": ["cold", "warm"], "H&T part": ["hare_tortoise"]})
    assert [r[1] for r in t.rows] == ["fresh (cold)", "warm", "Hare & Tortoise"]
    ht = t.rows[2]
    assert ht[0] == "H&T part" and ht[4] == "{:+.1f} [{:+.1f}, {:+.1f}]".format(*rows[2]["vs_warm"])
    assert ht[5] == SHORT_VERDICTS[rows[2]["verdict_vs_warm"]]
    assert t.rows[0][6] == t.rows[0][7] == ""              # the fresh network has no difference to itself

    t7 = ht_studies.table7_display(load_table("ht_table7"))
    assert len(t7.rows) == 12 and len(t7.header) == 6
    assert t7.rows[0][:3] == ["WS", "baseline", "warm"] and t7.rows[0][3] == "0.704"

    cont = ht_studies.load_continual("continual_full")["records"]
    t = ht_studies.comparison_display(ht_studies.continual_table(cont, ["cold", "warm"]), last=True)
    assert t.header[1].startswith("last")

    corr = ht_studies.correlation_display({"weight_magnitude": -0.571, "srank": -0.3}, 60)
    assert corr.rows == [["weight magnitude", "-0.57"], ["srank", "-0.30"]] and "60" in corr.caption
    for table in (ht_studies.grid_display(grid), t7, ht_studies.comparison_display(rows)):
        assert max(sum(len(c) for c in r) for r in table.rows) <= 95
