"""DASH conformance: hand-computed factors, granularities, the lambda clamp, the gradient EMA.

Expected values are worked out by hand in the comments (papers.md §C.1, official DASH code).
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.interventions import (Dash, InterventionContext, dash_cosines, dash_gradient_ema,
                                          dash_shrink_, get_intervention, group_cosines,
                                          shrink_factors)

LAM = 0.3


def _set(module, **tensors):
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(module, name).copy_(torch.tensor(value, dtype=torch.float32))


def _linear_case():
    """3x2 Linear: rows with cos 24/25, -1, 0; bias cos 4/9 (one scalar) or signs (+, -, +)."""
    net = nn.Sequential(nn.Linear(2, 3))
    _set(net[0], weight=[[3., 4.], [1., 0.], [1., 1.]], bias=[1., 2., 2.])
    g = {"0.weight": torch.tensor([[4., 3.], [-1., 0.], [-1., 1.]]),
         "0.bias": torch.tensor([2., -1., 2.])}
    return net, g


def test_linear_rows_and_bias_scalar_by_hand():
    net, g = _linear_case()
    # row 0: cos([3,4],[4,3]) = 24/25 = 0.96 -> kept at 0.96; row 1: cos = -1 -> lam;
    # row 2: cos([1,1],[-1,1]) = 0 -> lam. Bias: b.g = 2 - 2 + 4 = 4, |b| = |g| = 3 -> 4/9.
    f = shrink_factors(net, g, LAM, "kernel")
    assert torch.allclose(f["0.weight"], torch.tensor([0.96, LAM, LAM]), atol=1e-6)
    assert f["0.bias"].shape == ()  # ONE scalar for the whole bias vector
    assert math.isclose(float(f["0.bias"]), 4 / 9, rel_tol=1e-6)
    dash_shrink_(net, g, LAM, "kernel")
    expected_w = torch.tensor([[3 * 0.96, 4 * 0.96], [LAM, 0.], [LAM, LAM]])
    assert torch.allclose(net[0].weight, expected_w, atol=1e-6)
    assert torch.allclose(net[0].bias, torch.tensor([1., 2., 2.]) * 4 / 9, atol=1e-6)


def test_row_granularity_bias_is_elementwise_sign_agreement():
    net, g = _linear_case()
    f = shrink_factors(net, g, LAM, "row")
    # Linear weights: identical to "kernel" (one cosine per row either way)
    assert torch.allclose(f["0.weight"], torch.tensor([0.96, LAM, LAM]), atol=1e-6)
    # bias (out, 1): signs (1,2), (2,-1), (2,2) -> agree, disagree, agree
    assert torch.allclose(f["0.bias"], torch.tensor([1., LAM, 1.]))
    dash_shrink_(net, g, LAM, "row")
    assert torch.allclose(net[0].bias, torch.tensor([1., 2 * LAM, 2.]))


@pytest.mark.parametrize("conv", ["1d", "2d"])
def test_conv_kernel_vs_row_by_hand(conv):
    # one filter, two input channels, two taps: slice 0 = [3,4] vs g [4,3] (cos 0.96),
    # slice 1 = [1,0] vs g [-1,0] (cos -1). Row: flatten [3,4,1,0].[4,3,-1,0] = 23, norms^2 = 26.
    shape = (1, 2, 2) if conv == "1d" else (1, 2, 1, 2)
    layer = nn.Conv1d(2, 1, 2, bias=False) if conv == "1d" else nn.Conv2d(2, 1, (1, 2), bias=False)
    w = torch.tensor([[[3., 4.], [1., 0.]]]).reshape(shape)
    g = {"0.weight": torch.tensor([[[4., 3.], [-1., 0.]]]).reshape(shape)}
    net_k, net_r = nn.Sequential(layer), nn.Sequential(copy.deepcopy(layer))
    for net in (net_k, net_r):
        _set(net[0], weight=w.tolist())
    fk = shrink_factors(net_k, g, LAM, "kernel")["0.weight"]
    fr = shrink_factors(net_r, g, LAM, "row")["0.weight"]
    assert fk.shape == (1, 2) and torch.allclose(fk, torch.tensor([[0.96, LAM]]), atol=1e-6)
    assert fr.shape == (1,) and math.isclose(float(fr), 23 / 26, rel_tol=1e-6)
    dash_shrink_(net_k, g, LAM, "kernel")
    dash_shrink_(net_r, g, LAM, "row")
    assert torch.allclose(net_k[0].weight.reshape(2, 2), torch.tensor([[2.88, 3.84], [LAM, 0.]]), atol=1e-6)
    assert torch.allclose(net_r[0].weight.reshape(2, 2), w.reshape(2, 2) * 23 / 26, atol=1e-6)


def test_1x1_conv_is_sign_agreement():
    net = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False))
    _set(net[0], weight=[[[[0.5]], [[-2.]]], [[[1.]], [[3.]]]])
    # pairs (w, g): (0.5, 1) agree -> 1; (-2, 1) -> lam; (1, -4) -> lam; (3, 0) zero grad -> lam
    g = {"0.weight": torch.tensor([[1., 1.], [-4., 0.]]).reshape(2, 2, 1, 1)}
    dash_shrink_(net, g, LAM, "kernel")
    assert torch.allclose(net[0].weight.reshape(2, 2), torch.tensor([[0.5, -2 * LAM], [LAM, 3 * LAM]]))


def test_lambda_clamp():
    net = nn.Sequential(nn.Linear(2, 4, bias=False))
    # cos: 1, 0.2 (below lam), -1, and zero gradient (torch cosine -> 0)
    _set(net[0], weight=[[1., 0.], [1., 0.], [1., 0.], [1., 0.]])
    g = {"0.weight": torch.tensor([[2., 0.], [0.2, math.sqrt(1 - 0.04)], [-1., 0.], [0., 0.]])}
    cos = dash_cosines(net, g)["0.weight"]
    assert torch.allclose(cos, torch.tensor([1., 0.2, -1., 0.]), atol=1e-6)
    assert torch.allclose(shrink_factors(net, g, LAM)["0.weight"], torch.tensor([1., LAM, LAM, LAM]))
    # lam = 0: negative cosines are clamped to 0, never flip a sign
    assert torch.allclose(shrink_factors(net, g, 0.0)["0.weight"], torch.tensor([1., 0.2, 0., 0.]), atol=1e-6)
    # lam = 1: nothing is ever shrunk
    assert torch.equal(shrink_factors(net, g, 1.0)["0.weight"], torch.ones(4))


def test_norm_layers_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    net(torch.randn(8, 3))  # give BN non-trivial running stats
    with torch.no_grad():
        net[1].weight.mul_(2)
    before = copy.deepcopy(net[1].state_dict())
    g = {n: -torch.ones_like(p) for n, p in net.named_parameters() if not n.startswith("1.")}
    dash_shrink_(net, g, LAM)
    for k, v in net[1].state_dict().items():
        assert torch.equal(v, before[k]), k


def _mlp(seed=0, bn=False):
    g = torch.Generator().manual_seed(seed)
    layers = [nn.Linear(3, 5)] + ([nn.BatchNorm1d(5)] if bn else []) + [nn.ReLU(), nn.Linear(5, 3)]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def _data(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)


def _chunk_grads(net, x, y, chunk):
    """Independent per-chunk mean-CE gradients on a fresh copy, one chunk at a time."""
    out = []
    for s in range(0, len(x), chunk):
        c = copy.deepcopy(net)
        F.cross_entropy(c(x[s:s + chunk]), y[s:s + chunk]).backward()
        out.append({n: p.grad.clone() for n, p in c.named_parameters()})
    return out


@pytest.mark.parametrize("alpha", [0.3, 0.5])
def test_ema_weights_alpha_one_minus_alpha_power(alpha):
    net = _mlp()
    x, y = _data(12)
    ema = dash_gradient_ema(net, x, y, chunk_size=4, alpha=alpha)
    grads = _chunk_grads(net, x, y, 4)
    j = len(grads)
    for name in ema:
        expected = sum(alpha * (1 - alpha) ** (j - k) * -grads[k - 1][name] for k in range(1, j + 1))
        assert torch.allclose(ema[name], expected, atol=1e-6), name


def test_ema_last_short_batch_and_model_untouched():
    net = _mlp(bn=True).train()
    state = copy.deepcopy(net.state_dict())
    x, y = _data(10)
    ema = dash_gradient_ema(net, x, y, chunk_size=4, alpha=0.3)  # batches 4, 4, 2
    grads = _chunk_grads(net, x, y, 4)
    assert len(grads) == 3
    expected = 0.3 * 0.7 ** 2 * -grads[0]["0.weight"] + 0.3 * 0.7 * -grads[1]["0.weight"] \
        + 0.3 * -grads[2]["0.weight"]
    assert torch.allclose(ema["0.weight"], expected, atol=1e-6)
    # norm-layer parameters get no EMA; the model (incl. BN running stats, .grad) is unchanged
    assert set(ema) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in net.parameters())


def test_ema_uses_the_models_mode():
    net = _mlp(bn=True)
    x, y = _data(8)
    net(x)  # train-mode pass: running stats now differ from batch stats
    ema_train = dash_gradient_ema(net.train(), x, y, 8, 1.0)
    ema_eval = dash_gradient_ema(net.eval(), x, y, 8, 1.0)
    ref = copy.deepcopy(net).eval()
    F.cross_entropy(ref(x), y).backward()
    assert torch.allclose(ema_eval["0.weight"], -ref[0].weight.grad, atol=1e-6)
    assert not torch.allclose(ema_train["0.weight"], ema_eval["0.weight"], atol=1e-4)
    assert not net.training  # mode left as set


def test_arrival_order_matters():
    net = _mlp()
    x, y = _data(8)
    a = dash_gradient_ema(net, x, y, 4, 0.3)
    swapped = torch.cat([torch.arange(4, 8), torch.arange(0, 4)])
    b = dash_gradient_ema(net, x[swapped], y[swapped], 4, 0.3)
    assert not torch.allclose(a["0.weight"], b["0.weight"], atol=1e-5)
    g = _chunk_grads(net, x, y, 4)  # b gives the newest weight (0.3) to the first chunk
    assert torch.allclose(b["0.weight"], 0.3 * 0.7 * -g[1]["0.weight"] + 0.3 * -g[0]["0.weight"], atol=1e-6)


def _ctx(x, y, experiment, chunk):
    return InterventionContext(experiment=experiment, x_seen=x, y_seen=y, chunk_size=chunk,
                               generator=torch.Generator().manual_seed(0), initial_state=None,
                               make_fresh_model=lambda: None, make_optimizer=lambda p: None)


def test_dash_intervention_noop_on_first_experiment_then_shrinks_keeping_optimizer():
    net = _mlp()
    x, y = _data(8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(net(x), y).backward()
    opt.step()
    momentum = {id(p): opt.state[p]["momentum_buffer"].clone() for p in net.parameters()}
    state = copy.deepcopy(net.state_dict())
    dash = get_intervention("dash", granularity="kernel", lam=0.3, alpha=0.3)
    m, o = dash(net, opt, _ctx(x[:4], y[:4], 1, 4))
    assert m is net and o is opt
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    expected = copy.deepcopy(net)
    dash_shrink_(expected, dash_gradient_ema(expected, x, y, 4, 0.3), 0.3, "kernel")
    m, o = dash(net, opt, _ctx(x, y, 2, 4))
    assert m is net and o is opt
    for (n, p), q in zip(net.named_parameters(), expected.parameters()):
        assert torch.equal(p, q), n
    assert any(not torch.equal(p, state[n]) for n, p in net.named_parameters())
    for p in net.parameters():  # optimizer state untouched
        assert torch.equal(opt.state[p]["momentum_buffer"], momentum[id(p)])
    assert set(dash.last_factors) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_group_cosines_shapes():
    w = torch.randn(4, 3, 2, 2)
    assert group_cosines(w, w, "kernel").shape == (4, 3)
    assert group_cosines(w, w, "row").shape == (4,)
    assert group_cosines(torch.randn(4), torch.randn(4), "kernel", is_bias=True).shape == ()


@pytest.mark.parametrize("kwargs, word", [
    ({"granularity": "filter"}, "filter"), ({"lam": 1.5}, "1.5"), ({"alpha": 0.0}, "alpha"),
    ({"lam": -0.1}, "-0.1"), ({"beta": 1}, "beta"),
])
def test_bad_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        get_intervention("dash", **kwargs)


def test_bad_grad_dicts_and_chunk_size():
    net, g = _linear_case()
    with pytest.raises(ValueError, match="nope"):
        shrink_factors(net, {**g, "nope.weight": g["0.weight"]})
    with pytest.raises(ValueError, match="0.bias"):
        shrink_factors(net, {"0.weight": g["0.weight"]})
    x, y = _data(4)
    with pytest.raises(ValueError, match="chunk_size"):
        dash_gradient_ema(_mlp(), x, y, 0, 0.3)
    with pytest.raises(ValueError, match="granularity"):
        dash_shrink_(net, g, 0.3, "neuron")
    assert isinstance(get_intervention("dash"), Dash)


def test_on_linear_layers_kernel_and_row_differ_only_in_the_bias_rule():
    """On nn.Linear both granularities give one cosine per output row; only the bias differs, so
    row weights + whole-vector bias ('dash_row_vbias') is the official kernel rule exactly."""
    import torch
    from torch import nn

    from plasticity_sim.interventions.dash import dash_cosines

    g = torch.Generator().manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    ema = {n: torch.randn(p.shape, generator=g) for n, p in net.named_parameters()}
    kernel = dash_cosines(net, ema, "kernel")
    row = dash_cosines(net, ema, "row")
    row_vbias = dash_cosines(net, ema, "row", bias="vector")
    kernel_ebias = dash_cosines(net, ema, "kernel", bias="element")
    for name in kernel:
        if name.endswith("weight"):
            assert torch.equal(kernel[name], row[name])
        else:   # one cosine for the vector vs one per element: not the same numbers
            assert kernel[name].ndim == 0 and row[name].shape == (ema[name].numel(),)
        assert torch.equal(kernel[name], row_vbias[name])
        assert torch.equal(row[name], kernel_ebias[name])


def test_dash_bias_rule_is_checked():
    from plasticity_sim.interventions import get_intervention

    with pytest.raises(ValueError, match="bias"):
        get_intervention("dash", granularity="row", bias="rows")
