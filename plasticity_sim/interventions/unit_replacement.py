"""In-training unit replacement: Continual Backprop (Dohare et al.) and ReDo (Sokar et al.).

Why one module over 400 lines: CBP and ReDo share the unit bookkeeping, the redraw from the layer's
own initialiser and the optimizer-state reset; split, each would carry a copy.

Both are *step hooks* - callables ``hook(model, optimizer, step)`` that ``train_until`` runs after
every optimizer step - and both replace hidden units of an MLP or CNN the same way: incoming weights
redrawn from the layer's own initial distribution (the rows a freshly built copy of the model would
have), incoming bias 0, outgoing weights 0 (so the network's
function barely changes and the new unit cannot disturb the outputs), optimizer state of those
weights zeroed. They differ in *which* units:

* :class:`ContinualBackprop` - every step, a fraction ``replacement_rate`` of the *mature* units
  (older than ``maturity_threshold`` steps) with the lowest contribution utility
  ``u <- eta u + (1 - eta) |h| * |w_out|``. Source: Dohare et al., Nature 2024, official code
  ``lop/algos/gnt.py`` (class ``GnT``). The code averages ``|h|`` over the
  batch and ``|w_out|`` over the outgoing weights (the paper's formula sums the latter: the same
  ranking inside a layer), and divides by the Adam-style bias correction ``1 - eta^age``.
* :class:`ReDo` - every ``every`` steps, all tau-dormant units: score
  ``s_i = mean|h_i| / mean_k mean|h_k| <= tau`` on the latest training batch. Source: Sokar et al.,
  ICML 2023 (arXiv:2302.12902, Definition 3.1), as implemented in Dohare et al.'s ``lop/algos/gntRedo.py``.

Activations are read with forward hooks on the hidden activation modules (``nn.ReLU`` etc.), so
the model needs real activation modules between its layers (``nn.Sequential`` MLPs and CNNs, and
the package's ``mlp`` and ``cnn``, do). Units are Linear rows or Conv channels: ``Linear -> act ->
Linear``, ``Conv -> act -> [pool] -> Conv`` and ``Conv -> act -> [pool] -> Flatten -> Linear`` (the
channel's block of flattened columns is its outgoing weights).

Which distribution a replaced unit is redrawn from (``init``): ``"own"`` (default) redraws from the
layer's own initialiser - the model's ``_init_module`` for package models, PyTorch's
``reset_parameters`` rule (U(+-1/sqrt(fan_in))) for plain modules - by initialising a scratch copy of
the layer from the hook's generator and taking the replaced rows; ``"kaiming"`` is the bound of
Dohare's code (gain * sqrt(3 / fan_in)); ``"default"`` is U(+-1/sqrt(fan_in)). Before this fix the
hooks always used ``"kaiming"``, which on the package's PyTorch-default MLP drew replaced ReLU units
sqrt(6) = 2.45x wider than the layer's own initialisation. A per-unit BatchNorm1d/LayerNorm between the incoming Linear and the
activation is treated as part of the unit: its affine parameters and running statistics for the
replaced unit are reset too (an extension: Dohare's MLPs have no normalisation).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..diagnostics import dormant_mask
from plasticity_sim.checks import check_choice, check_range

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)
UNIT_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)
PASS_THROUGH = (nn.Dropout, nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
                nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten)
UNIT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
INITS = ("own", "kaiming", "default")


@dataclass
class UnitLayer:
    """One layer of hidden units: ``incoming`` Linear/Conv -> [norm] -> ``activation`` -> [pool,
    flatten] -> ``outgoing`` Linear/Conv. ``span`` is how many outgoing columns one unit feeds
    (1, or the spatial positions of a conv channel flattened into a Linear).
    """

    name: str
    incoming: nn.Module
    activation: nn.Module
    outgoing: nn.Module
    norms: list = field(default_factory=list)
    span: int = 1

    @property
    def units(self) -> int:
        return self.incoming.weight.shape[0]

    def out_columns(self, idx: torch.Tensor) -> torch.Tensor:
        """Column indices of ``outgoing.weight`` (dim 1) fed by units ``idx``."""
        if self.span == 1:
            return idx
        offsets = torch.arange(self.span, device=idx.device)
        return (idx[:, None] * self.span + offsets[None, :]).flatten()

    def out_magnitude(self) -> torch.Tensor:
        """Mean |outgoing weight| per unit (over output units, kernel positions and span)."""
        w = self.outgoing.weight.detach().abs()
        w = w.reshape(w.shape[0], self.units, -1)  # (out, units, span * kernel)
        return w.mean(dim=(0, 2))

    def out_sum_per_unit(self, idx: torch.Tensor) -> torch.Tensor:
        """(out, len(idx)) sums of the outgoing weights of units ``idx`` over kernel/span."""
        w = self.outgoing.weight.detach()
        w = w.reshape(w.shape[0], self.units, -1)
        return w[:, idx].sum(-1)


def _in_width(module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def find_unit_layers(model: nn.Module) -> list[UnitLayer]:
    """Find the hidden-unit layers of an MLP or CNN from its leaf modules in registration order.

    A pair of consecutive Linear/Conv layers with matching sizes and exactly one activation
    module between them (plus optional per-unit norms, dropout, identity, pooling, flatten) forms
    one layer of hidden units; a Conv followed by a Linear needs the Linear's inputs to be a whole
    number of positions per channel. Raises ValueError if there is none, or if one activation
    module object is used by two layers (its recorded output would be ambiguous).
    """
    leaves = [(n, m) for n, m in model.named_modules(remove_duplicate=False) if not list(m.children())]
    linear_at = [i for i, (_, m) in enumerate(leaves) if isinstance(m, UNIT_LAYERS)]
    layers = []
    for a, b in zip(linear_at, linear_at[1:]):
        between = [m for _, m in leaves[a + 1:b]]
        acts = [(leaves[a + 1 + k][0], m) for k, m in enumerate(between) if isinstance(m, ACTIVATIONS)]
        ok = all(isinstance(m, ACTIVATIONS + UNIT_NORMS + PASS_THROUGH) for m in between)
        inc, out = leaves[a][1], leaves[b][1]
        units, width = inc.weight.shape[0], _in_width(out)
        span = 1
        if isinstance(inc, nn.Linear) and not isinstance(out, nn.Linear):
            ok = False  # a Linear feeding a Conv: no per-unit map
        elif not isinstance(inc, nn.Linear) and isinstance(out, nn.Linear):
            span = width // units if units and width % units == 0 else 0
            ok = ok and span >= 1
        elif width != units:
            ok = False
        if getattr(out, "groups", 1) != 1:
            ok = False
        if len(acts) == 1 and ok:
            norms = [m for m in between if isinstance(m, UNIT_NORMS)]
            layers.append(UnitLayer(acts[0][0], inc, acts[0][1], out, norms, span))
    if not layers:
        raise ValueError(f"no hidden Linear/Conv -> activation module -> Linear/Conv units found in "
                         f"{type(model).__name__}; unit replacement needs an MLP or CNN with activation modules")
    if len({id(l.activation) for l in layers}) != len(layers):
        raise ValueError("one activation module is shared by several layers; give each layer its own")
    return layers


class ActivationRecorder:
    """Forward hooks keeping the latest (detached) output of each given module. Call ``remove()``.
    """

    def __init__(self, modules):
        self.last = [None] * len(modules)
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(modules)]

    def _hook(self, i):
        def hook(module, inputs, output):
            self.last[i] = output.detach()
        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def init_bound(layer: UnitLayer, init: str) -> float:
    """Half-width of the uniform distribution new incoming weights are drawn from.

    "kaiming": ``gain * sqrt(3 / fan_in)`` (Dohare's default, gain of the activation, e.g. sqrt(2)
    for ReLU); "default": ``sqrt(1 / fan_in)``, PyTorch's ``nn.Linear`` default initialisation.
    """
    check_choice("init", init, INITS)
    if init == "own":
        raise ValueError("init='own' draws from the layer's initialiser, not from a bound; use own_rows()")
    fan_in = layer.incoming.weight[0].numel()
    if init == "default":
        return math.sqrt(1.0 / fan_in)
    act = layer.activation
    name = {nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
            nn.SELU: "selu"}.get(type(act), "relu")
    if name == "selu":  # Dohare: LeCun bound for SELU
        return math.sqrt(3.0 / fan_in)
    param = act.negative_slope if name == "leaky_relu" else None
    return nn.init.calculate_gain(name, param) * math.sqrt(3.0 / fan_in)


def layer_initialiser(model: nn.Module):
    """``init(module, generator)`` that re-initialises one leaf module the way ``model`` was built:
    the model's own ``_init_module`` for package models (:class:`plasticity_sim.models.PlasticityModel`),
    otherwise PyTorch's default ``reset_parameters`` rule for Linear/Conv, drawn from the generator."""
    from plasticity_sim.models import PlasticityModel

    if isinstance(model, PlasticityModel):
        return model._init_module
    return PlasticityModel._init_default_module


