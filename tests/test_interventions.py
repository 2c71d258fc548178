"""Between-experiment interventions and in-training step hooks, on tiny hand-built models."""

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.interventions import (ContinualBackprop, HareTortoise, InterventionContext, ReDo,
                                          find_unit_layers, get_intervention, get_step_hook,
                                          l2_init_regularizer, shrink_perturb_)

# float() on a parameter slice is how these tests read hand-checked values
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def _seeded(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def _net(seed=0):
    return _seeded(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(8, 3)), seed)


def _ctx(experiment=2, fresh_seed=100, initial_state=None):
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return InterventionContext(
        experiment=experiment, x_seen=x, y_seen=y, chunk_size=3,
        generator=torch.Generator().manual_seed(7), initial_state=initial_state,
        make_fresh_model=lambda: _net(fresh_seed),
        make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))


def _trained(net):
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    F.cross_entropy(net(x), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    opt.step()
    return net, opt


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- cold / warm / opt
def test_cold_warm_and_warm_reset_opt():
    net, opt = _trained(_net())
    before = copy.deepcopy(net)
    m, o = get_intervention("warm")(net, opt, _ctx())
    assert m is net and o is opt and _same_state(net, before)
    m, o = get_intervention("warm_reset_opt")(net, opt, _ctx())
    assert m is net and o is not opt and len(o.state) == 0 and _same_state(net, before)
    assert [id(p) for p in o.param_groups[0]["params"]] == [id(p) for p in net.parameters()]
    m, o = get_intervention("cold")(net, opt, _ctx(fresh_seed=100))
    assert m is not net and _same_state(m, _net(100)) and len(o.state) == 0
    assert [id(p) for p in o.param_groups[0]["params"]] == [id(p) for p in m.parameters()]


@pytest.mark.parametrize("name, params", [("cold", {}), ("warm_reset_opt", {}), ("head_reset", {}),
                                          ("shrink_perturb", {}), ("dash", {})])
def test_every_intervention_is_a_noop_before_experiment_1(name, params):
    net, opt = _trained(_net())
    before = copy.deepcopy(net)
    m, o = get_intervention(name, **params)(net, opt, _ctx(experiment=1))
    assert m is net and o is opt and _same_state(net, before)


# ----------------------------------------------------------------------------- shrink & perturb
def test_sp_limit_shrink_one_no_noise_is_warm_bitwise():
    for mode, params in [("gaussian", {"shrink": 1.0, "noise_std": 0.0}),
                         ("fresh_init", {"shrink": 1.0, "perturb": 0.0}),
                         ("toward_init", {"toward": 0.0})]:
        net, opt = _trained(_net())
        before = copy.deepcopy(net)
        ctx = _ctx(initial_state=copy.deepcopy(_net(9).state_dict()))
        m, o = get_intervention("shrink_perturb", mode=mode, **params)(net, opt, ctx)
        assert m is net and o is opt and _same_state(net, before), mode


def test_sp_limit_fresh_init_shrink_zero_is_colds_weights():
    net, opt = _trained(_net())
    m, _ = get_intervention("shrink_perturb", mode="fresh_init", shrink=0.0, perturb=1.0)(net, opt, _ctx(fresh_seed=42))
    cold, _ = get_intervention("cold")(_net(), opt, _ctx(fresh_seed=42))
    for (n, p), q in zip(m.named_parameters(), cold.parameters()):
        assert torch.equal(p, q), n


def test_sp_toward_init_full_is_initial_weights_and_interpolates():
    init = _net(9)
    net, opt = _trained(_net())
    old = copy.deepcopy(net)
    get_intervention("shrink_perturb", mode="toward_init", toward=1.0)(
        net, opt, _ctx(initial_state=copy.deepcopy(init.state_dict())))
    for (n, p), q in zip(net.named_parameters(), init.parameters()):
        assert torch.equal(p, q), n
    net = copy.deepcopy(old)
    shrink_perturb_(net, "toward_init", initial_state=init.state_dict(), toward=0.8)
    for (n, p), q, r in zip(net.named_parameters(), old.parameters(), init.parameters()):
        assert torch.allclose(p, 0.2 * q + 0.8 * r, atol=1e-6), n
    assert torch.equal(net[1].running_var, old[1].running_var)  # buffers untouched


def test_sp_gaussian_shrinks_conv_linear_only_and_adds_generator_noise():
    net, opt = _trained(_net())
    old = copy.deepcopy(net)
    shrink_perturb_(net, "gaussian", generator=torch.Generator().manual_seed(11), shrink=0.3, noise_std=0.01)
    g = torch.Generator().manual_seed(11)  # noise drawn per layer: weight, then bias, in model order
    for i in (0, 4):
        for name in ("weight", "bias"):
            noise = torch.randn(getattr(old[i], name).shape, generator=g)
            assert torch.allclose(getattr(net[i], name), 0.3 * getattr(old[i], name) + 0.01 * noise, atol=1e-7)
    assert _same_state(net[1], old[1])  # BatchNorm: parameters and running stats untouched
    big = nn.Sequential(nn.Linear(100, 100))
    shrink_perturb_(big, "gaussian", generator=torch.Generator().manual_seed(0), shrink=0.0, noise_std=0.01)
    w = big[0].weight.detach()
    assert abs(float(w.std()) - 0.01) < 0.0005 and abs(float(w.mean())) < 0.0005


def test_sp_fresh_init_formula_and_reset_optimizer_option():
    net, opt = _trained(_net())
    old, fresh = copy.deepcopy(net), _net(42)
    m, o = get_intervention("shrink_perturb", mode="fresh_init", reset_optimizer=True)(net, opt, _ctx(fresh_seed=42))
    for (n, p), q, r in zip(m.named_parameters(), old.parameters(), fresh.parameters()):
        assert torch.allclose(p, 0.4 * q + 0.1 * r, atol=1e-6), n  # Ash & Adams defaults 0.4 / 0.1
    assert o is not opt and len(o.state) == 0


@pytest.mark.parametrize("params, word", [
    ({"mode": "uniform"}, "uniform"), ({"mode": "gaussian", "perturb": 0.1}, "perturb"),
    ({"mode": "fresh_init", "noise_std": 0.1}, "noise_std"), ({"shrink": 2.0}, "2.0"),
    ({"mode": "toward_init", "toward": -1}, "-1"), ({"noise_std": -0.1}, "-0.1"),
])
def test_sp_bad_parameters(params, word):
    with pytest.raises(ValueError, match=word):
        get_intervention("shrink_perturb", **params)


def test_sp_toward_init_needs_initial_state():
    net, opt = _trained(_net())
    with pytest.raises(ValueError, match="initial_state"):
        get_intervention("shrink_perturb", mode="toward_init")(net, opt, _ctx(initial_state=None))


# ----------------------------------------------------------------------------- head reset
class _Headed(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.body(x))

    def reset_head(self, generator):
        with torch.no_grad():
            for p in self.head.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))


