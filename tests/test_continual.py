"""Continual-learning part: benchmark generators, the vectorised regression loop, the remedies."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from plasticity_sim.data.continual import (ClassIncremental, PermutedInputs, SlowlyChangingRegression,
                                           ltu_output, ltu_target)
from plasticity_sim.interventions import (Fire, L2Continual, ParsevalRegularizer, ShrinkPerturbContinual,
                                          WeightClipping, get_intervention, newton_schulz_orthogonalize)
from plasticity_sim.protocols.continual import run_regression


# ----------------------------------------------------------------------------- generators
def test_slowly_changing_regression_shapes_and_published_structure():
    data = SlowlyChangingRegression([0, 1, 2], flip_every=50)
    x, y = data.next(250)
    assert x.shape == (250, 3, 21) and y.shape == (250, 3)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert torch.all(x[..., -1] == 1)                       # the bias bit
    assert data.w.shape == (3, 100, 21) and set(torch.unique(data.w).tolist()) == {-1.0, 1.0}
    assert set(torch.unique(data.v).tolist()) == {-1.0, 1.0}
    # theta_i = (m + 1) * beta - S_i, S_i = number of negative weights
    assert torch.allclose(data.theta, 21 * 0.7 - (data.w < 0).sum(2).float())
    # exactly one slow bit flips at each multiple of flip_every, none in between
    changes = (x[1:, :, :15] != x[:-1, :, :15]).sum(2)
    flips = torch.nonzero(changes[:, 0]).flatten().tolist()
    assert flips == [49, 99, 149, 199] and torch.all(changes[flips] == 1)
    # the targets are the LTU network's outputs
    assert torch.equal(y[:, 1], ltu_output(x[:, 1], data.w[1], data.theta[1], data.v[1]))


def test_regression_stream_is_seeded_per_run_and_chunk_independent():
    a, b = SlowlyChangingRegression([7]), SlowlyChangingRegression([3, 7])
    xa = torch.cat([a.next(700)[0], a.next(1600)[0]])
    xb = b.next(2300)[0]
    assert torch.equal(xa[:, 0], xb[:, 1])
    assert not torch.equal(xb[:, 0], xb[:, 1])
    c = SlowlyChangingRegression([7])
    assert torch.equal(c.next(2300)[0], xa)


@pytest.mark.parametrize("kwargs, word", [({"beta": 1.5}, "beta"), ({"flip_every": 0}, "flip_every"),
                                          ({"num_flipping": -1}, "num_flipping")])
def test_regression_bad_inputs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        SlowlyChangingRegression([0], **kwargs)
    with pytest.raises(ValueError, match="seed"):
        SlowlyChangingRegression([-1])


def test_ltu_target_weights_are_plus_minus_one():
    w, theta, v = ltu_target(21, 100, 0.7, torch.Generator().manual_seed(0))
    assert set(torch.unique(w).tolist()) == {-1.0, 1.0} and w.shape == (100, 21) and v.shape == (100,)


def test_permuted_inputs_are_seeded_permutations():
    x = torch.arange(6 * 10, dtype=torch.float32).reshape(6, 1, 10)
    y = torch.arange(6)
    tasks = PermutedInputs(x, y, seed=1)
    x0, y0 = tasks.task(0)
    x1, _ = tasks.task(1)
    assert x0.shape == (6, 10) and torch.equal(PermutedInputs(x, y, seed=1).task(0)[0], x0)
    assert not torch.equal(tasks.permutation(0), tasks.permutation(1))
    # each row is the original sample with its features permuted by the task's permutation
    for row, label in zip(x0, y0):
        assert torch.equal(row, x[label, 0][tasks.permutation(0)])
    assert sorted(x1[0].tolist()) == sorted(x[int(tasks.task(1)[1][0]), 0].tolist())
    with pytest.raises(ValueError, match="samples_per_task"):
        PermutedInputs(x, y, seed=0, samples_per_task=7)


def test_class_incremental_steps():
    ci = ClassIncremental(10, seed=0, initial_classes=2, classes_per_step=2)
    assert ci.num_steps == 5 and sorted(ci.class_order) == list(range(10))
    assert ci.classes(0) == ci.class_order[:2] and ci.classes(4) == ci.class_order
    y = torch.arange(10)
    assert int(ci.mask(y, 1).sum()) == 4
    assert ClassIncremental(10, seed=0).class_order == ci.class_order != ClassIncremental(10, seed=1).class_order
    with pytest.raises(ValueError, match="step"):
        ci.classes(5)


# ----------------------------------------------------------------------------- the vectorised loop
def test_vectorised_runs_equal_sequential_runs():
    kw = dict(steps=3000, bin_size=1000, method="cbp", replacement_rate=0.01, maturity_threshold=20,
              flip_every=500)
    both = run_regression([4, 9], **kw)
    one = run_regression([9], **kw)
    np.testing.assert_allclose(both["error"][1], one["error"][0], rtol=1e-4)
    assert both["replaced"][1] == one["replaced"][0] > 0


def test_adam_loop_matches_torch_adam_for_one_run():
    """Hand-written gradients + Adam of the loop == autograd + torch.optim.Adam on the same learner."""
    from plasticity_sim.protocols import continual as c

    out = run_regression([5], steps=1000, bin_size=1000, optimizer="adam", lr=1e-3, flip_every=100)
    st = c._streams(5)
    g = torch.Generator().manual_seed(st["init"])
    net = nn.Sequential(nn.Linear(21, 5), nn.ReLU(), nn.Linear(5, 1))
    with torch.no_grad():
        b1, b2 = 1 / math.sqrt(21), 1 / math.sqrt(5)
        net[0].weight.copy_((torch.rand(5, 21, generator=g) * 2 - 1) * b1)
        net[0].bias.copy_((torch.rand(5, generator=g) * 2 - 1) * b1)
        net[2].weight.copy_(((torch.rand(5, generator=g) * 2 - 1) * b2)[None])
        net[2].bias.copy_((torch.rand(1, generator=g) * 2 - 1) * b2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = SlowlyChangingRegression([5], flip_every=100).next(1000)
    total = 0.0
    for k in range(1000):
        loss = (net(x[k])[:, 0] - y[k]).pow(2).sum()
        total += float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(out["error"][0, 0] - total / 1000) < 1e-4 * max(1.0, total / 1000)


@pytest.mark.parametrize("kwargs, word", [
    ({"replacement_rate": -1e-4}, "replacement_rate"), ({"maturity_threshold": -1}, "maturity_threshold"),
    ({"decay_rate": 1.0}, "decay_rate"), ({"activation": "cube"}, "activation"),
    ({"steps": 1500, "bin_size": 1000}, "multiple"), ({"lr": 0}, "lr"),
])
def test_regression_loop_bad_inputs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        run_regression([0], **{"steps": 1000, "bin_size": 1000, **kwargs})


def test_regression_loop_methods_and_activations_run():
    for act in ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "swish"):
        out = run_regression([0, 1], steps=1000, bin_size=500, activation=act, method="sp", weight_decay=1e-3,
                             sp_noise=1e-4)
        assert out["error"].shape == (2, 2) and np.isfinite(out["error"]).all()
    l2 = run_regression([0], steps=2000, bin_size=2000, method="l2", weight_decay=0.1)
    bp = run_regression([0], steps=2000, bin_size=2000)
    assert l2["weight_magnitude"][0, -1] < bp["weight_magnitude"][0, -1]


# ----------------------------------------------------------------------------- remedies
def _mlp(seed=0):
    torch.manual_seed(seed)  # test fixture only; the remedies themselves take generators
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def test_weight_clipping_bounds():
    net = _mlp()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(50)
    clip = WeightClipping(net, kappa=2.0)
    clip(net, None, 1)
    for layer, fan_in in ((net[0], 6), (net[2], 8), (net[4], 8)):
        bound = 2.0 / math.sqrt(fan_in)
        assert float(layer.weight.abs().max()) <= bound + 1e-7
        assert float(layer.weight.abs().max()) > 0.99 * bound   # it did clip
        assert float(layer.bias.abs().max()) <= bound + 1e-7
    with pytest.raises(ValueError, match="kappa"):
        WeightClipping(net, kappa=0)


@pytest.mark.parametrize("shape", [(8, 6), (6, 8), (5, 5)])
def test_newton_schulz_and_fire_orthogonal_to_tolerance(shape):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q = newton_schulz_orthogonalize(w, steps=30, start="spectral")
    gram = q @ q.T if shape[0] <= shape[1] else q.T @ q
    assert torch.allclose(gram, torch.eye(min(shape), dtype=torch.float64), atol=1e-6)
    u, _, vh = torch.linalg.svd(w, full_matrices=False)
    assert torch.allclose(q, u @ vh, atol=1e-6)             # the polar factor W (W^T W)^(-1/2)


def test_fire_acts_at_task_boundaries_only():
    from plasticity_sim.interventions import InterventionContext

    net = _mlp()
    fire = get_intervention("fire", steps=25)

    def ctx(e):
        return InterventionContext(experiment=e, x_seen=torch.zeros(2, 6), y_seen=torch.zeros(2), chunk_size=1,
                                   generator=torch.Generator(), initial_state=None,
                                   make_fresh_model=_mlp, make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    before = net[0].weight.clone()
    fire(net, None, ctx(1))
    assert torch.equal(net[0].weight, before)
    fire(net, None, ctx(2))
    w = net[0].weight
    # (8, 6): orthogonal columns, scaled by sqrt(out / in) as in the authors' code
    assert torch.allclose(w.T @ w, (8 / 6) * torch.eye(6), atol=1e-3)
    w2 = net[4].weight                                        # (3, 8): rows, scaled by sqrt(3 / 8)
    assert torch.allclose(w2 @ w2.T, (3 / 8) * torch.eye(3), atol=1e-3)
    with pytest.raises(ValueError, match="steps"):
        Fire(steps=0)
    with pytest.raises(ValueError, match="scale"):
        Fire(scale="kernel")


def test_fire_defaults_match_the_authors_code():
    """FIRE's published defaults (github.com/isaac7778/FIRE): 10 iterations from W / ||W||_F, then
    sqrt(d_out / d_in); scale="none" is the plain (approximate) polar factor."""
    fire = Fire()
    assert fire.params == {"steps": 10, "gain": 1.0, "scale": "sqrt_out_in", "start": "frobenius"}
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = w / w.norm()                                          # the authors' loop, written out
    x = x.T
    for _ in range(10):
        x = 1.5 * x - 0.5 * (x @ x.T) @ x
    assert torch.allclose(newton_schulz_orthogonalize(w), x.T, atol=1e-12)
    net = nn.Sequential(nn.Linear(4, 16))
    with torch.no_grad():
        net[0].weight.copy_(w.float())
    Fire(scale="none").apply_(net)
    assert torch.allclose(net[0].weight.double(), x.T, atol=1e-6)


def test_parseval_regularizer_value_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    reg = ParsevalRegularizer(lam=0.5)
    assert float(reg(net)) == pytest.approx(0.5 * (4 - 1) ** 2)   # WW^T = diag(4, 1); output layer free
    with pytest.raises(ValueError, match="lam"):
        ParsevalRegularizer(lam=-1)


def test_l2_and_continual_shrink_perturb():
    net = _mlp()
    reg = L2Continual(weight_decay=0.2)
    expected = 0.1 * sum(float(p.pow(2).sum()) for p in net.parameters())
    assert float(reg.regularizer(net)) == pytest.approx(expected, rel=1e-5)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    before = [p.clone() for p in net.parameters()]
    sp = ShrinkPerturbContinual(net, generator=torch.Generator().manual_seed(0), weight_decay=0.1, noise_std=0.0)
    sp(net, opt, 1)
    assert all(torch.allclose(p, 0.95 * b) for p, b in zip(net.parameters(), before))
    sp2 = ShrinkPerturbContinual(net, generator=torch.Generator().manual_seed(0), weight_decay=0.0, noise_std=1.0)
    sp3 = ShrinkPerturbContinual(_mlp(), generator=torch.Generator().manual_seed(0), weight_decay=0.0, noise_std=1.0)
    other = _mlp()
    sp2(net, opt, 1)
    sp3(other, opt, 1)
    assert torch.allclose(net[0].weight - 0.95 * before[0], other[0].weight - before[0], atol=1e-6)
    with pytest.raises(ValueError, match="noise_std"):
        ShrinkPerturbContinual(net, generator=torch.Generator(), noise_std=-1)


def test_new_methods_run_in_the_method_table():
    from plasticity_sim import methods

    for name in ("l2_every_step", "sp_continual", "weight_clipping", "parseval", "fire"):
        m = methods.build(name)
        assert m.name == methods.get_method(name).intervention
