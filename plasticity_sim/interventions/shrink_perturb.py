"""Shrink & Perturb: the three published variants as named modes of one function.

* ``mode="gaussian"`` - official DASH code (``weight_sp`` in ``models/*.py``, ``train_type='sp'``):
  every Conv/Linear weight and bias ``theta <- shrink * theta + N(0, noise_std^2)`` element-wise,
  norm layers untouched; defaults ``shrink=0.3`` (``--sp_lambda``), ``noise_std=0.01``.
* ``mode="fresh_init"`` - Ash & Adams (2020), code JordanAsh/warm_start ``run.py::shrink_perturb``:
  every learnable parameter ``theta <- shrink * theta + perturb * theta_fresh`` where
  ``theta_fresh`` comes from a freshly initialised model ("using a randomly-initialized model as a
  noise source respects how different kinds of parameters are often initialized differently");
  defaults ``shrink=0.4, perturb=0.1`` (their ``run.py`` defaults and README example).
* ``mode="toward_init"`` - the S&P baseline of Hare & Tortoise (their App. A.4): shrink only, as
  an interpolation toward the *initial* weights, ``theta <- (1 - toward) theta + toward theta_init``
  on every learnable parameter; default ``toward=0.8`` (their best, "0.8 theta_init + 0.2 theta").

Common choices (why): buffers - BatchNorm running statistics - are never changed, so the limit
cases are exact: ``shrink=1`` without noise (or ``toward=0``) is bit-for-bit a warm start, and
``shrink=0, perturb=1`` gives exactly the fresh model's parameters (= cold's weights). Ash & Adams'
``run.py`` returns the fresh module itself, so there BN statistics are also fresh; that only
matters in eval mode and is re-estimated within the first steps. The optimizer is kept, as in the
DASH code (Ash & Adams rebuild it every round: pass ``reset_optimizer=True`` for that).
"""

from __future__ import annotations

import torch
from torch import nn

from plasticity_sim.checks import check_choice, check_range
from .base import BaseIntervention, shrinkable_modules

MODES = ("gaussian", "fresh_init", "toward_init")
DEFAULTS = {
    "gaussian": {"shrink": 0.3, "noise_std": 0.01},
    "fresh_init": {"shrink": 0.4, "perturb": 0.1},
    "toward_init": {"toward": 0.8},
}


def _resolve(mode: str, params: dict) -> dict:
    """Fill in the mode's defaults; reject parameters the mode does not use, and bad values."""
    check_choice("shrink_perturb mode", mode, MODES)
    unknown = sorted(set(params) - set(DEFAULTS[mode]))
    if unknown:
        raise ValueError(f"shrink_perturb mode {mode!r} does not take {unknown}; "
                         f"its parameters: {sorted(DEFAULTS[mode])}")
    out = {**DEFAULTS[mode], **params}
    for k in ("shrink", "toward"):
        if k in out:
            out[k] = check_range(k, out[k], 0.0, 1.0)
    for k in ("noise_std", "perturb"):
        if k in out:
            out[k] = check_range(k, out[k], 0.0, float("inf"))
    return out


def shrink_perturb_(model: nn.Module, mode: str = "gaussian", *,
                    generator: torch.Generator | None = None,
                    fresh_model: nn.Module | None = None,
                    initial_state: dict | None = None, **params) -> None:
    """Apply Shrink & Perturb to ``model`` in place (see the module docstring for the modes).

    Args:
        mode: "gaussian" (DASH code), "fresh_init" (Ash & Adams), "toward_init" (Hare & Tortoise).
        generator: noise source for "gaussian" (required when ``noise_std > 0``); the noise is
            drawn on the generator's device, then moved to the parameter's device.
        fresh_model: a freshly initialised model of the same architecture ("fresh_init").
        initial_state: ``state_dict`` of the first initialisation ("toward_init").
        **params: ``shrink``/``noise_std`` | ``shrink``/``perturb`` | ``toward``.
    """
    p = _resolve(mode, params)
    with torch.no_grad():
        if mode == "gaussian":
            if p["noise_std"] > 0 and generator is None:
                raise ValueError("shrink_perturb mode 'gaussian' with noise_std > 0 needs a generator")
            for _, module in shrinkable_modules(model):
                for w in module.parameters(recurse=False):
                    w.mul_(p["shrink"])
                    if p["noise_std"] > 0:
                        noise = torch.randn(w.shape, generator=generator, device=generator.device,
                                            dtype=w.dtype)
                        w.add_(noise.to(w.device) * p["noise_std"])
        elif mode == "fresh_init":
            if fresh_model is None:
                raise ValueError("shrink_perturb mode 'fresh_init' needs fresh_model")
            fresh = dict(fresh_model.named_parameters())
            for name, w in model.named_parameters():
                if name not in fresh or fresh[name].shape != w.shape:
                    raise ValueError(f"fresh_model does not match the model at parameter {name!r}")
                w.mul_(p["shrink"]).add_(fresh[name].to(w.device, w.dtype) * p["perturb"])
        else:  # toward_init
            if initial_state is None:
                raise ValueError("shrink_perturb mode 'toward_init' needs initial_state")
            b = p["toward"]
            for name, w in model.named_parameters():
                if name not in initial_state or initial_state[name].shape != w.shape:
                    raise ValueError(f"initial_state does not match the model at parameter {name!r}")
                w.mul_(1.0 - b).add_(initial_state[name].to(w.device, w.dtype) * b)


class ShrinkPerturb(BaseIntervention):
    """Shrink & Perturb between experiments (no-op before experiment 1); keeps the optimizer.

    ``get_intervention("shrink_perturb", mode=..., **params)``. ``fresh_init`` builds its noise
    model with ``ctx.make_fresh_model()``; ``toward_init`` uses ``ctx.initial_state``;
    ``gaussian`` draws from ``ctx.generator``. ``reset_optimizer=True`` rebuilds the optimizer
    afterwards, as Ash & Adams' ``run.py`` does.
    """

    name = "shrink_perturb"

    def __init__(self, mode: str = "gaussian", reset_optimizer: bool = False, **params):
        self.mode = mode
        self.values = _resolve(mode, params)
        self.reset_optimizer = bool(reset_optimizer)

    @property
    def params(self) -> dict:
        return {"mode": self.mode, **self.values, "reset_optimizer": self.reset_optimizer}

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        fresh = ctx.make_fresh_model() if self.mode == "fresh_init" else None
        shrink_perturb_(model, self.mode, generator=ctx.generator, fresh_model=fresh,
                        initial_state=ctx.initial_state, **self.values)
        if self.reset_optimizer:
            optimizer = ctx.make_optimizer(model.parameters())
        return model, optimizer
