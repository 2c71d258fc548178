"""Plain EMA and self-distillation toward the EMA: Hare & Tortoise's two comparisons (their §5.1).

Lee et al. (ICML 2024) compare Hare & Tortoise with the two things it is made of:

* **EMA** (Tarvainen & Valpola 2017): a slow network ``theta_t <- mu theta_t + (1 - mu) theta_h``
  after every step, evaluated instead of the trained one - Hare & Tortoise *without* the resets
  (:class:`PlainEMA`, a step hook; ``get_intervention("ema")`` wraps it);
* **self-distillation toward the EMA** (:class:`SelfDistillation`): the same EMA teacher, plus a
  loss term pulling the trained network's outputs toward the teacher's on the same batch, strength
  in {1, 5, 10} in the paper; ``mu = 0.999`` for both.

The paper does not write the distillation loss. Here it is the mean squared difference of the
logits, ``strength * mean((f_h(x) - f_t(x))^2)``, on each training batch [R - reconstructed];
whether the trained network or the EMA teacher is evaluated is a parameter (``evaluate``,
default ``"teacher"``, as for EMA and Hare & Tortoise).

The loss term goes through ``train_until``'s ``regularizer(model)`` hook, which sees only the
model: :class:`OutputCapture` keeps the last forward call's input and output (a forward hook), so
the regulariser can compute the teacher's logits on the same batch without a change to the loop.
"""

from __future__ import annotations

import torch
from torch import nn

from plasticity_sim.checks import check_range

from .base import BaseIntervention
from .hare_tortoise import HareTortoise, check_momentum


class PlainEMA(HareTortoise):
    """Step hook: the Tortoise's EMA after every step, and never a reset (plain EMA).

    ``evaluation_model()`` returns the EMA network. Parameters and buffers are averaged exactly as
    in :class:`HareTortoise` (``ema_buffers``).
    """

    def __init__(self, model: nn.Module, *, momentum: float = 0.999, ema_buffers: bool = True):
        super().__init__(model, momentum=momentum, reset_every=1, ema_buffers=ema_buffers)
        self.reset_every = None

    def __call__(self, model, optimizer=None, step=None) -> None:
        self.calls += 1
        self.update_tortoise(model)


class OutputCapture:
    """Forward hook on ``model`` keeping the last call's input batch and output (with its graph).

    ``remove()`` detaches it. Used by loss terms that need the batch (self-distillation,
    spectral decoupling) through ``train_until``'s ``regularizer(model)`` hook.
    """

    def __init__(self, model: nn.Module):
        self.model_id = id(model)
        self.inputs = None
        self.output = None
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.inputs, self.output = inputs[0], output

    def remove(self) -> None:
        self.handle.remove()


class CapturingIntervention(BaseIntervention):
    """Warm between phases; a loss term that reads the last batch through an :class:`OutputCapture`
    bound to the model at its first forward pass (re-bound if the model object changes)."""

    def __init__(self):
        self.capture = None

    def _bind(self, model: nn.Module) -> None:
        if self.capture is None or self.capture.model_id != id(model):
            if self.capture is not None:
                self.capture.remove()
            self.capture = OutputCapture(model)
            self._bound(model)

    def _bound(self, model) -> None:  # subclasses: called once per new model
        pass

    def step_hooks_for(self):
        return [self._step]

    def _step(self, model, optimizer, step=None):
        self._bind(model)

    def __call__(self, model, optimizer, ctx):
        self._bind(model)
        return model, optimizer


class SelfDistillation(CapturingIntervention):
    """EMA teacher (``momentum``) + ``strength * mean((f(x) - f_teacher(x))^2)`` on each batch.

    Between phases: warm. During training: ``regularizer(model)`` (pass to ``train_until``) and
    ``step_hooks`` (the teacher's EMA update after every step). The teacher is a copy of the model
    when the intervention first sees it (at the first step, or when called between phases). The
    first batch of a run is not distilled (no captured output yet: the capture binds at the first
    step). ``evaluation_model(model)``: the teacher (``evaluate="teacher"``) or the model.
    """

    name = "self_distill"

    def __init__(self, momentum: float = 0.999, strength: float = 1.0, evaluate: str = "teacher"):
        super().__init__()
        self.momentum = check_momentum(momentum)
        self.strength = float(strength)
        if isinstance(strength, bool) or not (self.strength >= 0) or self.strength == float("inf"):
            raise ValueError(f"strength must be a finite number >= 0, got {strength!r}")
        if evaluate not in ("teacher", "model"):
            raise ValueError(f"evaluate={evaluate!r}; allowed: 'teacher', 'model'")
        self.evaluate = evaluate
        self.teacher: PlainEMA | None = None
        self.step_hooks = [self._step]

    @property
    def params(self) -> dict:
        return {"momentum": self.momentum, "strength": self.strength, "evaluate": self.evaluate}

    def _bound(self, model) -> None:
        self.teacher = PlainEMA(model, momentum=self.momentum)

    def _step(self, model, optimizer, step=None):
        if self.capture is None or self.capture.model_id != id(model):
            self._bind(model)
        else:
            self.teacher(model)

    def regularizer(self, model: nn.Module) -> torch.Tensor:
        if self.capture is None or self.capture.model_id != id(model) or self.capture.output is None:
            return torch.zeros(())
        student = self.capture.output
        t = self.teacher.tortoise
        with torch.no_grad():
            t.eval()   # the teacher only predicts: no BatchNorm statistics updated, no dropout
            target = t(self.capture.inputs)
        return self.strength * (student - target).pow(2).mean()

    def evaluation_model(self, model: nn.Module) -> nn.Module:
        if self.evaluate == "teacher" and self.teacher is not None and self.capture.model_id == id(model):
            return self.teacher.tortoise
        return model


__all__ = ["PlainEMA", "SelfDistillation", "OutputCapture", "check_range"]
