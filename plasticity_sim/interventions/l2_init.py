"""L2-Init (regenerative regularisation): a loss term pulling the weights back to their initial values.

Two published forms, as named options of one function:

* ``form="dash"`` - the official DASH code (``utils/train_utils.py::l2_init``, ``train_type='l2_init'``):
  ``lam * (sum over modules that have a .weight of ||W - W_init||_F)^2``. Note the *square of the
  sum* of per-layer Frobenius norms (not a sum of squares), that only ``.weight`` tensors count
  (biases are free), and that BatchNorm/LayerNorm weights are included because they have a
  ``.weight``. ``init_model`` there is a deep copy of the model taken right after construction.
  Default ``lam=1e-2`` (``main.py``; the Gaudi port and the developer command builder use 1e-5).
* ``form="kumar"`` - Kumar et al. (2024), "Maintaining plasticity in continual learning via
  regenerative regularization": ``lam * ||theta - theta_init||_2^2`` over *all* parameters
  (weights and biases), i.e. a per-parameter sum of squares. Hare & Tortoise's "Regen" baseline.

Between experiments L2-Init is a warm start (weights and optimizer kept); its effect is the loss
term, handed to ``train_until(..., regularizer=...)``.
"""

from __future__ import annotations

import torch
from torch import nn

from plasticity_sim.checks import check_choice, check_range
from .base import BaseIntervention

FORMS = ("dash", "kumar")


def _penalised_names(model: nn.Module, form: str) -> list[str]:
    """Parameter names the penalty covers: every module's ``.weight`` ("dash") or all ("kumar")."""
    if form == "kumar":
        return [n for n, _ in model.named_parameters()]
    names = []
    for mname, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor):  # DASH code: hasattr(m, 'weight') and m.weight is not None
            names.append(f"{mname}.weight" if mname else "weight")
    return names


class L2InitRegularizer:
    """Callable ``regularizer(model) -> scalar tensor`` for ``train_until``.

    Holds a private copy of the initial tensors (so later in-place updates of a live
    ``state_dict`` cannot alias them) and moves it once to the parameters' device/dtype.
    """

    def __init__(self, initial_state: dict, lam: float = 1e-2, form: str = "dash"):
        check_choice("l2_init form", form, FORMS)
        self.lam = check_range("lam", lam, 0.0, float("inf"))
        self.form = form
        self.initial = {k: v.detach().clone() for k, v in initial_state.items()
                        if isinstance(v, torch.Tensor)}

    def _init_like(self, name: str, p: torch.Tensor) -> torch.Tensor:
        if name not in self.initial:
            raise ValueError(f"initial_state has no entry {name!r}; it does not match the model")
        w0 = self.initial[name]
        if w0.shape != p.shape:
            raise ValueError(f"initial_state[{name!r}] has shape {tuple(w0.shape)}, "
                             f"the model's has {tuple(p.shape)}")
        if w0.device != p.device or w0.dtype != p.dtype:
            w0 = self.initial[name] = w0.to(p.device, p.dtype)
        return w0

    def __call__(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        # buffers are never penalised, but a module's .weight might be a plain tensor
        tensors = {**dict(model.named_buffers()), **params}
        terms = []
        for name in _penalised_names(model, self.form):
            p = tensors.get(name)
            if p is None:  # a .weight that is neither parameter nor buffer: nothing to anchor
                continue
            diff = p - self._init_like(name, p)
            if self.form == "dash":
                terms.append(torch.linalg.vector_norm(diff))
            else:
                terms.append(diff.pow(2).sum())
        if not terms:
            return torch.zeros((), device=next(model.parameters()).device)
        total = torch.stack(terms).sum()
        return self.lam * (total ** 2 if self.form == "dash" else total)


def l2_init_regularizer(initial_state: dict, lam: float = 1e-2, form: str = "dash") -> L2InitRegularizer:
    """Build the L2-Init loss term ``regularizer(model) -> tensor`` (forms: "dash", "kumar").
    """
    return L2InitRegularizer(initial_state, lam, form)


class L2Init(BaseIntervention):
    """L2-Init as an intervention: warm between experiments, plus ``.regularizer(model)``.

    Pass ``intervention.regularizer`` to ``train_until(..., regularizer=...)`` for every
    experiment, including the first. The initial weights are taken from ``ctx.initial_state``
    when the intervention is first called, or given explicitly with :meth:`bind`. If the
    regulariser is evaluated before either happened, it snapshots the model's parameters at that
    first call - the first loss evaluation comes before the first optimizer step, so these are the
    initial weights (the DASH code's ``init_model = deepcopy(model)`` right after construction).
    """

    name = "l2_init"

    def __init__(self, lam: float = 1e-2, form: str = "dash"):
        check_choice("l2_init form", form, FORMS)
        self.lam = check_range("lam", lam, 0.0, float("inf"))
        self.form = form
        self._reg: L2InitRegularizer | None = None

    @property
    def params(self) -> dict:
        return {"lam": self.lam, "form": self.form}

    def bind(self, initial_state: dict) -> None:
        """Use ``initial_state`` (a ``state_dict``) as the anchor of the penalty."""
        self._reg = L2InitRegularizer(initial_state, self.lam, self.form)

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        """The loss term for the current ``model`` (see the class docstring for the anchor)."""
        if self._reg is None:
            self.bind(dict(model.named_parameters()))
        return self._reg(model)

    def __call__(self, model, optimizer, ctx):
        if self._reg is None and ctx.initial_state is not None:
            self.bind(ctx.initial_state)
        return model, optimizer