def own_rows(module: nn.Module, idx: torch.Tensor, init, generator: torch.Generator) -> torch.Tensor:
    """Rows ``idx`` of ``module.weight`` as a freshly initialised copy of ``module`` would have them.

    A scratch copy of the layer is initialised by ``init(scratch, generator)`` (the layer's own
    initialiser, see :func:`layer_initialiser`) and its rows ``idx`` are returned; the layer itself
    is not touched.
    """
    scratch = copy.deepcopy(module)
    init(scratch, generator)
    return scratch.weight.detach()[idx]


def _zero_optimizer_state_(optimizer, param: torch.Tensor, index) -> None:
    """Zero ``state[param][k][index]`` for every state tensor shaped like ``param``.

    Covers SGD momentum buffers and Adam/AdamW moments (``exp_avg``, ``exp_avg_sq``); scalar
    entries such as Adam's ``step`` are shared by the whole tensor and left alone. Also looks into
    a wrapped ``base_optimizer`` (SAM).
    """
    for opt in (optimizer, getattr(optimizer, "base_optimizer", None)):
        if opt is None:
            continue
        for value in opt.state.get(param, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                value[index] = 0


def replace_units_(layer: UnitLayer, idx: torch.Tensor, *, bound: float | None = None,
                   generator: torch.Generator, optimizer=None,
                   bias_shift: torch.Tensor | None = None, init=None) -> None:
    """Re-initialise hidden units ``idx`` of ``layer`` in place (shared by CBP and ReDo).

    Incoming weights: rows of a scratch copy initialised by ``init(module, generator)`` (the
    layer's own initialiser), or, with ``bound``, U(-bound, bound), drawn from ``generator``;
    incoming bias 0; per-unit norm parameters/statistics reset; ``bias_shift`` (if given) added to
    the outgoing bias; outgoing weights (columns, or a conv's input channels) 0; the optimizer
    state of all of these zeroed (SGD momentum, both Adam moments), for Linear and Conv alike.
    """
    if idx.numel() == 0:
        return
    if (bound is None) == (init is None):
        raise ValueError("replace_units_ needs exactly one of bound= or init=")
    inc, out = layer.incoming, layer.outgoing
    with torch.no_grad():
        if init is not None:
            new = own_rows(inc, idx.to(inc.weight.device), init, generator)
        else:
            new = torch.rand((idx.numel(),) + tuple(inc.weight.shape[1:]), generator=generator,
                             device=generator.device, dtype=inc.weight.dtype) * 2 * bound - bound
        inc.weight[idx] = new.to(inc.weight.device, inc.weight.dtype)
        _zero_optimizer_state_(optimizer, inc.weight, idx)
        if inc.bias is not None:
            inc.bias[idx] = 0
            _zero_optimizer_state_(optimizer, inc.bias, idx)
        for norm in layer.norms:
            for pname, value in (("weight", 1.0), ("bias", 0.0)):
                p = getattr(norm, pname, None)
                if p is not None:
                    p[idx] = value
                    _zero_optimizer_state_(optimizer, p, idx)
            if getattr(norm, "running_mean", None) is not None:
                norm.running_mean[idx] = 0
                norm.running_var[idx] = 1
        if bias_shift is not None and out.bias is not None:
            out.bias += bias_shift
        cols = layer.out_columns(idx)
        out.weight[:, cols] = 0
        _zero_optimizer_state_(optimizer, out.weight, (slice(None), cols))


def _init_spec(model, layers, init):
    """(bounds or None, initialiser or None) for ``init`` in INITS or a callable ``init(module, g)``."""
    if callable(init):
        return None, init
    check_choice("init", init, INITS)
    if init == "own":
        return None, layer_initialiser(model)
    return [init_bound(l, init) for l in layers], None


def _check_decay(decay_rate) -> float:
    try:
        eta = float(decay_rate)
    except (TypeError, ValueError):
        eta = float("nan")
    if isinstance(decay_rate, bool) or not (0.0 <= eta < 1.0):
        raise ValueError(f"decay_rate must be in [0, 1), got {decay_rate!r}")
    return eta


def _per_unit(h: torch.Tensor) -> torch.Tensor:
    """(N, units, ...) activations -> (N, units), averaging any trailing positions."""
    return h.reshape(h.shape[0], h.shape[1], -1).mean(-1) if h.ndim > 2 else h


class ContinualBackprop:
    """Continual Backprop step hook (generate-and-test), after Dohare et al.'s ``GnT``.

    Per hidden layer and step: ``age += 1``; ``mean_act <- eta mean_act + (1-eta) mean(h)``;
    ``u <- eta u + (1-eta) mean|h| * mean_k |w_out[k, i]|``; bias-corrected ``u / (1 - eta^age)``.
    Then ``replacement_rate * (#units with age > maturity_threshold)`` units are replaced - the
    eligible ones with the lowest corrected utility. A fractional number is realised as one unit
    with that probability (``accumulate=False``, the code's default) or accumulated across steps.
    A replaced unit's bias-corrected mean contribution ``w_out[:, i] * mean_act_i`` is folded into
    the outgoing bias (``fold_bias=True``, as the paper describes; the official ``gnt.py`` resets
    the running mean before folding, so there the fold adds zero - ``fold_bias=False`` mimics that).
    Its age, utility and running mean restart at 0.

    Published defaults (Dohare et al., Nature 2024, configs): ``decay_rate`` 0.99; ``maturity_threshold``
    100 (Continual ImageNet, permuted MNIST, slowly-changing regression) or 1,000 (class-incremental
    CIFAR-100); ``replacement_rate`` 3e-4 (Continual ImageNet), 1e-4..1e-6 (permuted MNIST), 1e-5
    (CIFAR-100), 1e-6..1e-2 searched (slowly-changing regression). ``init="own"`` redraws from the
    layer's own initialiser (the paper's "original initialisation distribution"). Bad values
    (``replacement_rate`` < 0, ``maturity_threshold`` < 0, ``decay_rate`` outside [0, 1)) raise
    ValueError. Call :meth:`remove` to detach the forward hooks.
    """

    NEEDS_GENERATOR = True       # replaced units are redrawn from a generator
    RECORDS_ACTIVATIONS = True   # acts on the activations its forward hooks recorded

    def __init__(self, model: nn.Module, *, generator: torch.Generator,
                 replacement_rate: float = 1e-4, maturity_threshold: int = 100,
                 decay_rate: float = 0.99, init="own", accumulate: bool = False,
                 fold_bias: bool = True, layers: list[UnitLayer] | None = None):
        self.replacement_rate = check_range("replacement_rate", replacement_rate, 0.0, 1.0)
        self.maturity_threshold = int(check_range("maturity_threshold", maturity_threshold, 0, 1e12))
        self.decay_rate = _check_decay(decay_rate)
        if not callable(init):
            check_choice("init", init, INITS)
        if not isinstance(generator, torch.Generator):
            raise ValueError("ContinualBackprop needs a torch.Generator (generator=...)")
        self.generator, self.accumulate, self.fold_bias = generator, bool(accumulate), bool(fold_bias)
        self.layers = layers if layers is not None else find_unit_layers(model)
        self.bounds, self.init = _init_spec(model, self.layers, init)
        self.recorder = ActivationRecorder([l.activation for l in self.layers])
        z = [torch.zeros(l.units, device=l.incoming.weight.device) for l in self.layers]
        self.util = [t.clone() for t in z]
        self.mean_act = [t.clone() for t in z]
        self.ages = [t.clone() for t in z]
        self.accumulated = [0.0] * len(self.layers)
        self.replaced = [0] * len(self.layers)  # running count, for reports

    def _how_many(self, i: int, n_eligible: int) -> int:
        expected = self.replacement_rate * n_eligible
        if self.accumulate:
            self.accumulated[i] += expected
            n = int(self.accumulated[i])
            self.accumulated[i] -= n
            return n
        if expected < 1:
            u = torch.rand((), generator=self.generator, device=self.generator.device).item()
            return 1 if u <= expected and expected > 0 else 0
        return int(expected)

    def __call__(self, model, optimizer, step=None) -> None:
        eta = self.decay_rate
        for i, layer in enumerate(self.layers):
            h = self.recorder.last[i]
            if h is None:  # no forward pass since the last step
                continue
            h = _per_unit(h).to(self.util[i].dtype)
            with torch.no_grad():
                self.ages[i] += 1
                correction = 1 - eta ** self.ages[i]
                self.mean_act[i].mul_(eta).add_((1 - eta) * h.mean(0))
                out_mag = layer.out_magnitude().to(h.dtype)
                self.util[i].mul_(eta).add_((1 - eta) * out_mag * h.abs().mean(0))
                corrected = self.util[i] / correction
                eligible = torch.nonzero(self.ages[i] > self.maturity_threshold).flatten()
                if eligible.numel() == 0:
                    continue
                n = min(self._how_many(i, eligible.numel()), eligible.numel())
                if n == 0:
                    continue
                idx = eligible[torch.topk(-corrected[eligible], n).indices]
                shift = None
                if self.fold_bias:
                    mean = (self.mean_act[i][idx] / correction[idx]).to(layer.outgoing.weight.dtype)
                    shift = (layer.out_sum_per_unit(idx) * mean).sum(1)
                replace_units_(layer, idx, bound=self.bounds[i] if self.bounds else None,
                               init=self.init, generator=self.generator,
                               optimizer=optimizer, bias_shift=shift)
                self.util[i][idx] = 0
                self.mean_act[i][idx] = 0
                self.ages[i][idx] = 0
                self.replaced[i] += n
        self.recorder.last = [None] * len(self.layers)

    def remove(self) -> None:
        """Detach the forward hooks from the model."""
        self.recorder.remove()


class ReDo:
    """ReDo (Recycling Dormant neurons) step hook, after Sokar et al. (2023).

    Every ``every`` calls, on the activations of the latest training batch: the units with
    ``s_i = mean|h_i| / mean_k mean|h_k| <= tau`` (definition "redo" of
    :func:`plasticity_sim.diagnostics.dormant_mask`) get fresh incoming weights, zero incoming
    bias and zero outgoing weights; the optimizer state of those weights is zeroed too (Dohare's
    ``gntRedo.py`` leaves it; resetting it keeps a stale momentum from undoing the recycling).
    ``every=1000`` is ``gntRedo.py``'s default; Hare & Tortoise used "every 5 epochs" and
    tau in {0.01, ..., 0.5}; ``tau=0.1`` here. Call :meth:`remove` to detach the hooks.
    """

    NEEDS_GENERATOR = True       # replaced units are redrawn from a generator
    RECORDS_ACTIVATIONS = True   # acts on the activations its forward hooks recorded

    def __init__(self, model: nn.Module, *, generator: torch.Generator, tau: float = 0.1,
                 every: int = 1000, init="own", layers: list[UnitLayer] | None = None):
        self.tau = check_range("tau", tau, 0.0, float("inf"))
        if isinstance(every, bool) or int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer number of steps, got {every!r}")
        if not callable(init):
            check_choice("init", init, INITS)
        if not isinstance(generator, torch.Generator):
            raise ValueError("ReDo needs a torch.Generator (generator=...)")
        self.every, self.generator = int(every), generator
        self.layers = layers if layers is not None else find_unit_layers(model)
        self.bounds, self.init = _init_spec(model, self.layers, init)
        self.recorder = ActivationRecorder([l.activation for l in self.layers])
        self.calls = 0
        self.recycled = [0] * len(self.layers)

    def __call__(self, model, optimizer, step=None) -> None:
        self.calls += 1
        if self.calls % self.every:
            return
        for i, layer in enumerate(self.layers):
            h = self.recorder.last[i]
            if h is None:
                continue
            idx = torch.nonzero(dormant_mask(h, "redo", tau=self.tau)).flatten()
            replace_units_(layer, idx.to(layer.incoming.weight.device),
                           bound=self.bounds[i] if self.bounds else None, init=self.init,
                           generator=self.generator, optimizer=optimizer)
            self.recycled[i] += int(idx.numel())

    def remove(self) -> None:
        """Detach the forward hooks from the model."""
        self.recorder.remove()
