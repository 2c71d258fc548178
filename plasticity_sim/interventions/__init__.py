"""Warm-start interventions: what happens to a trained network before it sees more data.

Between-experiment interventions (``get_intervention``), each a callable
``(model, optimizer, ctx: InterventionContext) -> (model, optimizer)``:

* ``cold`` - fresh model + fresh optimizer (DASH code ``cold``)
* ``warm`` - keep weights and optimizer state (DASH code ``warm``)
* ``warm_reset_opt`` - keep weights, fresh optimizer (DASH code ``warm_rm``)
* ``shrink_perturb`` - ``mode="gaussian" | "fresh_init" | "toward_init"``
  (DASH code / Ash & Adams 2020 / Hare & Tortoise)
* ``dash`` - direction-aware shrinking, ``granularity="kernel" | "row"`` (DASH code / lucidrains)
* ``l2_init`` - warm + loss term ``.regularizer(model)``, ``form="dash" | "kumar"``
  (DASH code / Kumar et al. 2024)
* ``head_reset`` - ``model.reset_head(ctx.generator)`` (DASH code ``reset``)
* ``cbp``, ``redo``, ``hare_tortoise`` - warm + an in-training step hook (Dohare et al. 2024,
  Sokar et al. 2023, Lee et al. 2024)

All of them do nothing before experiment 1, so every method shares the first experiment.
Each returned object has ``name``, ``params`` (JSON-able), ``regularizer`` (None, or for
``l2_init`` a callable ``regularizer(model) -> tensor`` to pass to ``train_until``) and, for the
last three, ``step_hooks`` (a list to pass to ``train_until``).

In-training step hooks (``get_step_hook``), callables ``hook(model, optimizer, step)`` for
``train_until(..., step_hooks=[...])``: ``cbp`` (Continual Backprop, Dohare et al.), ``redo``
(Sokar et al.), ``hare_tortoise`` (Lee et al.). They are stateful and bound to one model; call
``hook.remove()`` (CBP, ReDo) when done to detach their forward hooks.

The same three are also available as interventions (``get_intervention("cbp", ...)`` etc.):
a warm start between experiments plus a ``step_hooks`` attribute holding one hook that binds
itself to the model at its first call (see :class:`StepHookIntervention`).

Explained in: book/dash/02_warm_starting_real_networks.ipynb
"""

from __future__ import annotations

import torch
from torch import nn

from .base import (BaseIntervention, Cold, HeadReset, Intervention, InterventionContext, Warm,
                   WarmResetOptimizer, shrinkable_modules)
from .dash import (Dash, dash_cosines, dash_gradient_ema, dash_shrink_, group_cosines,
                   shrink_factors)
from .hare_tortoise import HareTortoise
from .l2_init import L2Init, L2InitRegularizer, l2_init_regularizer
from .shrink_perturb import ShrinkPerturb, shrink_perturb_
from .unit_replacement import (ContinualBackprop, ReDo, UnitLayer, find_unit_layers,
                               replace_units_)
from .continual_remedies import (Fire, L2Continual, Parseval, ParsevalRegularizer,
                                 ShrinkPerturbContinual, WeightClipping, newton_schulz_orthogonalize)
# Hare & Tortoise part (Lee et al. 2024, §3.4 and §5.1): the method comparison's other baselines.
from .ema import OutputCapture, PlainEMA, SelfDistillation
from .ht_baselines import ArchitectureOption, Augmentation, L2Penalty, SpectralDecoupling
# The bridge part: the discrete model's ideal, built from the ground truth of feature/noise images.
from .oracle import OracleReset


