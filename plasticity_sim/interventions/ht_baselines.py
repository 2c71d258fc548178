"""The other baselines of Hare & Tortoise's method comparison (their §3.4 / App. A.4, Table 7).

* :class:`L2Penalty` - plain L2 regularisation, ``lam * sum ||W||^2`` over Linear/Conv weights
  (a "generalisation" method; the grid is {1, 0.1, 0.01, 1e-3, 1e-4});
* :class:`SpectralDecoupling` - Pezeshki et al. (2021): ``lam * mean ||logits||^2``
  (a "trainability" method; grid {1, ..., 1e-5});
* :class:`Augmentation` - random crop with ``pad`` zero padding (and a horizontal flip for
  images), the paper's "Aug"; for 1-D signals (MNIST-1D) the crop is a random shift of up to
  ``pad`` positions - the same operation one dimension lower [R - our 1-D analogue]. It is
  ``plasticity_sim.data.augment_batch``'s ``"per_axis"`` variant;
* :class:`ArchitectureOption` - a method that is a *model* choice (CReLU): it asks the protocol
  to build the network as ``model`` (``"mlp_crelu"``) and is warm between phases.

All are warm between phases and act during training (both phases of the warm-start protocol):
through ``regularizer(model)``, ``augment(x_batch, generator)`` or ``model`` / ``model_kwargs``, which the
protocols pass to ``train_until`` / the model factory.
"""

from __future__ import annotations

import torch
from torch import nn

from plasticity_sim.data.transforms import augment_batch
from plasticity_sim.registry import MODEL_NAMES

from .base import BaseIntervention, shrinkable_modules
from .ema import CapturingIntervention


def _check_lam(lam) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not (0 <= lam < float("inf")):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    return float(lam)


class L2Penalty(BaseIntervention):
    """Warm between phases; loss term ``lam * sum over Linear/Conv weights of ||W||_2^2``."""

    name = "l2"

    def __init__(self, lam: float = 1e-3):
        self.lam = _check_lam(lam)

    @property
    def params(self) -> dict:
        return {"lam": self.lam}

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        return self.lam * sum(m.weight.pow(2).sum() for _, m in shrinkable_modules(model))

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


class SpectralDecoupling(CapturingIntervention):
    """Warm between phases; loss term ``lam * mean over the batch of ||logits||_2^2``
    (Pezeshki et al. 2021), on the logits of the batch being trained (see ``OutputCapture``)."""

    name = "spectral_decoupling"

    def __init__(self, lam: float = 1e-3):
        super().__init__()
        self.lam = _check_lam(lam)
        self.step_hooks = [self._step]

    @property
    def params(self) -> dict:
        return {"lam": self.lam}

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        if self.capture is None or self.capture.model_id != id(model) or self.capture.output is None:
            self._bind(model)
            return torch.zeros(())
        return self.lam * self.capture.output.pow(2).sum(dim=1).mean()


class Augmentation(BaseIntervention):
    """Warm between phases; ``augment(x_batch, generator)`` for ``train_until``: random crops
    (``pad``) and flips. Draws from its own generator seeded with ``seed`` (the batch order's
    generator is left alone, so runs with and without augmentation see the same batches)."""

    name = "augmentation"

    def __init__(self, pad: int = 4, flip: bool = True, seed: int = 0):
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be an int >= 0, got {pad!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.pad, self.flip, self.seed = pad, bool(flip), seed
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def params(self) -> dict:
        return {"pad": self.pad, "flip": self.flip, "seed": self.seed}

    def augment(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        # The "per_axis" variant: the draws (and 1-D behaviour: shifts, no mirror) the shipped
        # results/hare_tortoise/table7 runs were made with.
        return augment_batch(x, self.generator, pad=self.pad, flip=self.flip, variant="per_axis")

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


class ArchitectureOption(BaseIntervention):
    """A method that is an architecture choice: the protocol builds the network as ``model`` (a
    name of ``models.build_model``, e.g. ``"mlp_crelu"`` for CReLU) with the run's
    ``model_kwargs`` updated by ``model_kwargs``; warm between phases."""

    name = "architecture"

    def __init__(self, model: str = "mlp_crelu", model_kwargs: dict | None = None):
        if model not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODEL_NAMES)}")
        if not isinstance(model_kwargs or {}, dict):
            raise ValueError(f"model_kwargs must be a dict of model options, got {model_kwargs!r}")
        self.model, self.model_kwargs = model, dict(model_kwargs or {})

    @property
    def params(self) -> dict:
        return {"model": self.model, "model_kwargs": dict(self.model_kwargs)}

    def __call__(self, model, optimizer, ctx):
        return model, optimizer
