"""Diagnostics against hand-made activation matrices and hand-computed ranks / norms."""

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from plasticity_sim.diagnostics import (collect_activations, distance_to_init, dormant_fraction,
                                        dormant_mask, effective_rank, stable_rank, summarize,
                                        unit_cosines, unit_scores, weight_magnitude)

# 4 inputs x 3 units. unit 0: mean|h| = 2; unit 1: mean 0.1, active on 1 of 4; unit 2: silent.
ACTS = torch.tensor([[1., 0., 0.], [2., 0., 0.], [3., 0., 0.], [2., 0.4, 0.]])


def test_redo_scores_by_hand():
    # layer mean of E|h| = (2 + 0.1 + 0) / 3 = 0.7 -> scores 2/0.7, 0.1/0.7, 0
    s = unit_scores(ACTS, "redo")
    assert torch.allclose(s, torch.tensor([2 / 0.7, 0.1 / 0.7, 0.0], dtype=torch.float64), atol=1e-6)
    assert dormant_mask(ACTS, "redo", tau=0.1).tolist() == [False, False, True]
    assert math.isclose(dormant_fraction(ACTS, "redo", tau=0.1), 1 / 3)
    assert math.isclose(dormant_fraction(ACTS, "redo", tau=0.2), 2 / 3)  # 0.1/0.7 = 0.143 <= 0.2
    # ReDo uses |h|: negative activations count as activity
    assert dormant_fraction(-ACTS, "redo", tau=0.1) == dormant_fraction(ACTS, "redo", tau=0.1)
    # a completely silent layer: every unit dormant (no 0/0)
    assert dormant_fraction(torch.zeros(5, 4), "redo") == 1.0


def test_lop_one_percent_rule_by_hand():
    assert dormant_mask(ACTS, "lop").tolist() == [False, False, True]  # 100 %, 25 %, 0 % active
    acts = torch.zeros(200, 3)
    acts[:, 0] = 1.0
    acts[0, 1] = 5.0            # active on 1/200 = 0.5 % < 1 %   -> dormant
    acts[:2, 2] = 5.0           # active on 2/200 = 1 %, not < 1 % -> alive
    assert dormant_mask(acts, "lop").tolist() == [False, True, False]
    assert math.isclose(dormant_fraction(acts, "lop"), 1 / 3)
    assert dormant_fraction(-acts, "lop") == 1.0  # "active" means > 0, unlike ReDo's |h|


def test_zero_activation_share_by_hand():
    # zero shares per unit: 0, 3/4, 1 -> mean 7/12 (= share of zero entries: 7 of 12)
    assert math.isclose(dormant_fraction(ACTS, "zero"), 7 / 12)
    with pytest.raises(ValueError, match="tau"):
        dormant_fraction(ACTS, "zero", tau=0.1)
    with pytest.raises(ValueError, match="per-unit"):
        dormant_mask(ACTS, "zero")


def test_conv_maps_units_are_channels_and_layers_pool():
    acts = torch.ones(2, 3, 2, 2)
    acts[:, 1] = 0.0                # channel 1 silent everywhere
    acts[0, 2, 0, 0] = 0.0          # channel 2: one zero among 8 entries
    assert dormant_mask(acts, "lop").tolist() == [False, True, False]
    assert math.isclose(dormant_fraction(acts, "zero"), (0 + 1 + 1 / 8) / 3)
    pooled = dormant_fraction({"a": ACTS, "b": acts}, "lop")
    assert math.isclose(pooled, 2 / 6)  # one dormant unit in each layer, six units in all
    assert math.isclose(dormant_fraction(ACTS.numpy(), "redo"), 1 / 3)  # numpy input works too


def test_bad_definitions_name_the_value():
    with pytest.raises(ValueError, match="dead"):
        dormant_fraction(ACTS, "dead")
    with pytest.raises(ValueError, match="-1"):
        dormant_fraction(ACTS, "redo", tau=-1)


def test_effective_rank_by_hand():
    assert math.isclose(effective_rank(torch.eye(5)), 5.0, rel_tol=1e-9)
    u, v = torch.randn(6, 1), torch.randn(1, 4)
    assert math.isclose(effective_rank(u @ v), 1.0, rel_tol=1e-6)
    # singular values (2, 1, 1): p = (1/2, 1/4, 1/4), H = 1.5 ln 2, erank = 2^1.5
    assert math.isclose(effective_rank(torch.diag(torch.tensor([2., 1., 1.]))), 2 ** 1.5, rel_tol=1e-9)
    assert effective_rank(torch.zeros(3, 3)) == 0.0


