"""DASH - Direction-Aware SHrinking (Shin, Lee, Kim, Yun; NeurIPS 2024), exactly as the official code.

Source: official DASH code (baekrok/DASH-Direction-Aware-SHrinking, commit 3d3cea6),
``utils/train_utils.py::dash`` and ``perform_dash``, called from ``main.py`` at the start of every
experiment j >= 2; the paper is arXiv:2410.23495.

The rule in two steps, run before any training on T_1..T_j:

1. *Gradient estimate.* A deep copy of the model (same train/eval mode) computes the mean
   cross-entropy gradient on chunk-sized batches of all data seen so far, in arrival order
   (batch k is chunk T_k), and keeps an exponential moving average of the *negative* gradient:
   ``g <- (1 - alpha) g + alpha (-grad_k)`` from ``g = 0``. Chunk k ends with weight
   ``alpha (1 - alpha)^(j - k)``: the newest chunk counts most.
2. *Shrink.* Every weight group is multiplied by ``max(lam, cos(w_group, g_group))``. A group
   pointing along the descent direction is kept, one pointing away is shrunk to ``lam`` times.
   Groups (``granularity="kernel"``, the official code):

   * ``nn.Linear`` weight: one cosine per output row;
   * ``nn.Conv1d/2d`` weight: one cosine per (out, in) kernel slice (over its spatial taps) -
     for a 1x1 convolution that is a cosine of two scalars, i.e. the sign agreement;
   * bias: ONE cosine over the whole bias vector of the layer;
   * norm layers: untouched.

   ``granularity="row"`` is the variant of lucidrains' DASH-pytorch (``AdamW.shrink_params``):
   every parameter is packed as ``(out, everything else)`` (``pack([...], 'o *')``), so one cosine
   per output neuron / filter, and a 1-D bias becomes ``(out, 1)``: an element-wise cosine of two
   scalars, i.e. per-element sign agreement. (lucidrains also shrinks norm-layer parameters and
   keeps its EMA inside AdamW during training; we keep the official layers and gradient pass, so
   only the grouping differs between the two options.)

   On a ``nn.Linear`` layer the two granularities group the *weights* identically (one cosine per
   output row); they differ only in the bias: one cosine for the whole vector ("kernel") against
   one per element ("row"). ``bias="vector"`` / ``bias="element"`` choose the bias rule on its own,
   so that the two effects can be measured apart (``dash_row_vbias``: rows, whole-vector bias).

``torch.nn.functional.cosine_similarity`` is used exactly as in the official code: it returns 0
when one vector is (numerically) zero (eps = 1e-8), so an all-zero gradient gives factor ``lam``.
The optimizer is NOT recreated (SGD momentum from the previous experiment persists).

Explained in: book/dash/01_dash_rule.ipynb
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.checks import check_choice, check_range
from .base import BaseIntervention, shrinkable_modules

GRANULARITIES = ("kernel", "row")
BIAS_RULES = ("vector", "element")   # one cosine for the whole bias vector / one per element


def _named_shrinkable_params(model: nn.Module):
    """(full name, module, param) for every weight/bias of the Linear/Conv layers, in model order."""
    for mname, module in shrinkable_modules(model):
        for pname, p in module.named_parameters(recurse=False):
            yield (f"{mname}.{pname}" if mname else pname), module, p


def dash_gradient_ema(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int,
                      alpha: float = 0.3) -> dict[str, torch.Tensor]:
    """EMA of the negative loss gradient over chunk-sized batches of ``x``, in order (DASH step 1).

    Batch k is ``x[(k-1)*chunk_size : k*chunk_size]`` (a last, shorter batch is used as is, like a
    ``DataLoader`` with ``shuffle=False``). For every Linear/Conv parameter ``p`` (weights and
    biases): ``g_p <- (1 - alpha) g_p + alpha * (-dL_k/dp)``, from ``g_p = 0``, where ``L_k`` is the
    mean cross-entropy on batch k. The gradients come from a deep copy of ``model``, which keeps
    its train/eval mode (in the official loop the model was last put in eval mode by the test
    evaluation), so the model itself - its ``.grad`` fields and BatchNorm running statistics -
    is left exactly as it was.

    Returns a dict keyed by parameter name (as in ``model.named_parameters()``); parameters that
    do not require gradients are left out. Source: official DASH code, ``dash()``.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    alpha = check_range("alpha", alpha, 0.0, 1.0)
    if alpha == 0.0:
        raise ValueError("alpha must be in (0, 1]; alpha=0 would ignore every gradient")
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and {len(y)}")
    chunk_size = int(chunk_size)
    net = copy.deepcopy(model)  # inherits every submodule's .training flag
    named = [(n, p) for n, _, p in _named_shrinkable_params(net) if p.requires_grad]
    names, params = [n for n, _ in named], [p for _, p in named]
    ema = {n: torch.zeros_like(p) for n, p in named}
    with torch.enable_grad():
        for start in range(0, len(x), chunk_size):
            loss = F.cross_entropy(net(x[start:start + chunk_size]), y[start:start + chunk_size])
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for n, g in zip(names, grads):
                neg = torch.zeros_like(ema[n]) if g is None else -g.detach()
                ema[n] = (1 - alpha) * ema[n] + alpha * neg
    return ema


