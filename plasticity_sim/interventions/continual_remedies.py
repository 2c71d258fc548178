"""Remedies for loss of plasticity that are a few lines each, in the package's intervention shapes.

* :class:`L2Continual` - every-step L2 regularisation (a loss term ``regularizer(model)``);
* :class:`ShrinkPerturbContinual` - Shrink & Perturb in its every-step continual form (a step hook);
* :class:`WeightClipping` - clip every weight to a multiple of its layer's initial bound (a step hook);
* :class:`ParsevalRegularizer` / :class:`Parseval` - push each hidden weight matrix towards
  orthogonal rows (a loss term);
* :class:`Fire` - orthogonalise each weight matrix at task boundaries with Newton-Schulz steps
  (a between-task intervention);
* :func:`newton_schulz_orthogonalize` - the Newton-Schulz iteration itself.

Layer norm + weight decay (Lyle et al. 2024) is a model option: ``build_model("mlp_ln", ...)``
(see :mod:`plasticity_sim.models`) trained with :class:`L2Continual` or the optimiser's weight decay.

Every class takes its randomness from an explicit generator and rejects bad values with a
ValueError naming them. Defaults are stated in each docstring with their source; the weight
clipping, Parseval and FIRE defaults were checked against the authors' code (see each class).

Explained in: book/continual/03_keeping_plasticity.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn

from plasticity_sim.checks import check_positive_int, check_range

from .base import SHRINKABLE, BaseIntervention


def _weights(model: nn.Module, *, hidden_only: bool = False):
    layers = [m for m in model.modules() if isinstance(m, SHRINKABLE)]
    return layers[:-1] if hidden_only else layers


# ----------------------------------------------------------------------------- L2, every step
class L2Continual(BaseIntervention):
    """Every-step L2 regularisation: loss term ``(weight_decay / 2) * sum ||theta||^2`` over all
    parameters, so its gradient is ``weight_decay * theta`` - plain SGD weight decay.

    Source: Dohare et al., Nature 2024 (the "L2 regularization" baseline of every benchmark).
    Published defaults: weight decay 3e-6 on Continual ImageNet (with lr 0.03); {1e-3, 1e-4, 1e-5}
    on online permuted MNIST; the package default is 1e-4. Between tasks it is a warm start.
    """

    name = "l2_every_step"

    def __init__(self, weight_decay: float = 1e-4):
        self.weight_decay = check_range("weight_decay", weight_decay, 0.0, 1e3)

    @property
    def params(self) -> dict:
        return {"weight_decay": self.weight_decay}

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        return 0.5 * self.weight_decay * sum(p.pow(2).sum() for p in model.parameters())

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


# ----------------------------------------------------------------------------- S&P, every step
class ShrinkPerturbContinual:
    """Shrink & Perturb in its continual form, a step hook: after every optimizer step
    ``theta <- (1 - lr * weight_decay) * theta + noise_std * N(0, 1)`` for every parameter
    (``lr`` read from the optimizer's first parameter group).

    Source: Dohare et al., Nature 2024 (continual form of Ash & Adams, NeurIPS 2020). Published
    defaults: weight decay 1e-4 with noise std in {1e-4, 1e-5, 1e-6} (online permuted MNIST);
    weight decay 1e-5 and noise 1e-5 (Continual ImageNet); weight decay 5e-4 and noise 1e-5
    (class-incremental CIFAR-100). Package defaults: 1e-4 and 1e-5.
    """

    NEEDS_GENERATOR = True

    def __init__(self, model: nn.Module, *, generator: torch.Generator, weight_decay: float = 1e-4,
                 noise_std: float = 1e-5):
        self.weight_decay = check_range("weight_decay", weight_decay, 0.0, 1e3)
        self.noise_std = check_range("noise_std", noise_std, 0.0, 1e3)
        if not isinstance(generator, torch.Generator):
            raise ValueError("ShrinkPerturbContinual needs a torch.Generator (generator=...)")
        self.generator = generator

    def __call__(self, model, optimizer, step=None) -> None:
        lr = float(optimizer.param_groups[0]["lr"]) if optimizer is not None else 1.0
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 - lr * self.weight_decay)
                if self.noise_std > 0:
                    noise = torch.randn(p.shape, generator=self.generator, device=self.generator.device)
                    p.add_(noise.to(p.device, p.dtype), alpha=self.noise_std)


# ----------------------------------------------------------------------------- weight clipping
def init_bounds(model: nn.Module) -> list[float]:
    """Per Linear/Conv layer, the bound ``1 / sqrt(fan_in)`` of PyTorch's default uniform init
    (the package models' initialisation)."""
    return [1.0 / math.sqrt(m.weight[0].numel()) for m in _weights(model)]


class WeightClipping:
    """Weight clipping, a step hook: after every step each weight and bias of a Linear/Conv layer
    is clipped to ``[-kappa * s, kappa * s]``, where ``s`` is the bound of the layer's uniform
    initial distribution (``1 / sqrt(fan_in)`` for the package's PyTorch-default models, or given
    as ``bounds``).

    Source: Elsayed, Lan, Lyle & Mahmood, "Weight clipping for deep continual and reinforcement
    learning", RLC 2024. Checked against the authors' code (github.com/mohmdelsayed/weight-clipping):
    the bound ``s`` is ``1 / sqrt(fan_in)`` for weights and for biases (the fan-in of the layer the
    bias belongs to), as here; the multiplier ``kappa`` has no single published default - their
    input-permuted MNIST grid searches kappa in {1, 2, 3, 4, 5}, the README's minimal class defaults
    to 1 and their PPO script to 3. The package default 2 lies inside the searched grid; it is a
    choice, not the paper's number.
    """

    def __init__(self, model: nn.Module, *, kappa: float = 2.0, bounds: list[float] | None = None):
        self.kappa = check_range("kappa", kappa, 1e-12, 1e6)
        self.layers = _weights(model)
        if not self.layers:
            raise ValueError(f"{type(model).__name__} has no Linear/Conv layer to clip")
        self.bounds = list(bounds) if bounds is not None else init_bounds(model)
        if len(self.bounds) != len(self.layers):
            raise ValueError(f"bounds has {len(self.bounds)} entries for {len(self.layers)} layers")

    def __call__(self, model, optimizer, step=None) -> None:
        with torch.no_grad():
            for layer, s in zip(self.layers, self.bounds):
                c = self.kappa * s
                layer.weight.clamp_(-c, c)
                if layer.bias is not None:
                    layer.bias.clamp_(-c, c)


# ----------------------------------------------------------------------------- Parseval
class ParsevalRegularizer:
    """``lam * sum_l ||W_l W_l^T - scale * I||_F^2`` over the hidden Linear/Conv layers (the
    output layer is left free), ``W_l`` flattened to (out, fan_in).

    Source: Chung, Cherif, Meger & Precup, "Parseval regularization for continual reinforcement
    learning", NeurIPS 2024. Checked against the authors' code (github.com/wechu/parseval_reg,
    ``main.py`` / ``agent.py``): lam = 1e-3 on MetaWorld and the grid world (1e-4 on LunarLander
    and the quadruped), applied to every layer but the last, as here. Two differences, kept on
    purpose: their code multiplies lam by ``(64 / width)^2`` (their networks are 64 wide; for the
    128-wide MLPs of book/continual that would be lam / 4), and its target is ``scale = 2`` =
    the squared gain of their orthogonal initialisation (gain sqrt 2), i.e. the rows' squared norm
    at initialisation. The package's PyTorch-default initialisation has rows of squared norm 1/3,
    so no published ``scale`` transfers; the default 1 is the plain Parseval tight frame. They also
    add a learnable per-layer scale on MetaWorld, left out here.
    """

    def __init__(self, lam: float = 1e-3, scale: float = 1.0):
        self.lam = check_range("lam", lam, 0.0, 1e6)
        self.scale = check_range("scale", scale, 1e-12, 1e6)

    def __call__(self, model: nn.Module) -> torch.Tensor:
        terms = []
        for layer in _weights(model, hidden_only=True):
            w = layer.weight.reshape(layer.weight.shape[0], -1)
            gram = w @ w.T
            eye = torch.eye(gram.shape[0], device=w.device, dtype=w.dtype)
            terms.append((gram - self.scale * eye).pow(2).sum())
        if not terms:
            return torch.zeros((), device=next(model.parameters()).device)
        return self.lam * torch.stack(terms).sum()


class Parseval(BaseIntervention):
    """Parseval regularisation as an intervention: warm between tasks, ``.regularizer(model)``
    during training (see :class:`ParsevalRegularizer` for the source and defaults)."""

    name = "parseval"

    def __init__(self, lam: float = 1e-3, scale: float = 1.0):
        self.reg = ParsevalRegularizer(lam, scale)

    @property
    def params(self) -> dict:
        return {"lam": self.reg.lam, "scale": self.reg.scale}

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        return self.reg(model)

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


# ----------------------------------------------------------------------------- FIRE
NS_STARTS = ("frobenius", "spectral")
FIRE_SCALES = ("sqrt_out_in", "none")


def newton_schulz_orthogonalize(w: torch.Tensor, steps: int = 10, start: str = "frobenius") -> torch.Tensor:
    """The (semi-)orthogonal polar factor of ``w`` (2-D) by ``steps`` cubic Newton-Schulz steps
    ``X <- 1.5 X - 0.5 X X^T X``. Rows are orthonormal when out <= in, columns otherwise.

    ``start`` names how ``w`` is scaled first so that its singular values lie in (0, 1], where the
    iteration converges: ``"frobenius"`` (``w / ||w||_F``, the FIRE authors' code, Han et al. 2026)
    or ``"spectral"`` (``w / ||w||_2``, the largest singular value starts at 1, so fewer steps are
    needed). With few steps the small singular values are not yet 1 - the published method is this
    approximation, not the exact polar factor."""
    check_positive_int("steps", steps)
    if start not in NS_STARTS:
        raise ValueError(f"start must be one of {NS_STARTS}, got {start!r}")
    if w.ndim != 2:
        raise ValueError(f"newton_schulz_orthogonalize needs a 2-D matrix, got shape {tuple(w.shape)}")
    x = w.double()
    norm = torch.linalg.matrix_norm(x, ord="fro" if start == "frobenius" else 2)
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("cannot orthogonalise a zero or non-finite matrix")
    x = x / norm
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        x = 1.5 * x - 0.5 * (x @ x.T) @ x
    return (x.T if tall else x).to(w.dtype)


class Fire(BaseIntervention):
    """FIRE: at every task boundary (``ctx.experiment >= 2``) each Linear/Conv weight matrix
    (flattened to (out, fan_in)) is replaced by its orthogonal polar factor, computed with
    ``steps`` Newton-Schulz iterations (:func:`newton_schulz_orthogonalize`), times a per-layer
    ``scale`` and ``gain``; biases and the optimizer are kept.

    Source: Han, Park, Oh, Kim, Lee & Kim, "FIRE: Frobenius-Isometry Reinitialization for
    Balancing the Stability-Plasticity Tradeoff", ICLR 2026 (arXiv 2602.08040): the weights
    closest in Frobenius norm to ``W`` under the isometry constraint are its polar factor
    ``W (W^T W)^{-1/2}``, approximated by Newton-Schulz iterations. Defaults checked against the
    authors' code (github.com/isaac7778/FIRE, README ``fire(model, iteration=10)``): ``steps`` = 10,
    start ``"frobenius"`` (``W / ||W||_F``), ``scale`` = ``"sqrt_out_in"`` - the polar factor times
    ``sqrt(out / fan_in)`` (their ``sqrt(d_out / d_in)``; their convolutions orthogonalise each
    kernel position separately and divide by the kernel size, here a Conv weight is flattened
    instead). ``scale="none"`` gives the plain polar factor (this package's default before the
    check), ``gain`` multiplies either (1 = published).
    """

    name = "fire"

    def __init__(self, steps: int = 10, gain: float = 1.0, scale: str = "sqrt_out_in", start: str = "frobenius"):
        self.steps = check_positive_int("steps", steps)
        self.gain = check_range("gain", gain, 1e-12, 1e6)
        if scale not in FIRE_SCALES:
            raise ValueError(f"scale must be one of {FIRE_SCALES}, got {scale!r}")
        if start not in NS_STARTS:
            raise ValueError(f"start must be one of {NS_STARTS}, got {start!r}")
        self.scale, self.start = scale, start

    @property
    def params(self) -> dict:
        return {"steps": self.steps, "gain": self.gain, "scale": self.scale, "start": self.start}

    def apply_(self, model: nn.Module) -> None:
        """Orthogonalise every Linear/Conv weight of ``model`` in place."""
        with torch.no_grad():
            for layer in _weights(model):
                w = layer.weight.reshape(layer.weight.shape[0], -1)
                factor = self.gain * (math.sqrt(w.shape[0] / w.shape[1]) if self.scale == "sqrt_out_in" else 1.0)
                q = newton_schulz_orthogonalize(w, self.steps, self.start)
                layer.weight.copy_((factor * q).reshape(layer.weight.shape))

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment >= 2:
            self.apply_(model)
        return model, optimizer