def test_head_reset_touches_only_the_head():
    net = _seeded(_Headed(), 0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    body, head = copy.deepcopy(net.body), copy.deepcopy(net.head)
    m, o = get_intervention("head_reset")(net, opt, _ctx())
    assert m is net and o is opt
    assert _same_state(net.body, body)
    assert not torch.equal(net.head.weight, head.weight) and not torch.equal(net.head.bias, head.bias)
    with pytest.raises(ValueError, match="reset_head"):
        get_intervention("head_reset")(nn.Linear(2, 2), opt, _ctx())


# ----------------------------------------------------------------------------- l2 init
def _l2_case():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    init = {"0.weight": torch.zeros(2, 2), "0.bias": torch.zeros(2), "1.weight": torch.ones(2),
            "1.bias": torch.zeros(2), "1.running_mean": torch.zeros(2), "1.running_var": torch.ones(2),
            "1.num_batches_tracked": torch.tensor(0)}
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3., 0.], [0., 4.]]))  # ||dW|| = 5
        net[0].bias.copy_(torch.tensor([1., 1.]))                  # ignored by the DASH form
        net[1].weight.copy_(torch.tensor([1., 13.]))               # ||dBN|| = 12 (BN weight counts)
    return net, init


def test_l2_init_dash_form_value_and_gradient_by_hand():
    net, init = _l2_case()
    reg = l2_init_regularizer(init, lam=0.01, form="dash")(net)
    assert math.isclose(reg.item(), 0.01 * (5 + 12) ** 2, rel_tol=1e-6)  # square of the SUM: 2.89
    reg.backward()
    # d/dW lam (sum_m ||dW_m||)^2 = 2 lam S dW/||dW|| = 2 * 0.01 * 17 / 5 * dW
    assert torch.allclose(net[0].weight.grad, torch.tensor([[0.204, 0.], [0., 0.272]]), atol=1e-6)
    assert torch.allclose(net[1].weight.grad, torch.tensor([0., 0.34]), atol=1e-6)
    assert net[0].bias.grad is None or torch.count_nonzero(net[0].bias.grad) == 0