def group_cosines(param: torch.Tensor, direction: torch.Tensor, granularity: str = "kernel",
                  *, is_bias: bool = False, bias: str | None = None) -> torch.Tensor:
    """Cosine between ``param`` and ``direction`` per DASH group (see the module docstring).

    Shapes returned: Linear weight ``(out,)``; Conv weight ``(out, in)`` for "kernel", ``(out,)``
    for "row"; bias: a 0-dim tensor for "kernel" (one cosine for the whole vector), ``(out,)``
    for "row" (element-wise, i.e. sign agreement). ``direction`` is the DASH statistic, i.e.
    already the *negative* gradient. ``bias`` ("vector" or "element") overrides the granularity's
    own bias rule.
    """
    check_choice("granularity", granularity, GRANULARITIES)
    if param.shape != direction.shape:
        raise ValueError(f"shape mismatch: parameter {tuple(param.shape)} vs direction "
                         f"{tuple(direction.shape)}")
    if bias is not None and (is_bias or param.ndim == 1):
        check_choice("bias", bias, BIAS_RULES)
        if bias == "element":
            return F.cosine_similarity(direction.reshape(-1, 1), param.reshape(-1, 1), dim=-1)
        return F.cosine_similarity(direction.reshape(1, -1), param.reshape(1, -1)).reshape(())
    if granularity == "row":
        # lucidrains: pack as (out, rest); for a 1-D bias 'rest' is empty -> (out, 1).
        return F.cosine_similarity(direction.reshape(param.shape[0], -1),
                                   param.reshape(param.shape[0], -1), dim=-1)
    if is_bias or param.ndim == 1:
        # Official: ONE scalar for the whole bias vector (shape (1,) there; a 0-dim tensor here).
        return F.cosine_similarity(direction.reshape(1, -1), param.reshape(1, -1)).reshape(())
    if param.ndim == 2:  # Linear: per output row
        return F.cosine_similarity(direction, param, dim=-1)
    # Conv: (out, in, *kernel) -> (out, in, taps), one cosine per (out, in) kernel slice
    o, i = param.shape[:2]
    return F.cosine_similarity(direction.reshape(o, i, -1), param.reshape(o, i, -1), dim=-1)