def test_stable_rank_by_hand():
    m = torch.diag(torch.tensor([10., 5., 3., 1., 1.]))  # cumulative shares .5 .75 .9 .95 1
    assert stable_rank(m) == 5
    assert stable_rank(m, delta=0.06) == 4
    assert stable_rank(m, delta=0.2) == 3
    assert stable_rank(torch.eye(100)) == 99       # 99/100 already holds 99 %
    assert stable_rank(torch.zeros(4, 4)) == 0
    with pytest.raises(ValueError, match="delta"):
        stable_rank(m, delta=1.5)


def _two_layer():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1., 2.], [3., 4.]]))
        net[0].bias.copy_(torch.tensor([1., -1.]))
        net[2].weight.copy_(torch.tensor([[2., 0.]]))
    return net


def test_weight_magnitude_and_distance_by_hand():
    net = _two_layer()
    # H&T: sum over layers of mean(W^2) = 30/4 + 4/2 = 9.5 ; LoP: mean |w| = (1+2+3+4+2+0)/6 = 2
    assert math.isclose(weight_magnitude(net, "ht"), 9.5)
    assert math.isclose(weight_magnitude(net, "lop"), 2.0)
    init = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    assert math.isclose(distance_to_init(net, init, "ht"), 9.5)
    assert math.isclose(distance_to_init(net, init, "l2"), math.sqrt(30 + 2 + 4))
    with pytest.raises(ValueError, match="manhattan"):
        distance_to_init(net, init, "manhattan")
    with pytest.raises(ValueError, match="0.weight"):
        distance_to_init(net, {}, "ht")


def test_unit_cosines_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Conv2d(1, 2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3., 4.], [1., 0.]]))
        net[1].weight.copy_(torch.tensor([2., -2.]).reshape(2, 1, 1, 1))
    grads = {"0.weight": torch.tensor([[-4., -3.], [1., 0.]]),   # -g rows: (4,3) -> 0.96 ; (-1,0) -> -1
             "1.weight": torch.tensor([-1., -1.]).reshape(2, 1, 1, 1)}  # -g = +1: signs +,-
    cos = unit_cosines(net, grads)
    assert np.allclose(cos["0"], [0.96, -1.0], atol=1e-6)
    assert np.allclose(cos["1"], [1.0, -1.0], atol=1e-6)
    assert set(unit_cosines(net, {"0.weight": grads["0.weight"]})) == {"0"}  # no gradient, no entry


class _Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_collect_activations_hooks_removed_and_mode_restored():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    net.train()
    stats = copy.deepcopy(net[1].state_dict())
    x = torch.randn(10, 3)
    acts = collect_activations(net, x, batch_size=4)  # default: every activation module
    assert list(acts) == ["2", "4"] and acts["2"].shape == (10, 4) and acts["4"].shape == (10, 2)
    assert torch.allclose(acts["4"], net.eval()(x).detach(), atol=1e-6)  # recorded in eval mode
    net.train()
    acts = collect_activations(net, x, layers=["2"])
    assert list(acts) == ["2"]
    assert net.training and net[1].training
    assert all(torch.equal(v, stats[k]) for k, v in net[1].state_dict().items())  # BN not updated
    assert not any(m._forward_hooks for m in net.modules())
    broken = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), _Boom())
    with pytest.raises(RuntimeError, match="boom"):
        collect_activations(broken, x)
    assert not any(m._forward_hooks for m in broken.modules()) and broken.training
    with pytest.raises(ValueError, match="nope"):
        collect_activations(net, x, layers=["nope"])
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    with pytest.raises(ValueError, match="ambiguous"):
        collect_activations(shared, x, layers=[relu])
    assert not any(m._forward_hooks for m in shared.modules())


def test_collect_activations_uses_hidden_layers_when_present():
    class WithHidden(nn.Sequential):
        def hidden_layers(self):
            return [self[1]]
    net = WithHidden(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU())
    assert list(collect_activations(net, torch.randn(5, 3))) == ["1"]