def test_l2_init_kumar_form_value_and_gradient_by_hand():
    net, init = _l2_case()
    reg = l2_init_regularizer(init, lam=0.01, form="kumar")(net)
    assert math.isclose(reg.item(), 0.01 * (25 + 2 + 144), rel_tol=1e-6)  # per-parameter squares
    reg.backward()
    assert torch.allclose(net[0].weight.grad, 0.02 * torch.tensor([[3., 0.], [0., 4.]]), atol=1e-6)
    assert torch.allclose(net[0].bias.grad, torch.tensor([0.02, 0.02]), atol=1e-6)


def test_l2_init_at_init_is_zero_with_finite_gradient():
    net = _net()
    reg = l2_init_regularizer(net.state_dict(), lam=1.0)(net)  # the copy protects against aliasing
    reg.backward()
    assert reg.item() == 0.0
    assert all(p.grad is None or (torch.isfinite(p.grad).all() and not p.grad.any()) for p in net.parameters())


def test_l2_init_intervention_is_warm_with_regularizer():
    net, init = _l2_case()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    l2 = get_intervention("l2_init", lam=0.01)
    assert l2.params == {"lam": 0.01, "form": "dash"}
    m, o = l2(net, opt, _ctx(initial_state=init))
    assert m is net and o is opt
    assert math.isclose(l2.regularizer(net).item(), 2.89, rel_tol=1e-6)
    fallback = get_intervention("l2_init", lam=0.5, form="kumar")  # unbound: anchors at first call
    assert fallback.regularizer(net).item() == 0.0
    with torch.no_grad():
        net[0].bias.add_(1.0)
    assert math.isclose(fallback.regularizer(net).item(), 0.5 * 2, rel_tol=1e-6)
    with pytest.raises(ValueError, match="l1"):
        get_intervention("l2_init", form="l1")


# ----------------------------------------------------------------------------- registry
def test_registry_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="magic"):
        get_intervention("magic")
    with pytest.raises(ValueError, match="colour"):
        get_intervention("warm", colour=1)
    with pytest.raises(ValueError, match="nope"):
        get_step_hook("nope", nn.Linear(1, 1))
    p = get_intervention("shrink_perturb", mode="gaussian").params
    assert json.loads(json.dumps(p)) == {"mode": "gaussian", "shrink": 0.3, "noise_std": 0.01,
                                         "reset_optimizer": False}


# ----------------------------------------------------------------------------- continual backprop
def _unit_mlp(bn=False):
    """3 inputs -> 4 hidden ReLU units -> 2 outputs; on x = ones every unit outputs exactly 1."""
    net = nn.Sequential(nn.Linear(3, 4), *([nn.BatchNorm1d(4)] if bn else []), nn.ReLU(), nn.Linear(4, 2))
    out = net[-1]
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [1., 0., 0.]]))
        net[0].bias.zero_()
        out.weight.copy_(torch.tensor([[1., 2., 0.1, 3.], [1., 2., 0.1, 3.]]))  # unit 2: least useful
        out.bias.copy_(torch.tensor([0.5, -0.5]))
    return net