def dash_cosines(model: nn.Module, grad_ema: dict[str, torch.Tensor],
                 granularity: str = "kernel", bias: str | None = None) -> dict[str, torch.Tensor]:
    """The raw DASH cosines (before the clamp) for every Linear/Conv parameter in ``grad_ema``.

    Keys are parameter names; values as in :func:`group_cosines`. Raises ValueError for a key of
    ``grad_ema`` that is not a Linear/Conv parameter of ``model``, and for a trainable Linear/Conv
    parameter missing from ``grad_ema``.
    """
    check_choice("granularity", granularity, GRANULARITIES)
    if bias is not None:
        check_choice("bias", bias, BIAS_RULES)
    known = {n: p for n, _, p in _named_shrinkable_params(model)}
    unknown = sorted(set(grad_ema) - set(known))
    if unknown:
        raise ValueError(f"grad_ema has keys that are not Linear/Conv parameters of the model: "
                         f"{unknown}; allowed: {sorted(known)}")
    missing = sorted(n for n, p in known.items() if p.requires_grad and n not in grad_ema)
    if missing:
        raise ValueError(f"grad_ema is missing trainable parameters: {missing}")
    with torch.no_grad():
        return {n: group_cosines(p, grad_ema[n].to(p.device, p.dtype), granularity,
                                 is_bias=n.endswith("bias"), bias=bias)
                for n, p in known.items() if n in grad_ema}


def shrink_factors(model: nn.Module, grad_ema: dict[str, torch.Tensor], lam: float = 0.3,
                   granularity: str = "kernel", bias: str | None = None) -> dict[str, torch.Tensor]:
    """Per-group DASH factors ``clamp(cos, min=lam, max=1)`` (= ``max(lam, cos)`` since cos <= 1).

    Nothing is modified. Useful to plot which units / kernels DASH keeps (factor 1) or shrinks
    (factor ``lam``). Source: official DASH code, ``torch.clamp(cos_sim, min=lam, max=1)``.
    """
    lam = check_range("lam", lam, 0.0, 1.0)
    return {n: torch.clamp(c, min=lam, max=1) for n, c in
            dash_cosines(model, grad_ema, granularity, bias).items()}


def dash_shrink_(model: nn.Module, grad_ema: dict[str, torch.Tensor], lam: float = 0.3,
                 granularity: str = "kernel", bias: str | None = None) -> dict[str, torch.Tensor]:
    """DASH step 2, in place: multiply every group by its factor; return the factors used.

    Only Linear/Conv weights and biases change; BatchNorm/LayerNorm parameters and buffers are
    untouched, as in the official code.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    factors = shrink_factors(model, grad_ema, lam, granularity, bias)
    params = {n: p for n, _, p in _named_shrinkable_params(model)}
    with torch.no_grad():
        for n, f in factors.items():
            p = params[n]
            p.mul_(f.reshape(tuple(f.shape) + (1,) * (p.ndim - f.ndim)))
    return factors


class Dash(BaseIntervention):
    """The DASH intervention: gradient EMA (step 1) then direction-aware shrink (step 2).

    No-op before experiment 1 (``ctx.experiment < 2``), exactly like the official ``main.py``
    (``chunk_idx >= 1``). Uses ``ctx.x_seen/y_seen`` (un-augmented, arrival order) and
    ``ctx.chunk_size`` as the gradient batch size; keeps the optimizer. The factors of the last
    application are kept (on the CPU) in ``last_factors`` for plotting.

    Defaults ``lam=0.3, alpha=0.3`` are the official ``--dash_lambda`` / ``--dash_alpha``.
    """

    name = "dash"

    def __init__(self, granularity: str = "kernel", lam: float = 0.3, alpha: float = 0.3,
                 bias: str | None = None):
        check_choice("granularity", granularity, GRANULARITIES)
        if bias is not None:
            check_choice("bias", bias, BIAS_RULES)
        self.granularity = granularity
        self.bias = bias
        self.lam = check_range("lam", lam, 0.0, 1.0)
        self.alpha = check_range("alpha", alpha, 0.0, 1.0)
        if self.alpha == 0.0:
            raise ValueError("alpha must be in (0, 1]; alpha=0 would ignore every gradient")
        self.last_factors: dict[str, torch.Tensor] | None = None

    @property
    def params(self) -> dict:
        out = {"granularity": self.granularity, "lam": self.lam, "alpha": self.alpha}
        return out if self.bias is None else {**out, "bias": self.bias}

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        ema = dash_gradient_ema(model, ctx.x_seen, ctx.y_seen, ctx.chunk_size, self.alpha)
        factors = dash_shrink_(model, ema, self.lam, self.granularity, self.bias)
        self.last_factors = {n: f.detach().cpu() for n, f in factors.items()}
        return model, optimizer