def test_summarize_is_json_able_and_leaves_model_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(),
                        nn.Linear(6, 2)).train()
    init = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net[0].weight.add_(0.5)
    state = copy.deepcopy(net.state_dict())
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    out = summarize(net, x, y, initial_state=init, max_samples=30)
    again = json.loads(json.dumps(out, allow_nan=False))
    assert again["num_samples"] == 30 and again["layers"] == ["2", "4"]
    assert set(again["dormant"]) == {"redo", "lop", "zero"}
    assert 0 <= again["dormant"]["zero"]["all"] <= 1 and again["dormant"]["lop"]["tau"] == 0.01
    assert 1 <= again["effective_rank"]["2"] <= 6 and 1 <= again["stable_rank"]["4"] <= 6
    assert set(again["unit_cosine"]) == {"0", "3", "5"} and again["unit_cosine"]["0"]["n"] == 6
    # weight 0 moved by 0.5 everywhere: H&T distance = mean(0.25) over that layer only
    assert math.isclose(again["distance_to_init"]["ht"], 0.25, rel_tol=1e-6)
    assert net.training and all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert "distance_to_init" not in summarize(net, x, y)
    with pytest.raises(ValueError, match="bogus"):
        summarize(net, x, y, taus={"bogus": 0.1})


# ------------------------------------------------------------------ Hare & Tortoise App. C metrics
from plasticity_sim.diagnostics import (backbone_features, ht_metrics, pearson,  # noqa: E402
                                        zero_gradient_ratio, zero_ratio)


class _TwoLayer(nn.Module):
    """x -> Linear(2, 3) -> ReLU -> head Linear(3, 2), weights set by hand."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(2, 3, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.body.weight.copy_(torch.tensor([[1., 0.], [0., 1.], [-1., -1.]]))
            self.head.weight.copy_(torch.tensor([[1., 1., 1.], [-1., 2., 0.]]))

    def hidden_layers(self):
        return [self.act]

    def forward(self, x):
        return self.head(self.act(self.body(x)))


def test_zero_ratio_and_srank_by_hand():
    m = torch.tensor([[0., 1.], [0., 0.], [2., 0.]])
    assert zero_ratio(m) == 4 / 6
    assert zero_ratio(m, atol=1.0) == 5 / 6
    # singular values 10, 1: 10/11 = 0.909 < 0.99 -> k = 2; with delta = 0.1, 0.909 >= 0.9 -> k = 1
    d = torch.diag(torch.tensor([10., 1.]))
    assert stable_rank(d, 0.01) == 2 and stable_rank(d, 0.1) == 1
    with pytest.raises(ValueError, match="atol"):
        zero_ratio(m, atol=-1)


def test_backbone_features_and_zero_gradients_by_hand():
    net = _TwoLayer()
    x = torch.tensor([[1., 2.], [-1., -1.]])
    phi = backbone_features(net, x)
    # pre-activations: [1, 2, -3] -> relu [1, 2, 0]; [-1, -1, 2] -> [0, 0, 2]
    assert torch.equal(phi, torch.tensor([[1., 2., 0.], [0., 0., 2.]]))
    # the gradient at an off ReLU unit is zero: 2 of 3 units per example are off -> 3 of 6 ...
    # example 1: unit 2 off; example 2: units 0, 1 off -> 3 zero entries of 6 (none of the
    # head's back-propagated values is zero, since softmax - onehot has no zeros here)
    assert zero_gradient_ratio(net, x, torch.tensor([0, 1])) == 3 / 6
    init = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net.body.weight.add_(1.0)
    out = ht_metrics(net, x, torch.tensor([0, 1]), init)
    assert math.isclose(out["weight_distance"], 1.0)  # mean((+1)^2) on body, 0 on head
    assert set(out) == {"weight_magnitude", "weight_distance", "zero_gradient_ratio",
                        "zero_activation_ratio", "srank"}


def test_pearson_by_hand():
    assert math.isclose(pearson([1, 2, 3], [2, 4, 6]), 1.0)
    assert math.isclose(pearson([1, 2, 3], [3, 2, 1]), -1.0)
    assert math.isclose(pearson([1, 2, 3, 4], [1, 3, 2, 4]), 0.8)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])