def _sgd_step(net, opt):
    loss = F.cross_entropy(net(torch.ones(5, 3)), torch.tensor([0, 1, 0, 1, 0]))
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_cbp_replaces_lowest_utility_mature_unit(optim):
    net = _unit_mlp()
    opt = (torch.optim.SGD(net.parameters(), lr=0.0, momentum=0.9) if optim == "sgd"
           else torch.optim.Adam(net.parameters(), lr=0.0))
    # rate 0.25 x 4 eligible units = exactly one replacement per step once mature (age > 2)
    cbp = get_step_hook("cbp", net, generator=torch.Generator().manual_seed(0), replacement_rate=0.25,
                        maturity_threshold=2, decay_rate=0.9)
    old = copy.deepcopy(net)
    for step in (1, 2):  # immature: nothing happens
        _sgd_step(net, opt)
        cbp(net, opt, step)
    assert _same_state(net, old) and cbp.replaced == [0]
    _sgd_step(net, opt)
    cbp(net, opt, 3)
    assert cbp.replaced == [1]
    w_in, w_out = net[0].weight, net[2].weight
    assert not torch.equal(w_in[2], old[0].weight[2])
    bound = 1 / math.sqrt(3)  # the layer's own (PyTorch default) init: U(+-1/sqrt(fan_in)), fan_in 3
    assert float(w_in[2].abs().max()) <= bound
    assert torch.equal(w_out[:, 2], torch.zeros(2)) and float(net[0].bias[2]) == 0.0
    keep = [0, 1, 3]
    assert torch.equal(w_in[keep], old[0].weight[keep]) and torch.equal(w_out[:, keep], old[2].weight[:, keep])
    # the unit always output 1, so its contribution 0.1 * 1 moves into the outgoing bias
    assert torch.allclose(net[2].bias, old[2].bias + 0.1, atol=1e-6)
    state = opt.state[net[2].weight]
    for key in (["momentum_buffer"] if optim == "sgd" else ["exp_avg", "exp_avg_sq"]):
        assert torch.count_nonzero(state[key][:, 2]) == 0 and torch.count_nonzero(state[key][:, keep]) > 0
        assert torch.count_nonzero(opt.state[net[0].weight][key][2]) == 0
    assert int(cbp.ages[0][2]) == 0 and int(cbp.ages[0][0]) == 3
    cbp.remove()
    assert not net[1]._forward_hooks


def test_cbp_resets_a_per_unit_batchnorm_too():
    net = _unit_mlp(bn=True)
    with torch.no_grad():
        net[1].weight.fill_(2.0)
        net[1].running_mean.fill_(0.3)
    layers = find_unit_layers(net)
    assert len(layers) == 1 and layers[0].norms == [net[1]]
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    cbp = ContinualBackprop(net, generator=torch.Generator().manual_seed(0), replacement_rate=0.25,
                            maturity_threshold=0)
    _sgd_step(net, opt)
    cbp(net, opt, 1)
    i = int(torch.nonzero(net[3].weight[0] == 0)[0])
    assert float(net[1].weight[i]) == 1.0 and float(net[1].running_mean[i]) == 0.0
    others = [k for k in range(4) if k != i]
    assert torch.all(net[1].weight[others] == 2.0)


def test_cbp_redraws_from_the_layers_own_initialiser_not_kaiming():
    """The measured divergence: a replaced unit of the package MLP gets exactly the row a freshly
    initialised copy of the layer (same generator state) would have, bound 1/sqrt(fan_in)."""
    from plasticity_sim.interventions.unit_replacement import layer_initialiser, own_rows
    from plasticity_sim.models import build_model

    model = build_model("mlp", (1, 40), 3, seed=0, width=64)
    layer = find_unit_layers(model)[0]
    idx = torch.tensor([5])
    expected = own_rows(layer.incoming, idx, layer_initialiser(model), torch.Generator().manual_seed(9))
    cbp = ContinualBackprop(model, generator=torch.Generator().manual_seed(9), replacement_rate=1.0,
                            maturity_threshold=0)
    with torch.no_grad():  # unit 5 is the only useless one
        layer.outgoing.weight[:, 5] = 0
    model(torch.ones(4, 1, 40))
    cbp.util[0] += 1.0  # the others are useful; unit 5 has the lowest utility
    cbp.util[0][5] = -1.0
    cbp.replacement_rate = 1 / 64
    cbp(model, torch.optim.SGD(model.parameters(), lr=0.0), 1)
    assert cbp.replaced[0] == 1
    assert torch.equal(layer.incoming.weight[5], expected[0])
    wide = [own_rows(layer.incoming, torch.arange(64), layer_initialiser(model), torch.Generator().manual_seed(s))
            for s in range(3)]
    assert max(float(w.abs().max()) for w in wide) <= 1 / math.sqrt(40)
    assert max(float(w.abs().max()) for w in wide) > 0.9 / math.sqrt(40)
    cbp.remove()