class StepHookIntervention(BaseIntervention):
    """A step hook (CBP, ReDo, Hare & Tortoise) packaged as an intervention.

    Between experiments: warm (weights and optimizer kept). During training:
    ``step_hooks = [hook]`` for ``train_until``; the hook builds the underlying
    :func:`get_step_hook` object on its first call, bound to the model it is called with
    (re-built if the model object changes). Because it binds after the first optimizer step, the
    first step's activations are not seen by hooks that record activations (``RECORDS_ACTIVATIONS``:
    CBP, ReDo), and the Tortoise starts from the Hare after one step - negligible next to
    thousands of steps. ``seed`` seeds the hook's own generator for hooks that draw random numbers
    (``NEEDS_GENERATOR``; the protocol's context is not available inside training).
    :meth:`evaluation_model` asks the bound hook (the Tortoise for Hare & Tortoise).
    """

    def __init__(self, name: str, seed: int = 0, **params):
        if name not in STEP_HOOKS:
            raise ValueError(f"unknown step hook {name!r}; allowed: {', '.join(map(repr, STEP_HOOKS))}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.name, self.seed, self.hook_params = name, seed, dict(params)
        self.hook_class = STEP_HOOKS[name]
        # Build once on a throw-away model to reject bad parameters now, not mid-training.
        probe = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
        probe_hook = self._make(probe)
        getattr(probe_hook, "remove", lambda: None)()
        self.bound = None
        self._model_id = None
        self.step_hooks = [self._step]

    def _make(self, model):
        extra = {"generator": torch.Generator().manual_seed(self.seed)} \
            if getattr(self.hook_class, "NEEDS_GENERATOR", False) else {}
        return _build("step hook", STEP_HOOKS, self.name, model, **extra, **self.hook_params)

    @property
    def params(self) -> dict:
        return {"seed": self.seed, **self.hook_params}

    def evaluation_model(self, model):
        pick = getattr(self.bound, "evaluation_model", None) if self._model_id == id(model) else None
        return pick() if callable(pick) else model

    def _step(self, model, optimizer, step=None):
        if self.bound is None or self._model_id != id(model):
            if self.bound is not None:
                getattr(self.bound, "remove", lambda: None)()
            self.bound, self._model_id = self._make(model), id(model)
            if getattr(self.hook_class, "RECORDS_ACTIVATIONS", False):
                return  # no activations recorded yet
        self.bound(model, optimizer, step)

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


def _hook_intervention(name):
    def make(**params):
        return StepHookIntervention(name, **params)
    return make


INTERVENTIONS = {
    "cold": Cold,
    "warm": Warm,
    "warm_reset_opt": WarmResetOptimizer,
    "shrink_perturb": ShrinkPerturb,
    "dash": Dash,
    "l2_init": L2Init,
    "head_reset": HeadReset,
    "cbp": _hook_intervention("cbp"),
    "redo": _hook_intervention("redo"),
    "hare_tortoise": _hook_intervention("hare_tortoise"),
    "l2_every_step": L2Continual,
    "sp_continual": _hook_intervention("sp_continual"),
    "weight_clipping": _hook_intervention("weight_clipping"),
    "parseval": Parseval,
    "fire": Fire,
    "ema": _hook_intervention("ema"),
    "self_distill": SelfDistillation,
    "l2": L2Penalty,
    "spectral_decoupling": SpectralDecoupling,
    "augmentation": Augmentation,
    "architecture": ArchitectureOption,
    "oracle_reset": OracleReset,
}

STEP_HOOKS = {
    "cbp": ContinualBackprop,
    "redo": ReDo,
    "hare_tortoise": HareTortoise,
    "sp_continual": ShrinkPerturbContinual,
    "weight_clipping": WeightClipping,
    "ema": PlainEMA,
}



def _build(kind: str, registry: dict, name: str, *args, **params):
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; allowed: {', '.join(map(repr, registry))}")
    try:
        return registry[name](*args, **params)
    except TypeError as err:  # an unknown keyword: name only the ones the class does not take
        import inspect

        try:
            sig = inspect.signature(registry[name])
            known = [p for p in sig.parameters if p not in ("self", "args", "kwargs")]
            takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        except (TypeError, ValueError):
            known, takes_any = [], True
        unknown = [p for p in sorted(params) if p not in known]
        if unknown and not takes_any:
            raise ValueError(f"unknown parameter(s) {unknown} for {kind} {name!r}; its parameters: "
                             f"{', '.join(known)}") from None
        raise ValueError(f"bad parameters {sorted(params)} for {kind} {name!r}: {err}") from None


def get_intervention(name: str, **params) -> BaseIntervention:
    """Build a between-experiment intervention by name (see the module table).

    Examples: ``get_intervention("dash", granularity="kernel", lam=0.3, alpha=0.3)``,
    ``get_intervention("shrink_perturb", mode="fresh_init", shrink=0.4, perturb=0.1)``,
    ``get_intervention("l2_init", lam=1e-2)``. Unknown names, parameters or values raise
    ValueError naming them.
    """
    return _build("intervention", INTERVENTIONS, name, **params)


def get_step_hook(name: str, model, **params):
    """Build an in-training step hook bound to ``model``: "cbp", "redo" or "hare_tortoise".

    ``cbp`` and ``redo`` need ``generator=`` (a ``torch.Generator``); see
    :class:`ContinualBackprop`, :class:`ReDo`, :class:`HareTortoise` for the parameters.
    """
    return _build("step hook", STEP_HOOKS, name, model, **params)


__all__ = [
    "InterventionContext", "Intervention", "BaseIntervention", "get_intervention", "get_step_hook",
    "INTERVENTIONS", "STEP_HOOKS",
    "Cold", "Warm", "WarmResetOptimizer", "HeadReset", "ShrinkPerturb", "Dash", "L2Init",
    "StepHookIntervention",
    "dash_gradient_ema", "dash_shrink_", "shrink_factors", "dash_cosines", "group_cosines",
    "shrink_perturb_", "l2_init_regularizer", "L2InitRegularizer", "shrinkable_modules",
    "ContinualBackprop", "ReDo", "HareTortoise", "UnitLayer", "find_unit_layers", "replace_units_",
    "L2Continual", "ShrinkPerturbContinual", "WeightClipping", "Parseval", "ParsevalRegularizer",
    "Fire", "newton_schulz_orthogonalize",
    "PlainEMA", "SelfDistillation", "OutputCapture", "L2Penalty", "SpectralDecoupling", "Augmentation",
    "ArchitectureOption", "OracleReset",
]