def test_cbp_utility_bias_correction_maturity_and_fractional_accumulation_by_hand():
    """4 units, every unit outputs 1 on x = ones; eta = 0.5; rate 0.1 x 4 eligible = 0.4 per step,
    accumulated: replacements at the steps where the running sum crosses an integer."""
    net = _unit_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    cbp = ContinualBackprop(net, generator=torch.Generator().manual_seed(0), replacement_rate=0.1,
                            maturity_threshold=1, decay_rate=0.5, accumulate=True)
    out_mag = net[2].weight.abs().mean(0)  # (1, 2, 0.1, 3)
    net(torch.ones(5, 3))
    cbp(net, opt, 1)  # age 1: not mature (needs age > 1)
    assert torch.allclose(cbp.util[0], 0.5 * out_mag)                        # u = (1 - eta) * 1 * |w|
    assert torch.allclose(cbp.util[0] / (1 - 0.5 ** cbp.ages[0]), out_mag)  # bias-corrected = |w|
    assert cbp.replaced == [0] and cbp.accumulated == [0.0]
    counts = []
    for step in range(2, 7):
        net(torch.ones(5, 3))
        cbp(net, opt, step)
        counts.append(cbp.replaced[0])
    # eligible: 4 at step 2 (0.4), 4 at 3 (0.8), 4 at 4 (1.2 -> 1, unit 2 replaced, age 0),
    # 3 eligible at 5 (unit 2 has age 1: 0.2 + 0.3 = 0.5), 4 again at 6 (0.9) -> total 1
    assert counts == [0, 0, 1, 1, 1]
    assert abs(cbp.accumulated[0] - 0.9) < 1e-9
    assert torch.equal(net[2].weight[:, 2], torch.zeros(2))


def test_cbp_outputs_unchanged_at_the_step_of_a_replacement():
    net = _unit_mlp()
    opt = torch.optim.Adam(net.parameters(), lr=0.0)
    cbp = ContinualBackprop(net, generator=torch.Generator().manual_seed(0), replacement_rate=0.25,
                            maturity_threshold=0)
    x = torch.ones(5, 3)
    _sgd_step(net, opt)
    before = net(x).detach()
    cbp(net, opt, 1)
    assert cbp.replaced == [1]
    assert torch.allclose(net(x), before, atol=1e-6)
    net = _unit_mlp()  # without folding the mean contribution the outputs move
    opt = torch.optim.Adam(net.parameters(), lr=0.0)
    cbp = ContinualBackprop(net, generator=torch.Generator().manual_seed(0), replacement_rate=0.25,
                            maturity_threshold=0, fold_bias=False)
    _sgd_step(net, opt)
    cbp(net, opt, 1)
    assert cbp.replaced == [1] and not torch.allclose(net(x), before, atol=1e-3)


@pytest.mark.parametrize("optim", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["conv_conv", "conv_linear"])
def test_cbp_conv_layers_replace_channels_and_reset_every_moment(optim, kind):
    g = torch.Generator().manual_seed(0)
    if kind == "conv_conv":
        net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1),
                            nn.Flatten())
    else:
        net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3, 2))
    _seeded(net, 1)
    layers = find_unit_layers(net)
    assert len(layers) == 1 and layers[0].span == (1 if kind == "conv_conv" else 1)
    opt = (torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9) if optim == "sgd"
           else torch.optim.Adam(net.parameters(), lr=0.01))
    x = torch.randn(4, 1, 4, 4, generator=g)
    for _ in range(2):
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    cbp = ContinualBackprop(net, generator=torch.Generator().manual_seed(0), replacement_rate=1 / 3,
                            maturity_threshold=0)
    net(x)
    cbp(net, opt, 1)
    assert cbp.replaced == [1]
    out = layers[0].outgoing.weight
    i = int(torch.nonzero(out.reshape(out.shape[0], 3, -1).abs().sum((0, 2)) == 0)[0])
    keys = ["momentum_buffer"] if optim == "sgd" else ["exp_avg", "exp_avg_sq"]
    for key in keys:
        st_out = opt.state[out][key].reshape(out.shape[0], 3, -1)
        assert torch.count_nonzero(st_out[:, i]) == 0 and torch.count_nonzero(st_out) > 0
        assert torch.count_nonzero(opt.state[layers[0].incoming.weight][key][i]) == 0
        assert torch.count_nonzero(opt.state[layers[0].incoming.bias][key][i]) == 0
    assert float(layers[0].incoming.bias[i]) == 0.0
    assert float(layers[0].incoming.weight[i].abs().max()) <= 1 / math.sqrt(9)
    cbp.remove()


def test_conv_then_flatten_linear_span():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    layer = find_unit_layers(net)[0]
    assert layer.span == 4
    assert layer.out_columns(torch.tensor([1])).tolist() == [4, 5, 6, 7]


@pytest.mark.parametrize("params, word", [
    ({"replacement_rate": -0.1}, "replacement_rate"), ({"maturity_threshold": -1}, "maturity_threshold"),
    ({"decay_rate": 1.0}, "decay_rate"), ({"decay_rate": -0.01}, "decay_rate"), ({"init": "xavier"}, "init"),
])
def test_cbp_bad_inputs_name_the_value(params, word):
    with pytest.raises(ValueError, match=word):
        ContinualBackprop(_unit_mlp(), generator=torch.Generator(), **params)


def test_redo_recycles_exactly_the_tau_dormant_units():
    net = nn.Sequential(nn.Linear(1, 4, bias=False), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():  # activations on x = 1: (0.05, 0.3, 1.0, 2.65); mean 1.0 -> scores = themselves
        net[0].weight.copy_(torch.tensor([[0.05], [0.3], [1.0], [2.65]]))
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    for tau, expected in [(0.04, []), (0.1, [0]), (0.31, [0, 1])]:
        trial = copy.deepcopy(net)
        redo = ReDo(trial, generator=torch.Generator().manual_seed(0), tau=tau, every=1)
        trial(torch.ones(2, 1))
        redo(trial, opt, 1)
        zeroed = torch.nonzero(trial[2].weight[0] == 0).flatten().tolist()
        assert zeroed == expected and redo.recycled == [len(expected)]
        redo.remove()


def test_find_unit_layers_needs_activation_modules():
    with pytest.raises(ValueError, match="no hidden"):
        find_unit_layers(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    relu = nn.ReLU()
    with pytest.raises(ValueError, match="shared"):
        find_unit_layers(nn.Sequential(nn.Linear(2, 2), relu, nn.Linear(2, 2), relu, nn.Linear(2, 1)))


# ----------------------------------------------------------------------------- ReDo
def test_redo_recycles_dormant_unit_every_k_steps():
    net = _unit_mlp()
    with torch.no_grad():  # unit 1 is dead on positive inputs
        net[0].weight[1] = torch.tensor([-1., -1., -1.])
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=0.9)
    redo = ReDo(net, generator=torch.Generator().manual_seed(0), tau=0.1, every=2)
    old = copy.deepcopy(net)
    _sgd_step(net, opt)
    redo(net, opt, 1)
    assert _same_state(net, old)
    _sgd_step(net, opt)
    redo(net, opt, 2)  # scores: 1/0.75 for live units, 0 for unit 1 -> only unit 1 recycled
    assert redo.recycled == [1]
    assert not torch.equal(net[0].weight[1], old[0].weight[1])
    assert torch.equal(net[2].weight[:, 1], torch.zeros(2))
    keep = [0, 2, 3]
    assert torch.equal(net[0].weight[keep], old[0].weight[keep])
    assert torch.equal(net[2].bias, old[2].bias)  # ReDo does not fold anything into the bias
    redo.remove()


# ----------------------------------------------------------------------------- Hare & Tortoise
def test_hare_tortoise_ema_and_reset_at_the_right_step():
    net = nn.Sequential(nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(0.0)
    ht = HareTortoise(net, momentum=0.5, reset_every=3)
    expected_t = [0.5, 1.25, 2.125]  # t <- 0.5 t + 0.5 h with h = 1, 2, 3
    for k, h in enumerate([1.0, 2.0, 3.0]):
        with torch.no_grad():
            net[0].weight.fill_(h)  # "the optimizer step" on the hare
        ht(net, None, k + 1)
        assert math.isclose(float(ht.tortoise[0].weight), expected_t[k], rel_tol=1e-6)
        hare = float(net[0].weight)
        assert math.isclose(hare, 2.125 if k == 2 else h, rel_tol=1e-6)
    assert ht.resets == 1
    assert not ht.tortoise[0].weight.requires_grad


def test_hare_tortoise_buffers():
    net = nn.Sequential(nn.BatchNorm1d(1))
    for ema_buffers, expected in [(True, 0.5), (False, 1.0)]:
        ht = HareTortoise(net, momentum=0.5, reset_every=100, ema_buffers=ema_buffers)
        with torch.no_grad():
            net[0].running_mean.fill_(1.0)
        ht(net)
        assert math.isclose(float(ht.tortoise[0].running_mean), expected)
        with torch.no_grad():
            net[0].running_mean.fill_(0.0)
    with pytest.raises(ValueError, match="reset_every"):
        HareTortoise(net, reset_every=0)


def test_step_hook_interventions_bind_lazily_and_train():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    for name, params in [("cbp", {"replacement_rate": 0.5, "maturity_threshold": 1}),
                         ("redo", {"every": 2, "tau": 0.5}), ("hare_tortoise", {"reset_every": 2})]:
        net = _seeded(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)), 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        iv = get_intervention(name, **params)
        assert iv(net, opt, _ctx()) == (net, opt)
        for step in range(1, 6):
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            for hook in iv.step_hooks:
                hook(net, opt, step)
        assert iv.bound is not None and all(torch.isfinite(p).all() for p in net.parameters())
        if name == "cbp":
            # bound at call 1 (no activations yet); a unit is eligible once its age > 1:
            # call 3: 8 eligible -> 4 replaced; call 4: 4 eligible -> 2; call 5: 2 + 4 -> 3
            assert iv.bound.replaced == [4 + 2 + 3]
        elif name == "redo":
            assert iv.bound.calls == 4
        else:  # H&T binds and runs at call 1: resets after calls 2 and 4
            assert iv.bound.calls == 5 and iv.bound.resets == 2
    with pytest.raises(ValueError, match="momentum"):
        get_intervention("hare_tortoise", momentum=2.0)


def test_integration_with_package_mlp():
    from plasticity_sim.models import build_model

    model = build_model("mlp", (1, 12), 3, seed=0)
    model.train()
    x = torch.randn(16, 1, 12, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ctx = InterventionContext(experiment=2, x_seen=x, y_seen=y, chunk_size=8,
                              generator=torch.Generator().manual_seed(0),
                              initial_state=copy.deepcopy(model.state_dict()),
                              make_fresh_model=lambda: build_model("mlp", (1, 12), 3, seed=1),
                              make_optimizer=lambda p: torch.optim.SGD(p, lr=0.05))
    for name, params in [("dash", {}), ("dash", {"granularity": "row"}), ("shrink_perturb", {}),
                         ("shrink_perturb", {"mode": "fresh_init"}), ("head_reset", {}), ("cold", {})]:
        m, o = get_intervention(name, **params)(model, opt, ctx)
        assert all(torch.isfinite(p).all() for p in m.parameters())
    head = copy.deepcopy(model.head)
    body = {n: p.clone() for n, p in model.named_parameters() if not n.startswith("head")}
    get_intervention("head_reset")(model, opt, ctx)
    assert all(torch.equal(p, body[n]) for n, p in model.named_parameters() if n in body)
    assert not torch.equal(model.head.weight, head.weight)
    cbp = get_step_hook("cbp", model, generator=torch.Generator().manual_seed(0))
    assert len(cbp.layers) >= 1
    cbp.remove()


def test_head_reset_to_initial_weights_restores_exactly_the_head():
    """`head_reset_init`: the head goes back to its first weights; the body and a fresh draw differ."""
    import torch

    from plasticity_sim.interventions import get_intervention
    from plasticity_sim.models import build_model

    model = build_model("mlp", (40,), 10, seed=0, depth=3, width=16)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    get_intervention("head_reset", to="initial")(model, None, _ctx(initial_state=initial))
    head = {f"{n}.{k}" for n, m in model.named_modules() if m is model.head for k in m.state_dict()}
    for k, v in model.state_dict().items():
        assert torch.equal(v, initial[k] if k in head else trained[k]), k
    with pytest.raises(ValueError, match="to='initial'"):
        get_intervention("head_reset", to="initial")(model, None, _ctx(initial_state=None))
    with pytest.raises(ValueError, match="allowed: fresh, initial"):
        get_intervention("head_reset", to="zero")
