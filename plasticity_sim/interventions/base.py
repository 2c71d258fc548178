"""What every warm-start intervention shares: the context it sees, and the four simplest ones.

An *intervention* runs between two experiments of the chunked protocol: after experiment j-1 has
been trained, before experiment j starts. It receives the trained model and its optimizer and
returns the pair to train next (possibly the same objects, changed in place). This module holds:

* :class:`InterventionContext` - everything an intervention may need besides model and optimizer;
* the baselines of the official DASH code (``post_training_actions`` in ``utils/train_utils.py``):
  :class:`Cold`, :class:`Warm`, :class:`WarmResetOptimizer` (their ``warm_rm``), :class:`HeadReset`;
* small helpers shared by the other modules (which layers count as "shrinkable").

Every intervention here is a no-op before experiment 1 (``ctx.experiment == 1``): in the DASH code
these actions run *after* an experiment, so all methods share the same first experiment - same
initial weights, same first training run - and differ only from experiment 2 on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

# The layers whose weights the DASH code shrinks / perturbs. The official code only has
# nn.Conv2d and nn.Linear (its models are 2-D); Conv1d is the same rule one dimension lower and
# is needed for the 1-D CNN on MNIST-1D.
SHRINKABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


@dataclass
class InterventionContext:
    """Everything an intervention may use besides the model and its optimizer.

    Attributes:
        experiment: 1-based index of the experiment about to start (DASH acts only when >= 2).
        x_seen, y_seen: all training data so far, in arrival order (chunk 1 first).
        chunk_size: examples per chunk (DASH's gradient batches are exactly one chunk).
        generator: the only source of randomness an intervention may use.
        initial_state: ``state_dict`` of the model at its very first initialisation
            (used by ``shrink_perturb(mode="toward_init")`` and ``l2_init``), or None.
        make_fresh_model: returns a freshly initialised model of the same architecture,
            on the training device.
        make_optimizer: builds the run's optimizer over the given parameters.
    """

    experiment: int
    x_seen: torch.Tensor
    y_seen: torch.Tensor
    chunk_size: int
    generator: torch.Generator
    initial_state: dict | None
    make_fresh_model: Callable[[], nn.Module]
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

    def __post_init__(self):
        if int(self.experiment) < 1:
            raise ValueError(f"experiment must be >= 1 (1-based), got {self.experiment!r}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {self.chunk_size!r}")
        if len(self.x_seen) != len(self.y_seen):
            raise ValueError(
                f"x_seen and y_seen differ in length: {len(self.x_seen)} vs {len(self.y_seen)}")


# The contract's type: (model, optimizer, context) -> (model, optimizer).
Intervention = Callable[[nn.Module, torch.optim.Optimizer, InterventionContext],
                        tuple[nn.Module, torch.optim.Optimizer]]


class BaseIntervention:
    """Base class: a named, parameterised callable ``(model, optimizer, ctx) -> (model, optimizer)``.

    Subclasses set ``name`` and implement ``__call__``. ``regularizer`` is None unless the method
    adds a loss term during training (only ``l2_init``); ``params`` records the arguments so runs
    can store them in their JSON results.
    """

    name = "base"
    regularizer = None
    step_hooks: tuple = ()

    @property
    def params(self) -> dict:
        return {}

    def evaluation_model(self, model: nn.Module) -> nn.Module:
        """The network to evaluate: ``model`` itself, except for methods that evaluate another
        network they keep (Hare & Tortoise evaluates the Tortoise)."""
        return model

    def __call__(self, model, optimizer, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class Cold(BaseIntervention):
    """Cold start: a brand-new model from ``ctx.make_fresh_model()`` and a new optimizer.

    Source: official DASH code, ``post_training_actions`` (``train_type == 'cold'``). The DASH code
    continues the global PyTorch RNG; here freshness comes from whatever generator
    ``make_fresh_model`` was built with.
    """

    name = "cold"

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        fresh = ctx.make_fresh_model()
        return fresh, ctx.make_optimizer(fresh.parameters())


class Warm(BaseIntervention):
    """Warm start: keep the weights AND the optimizer state (e.g. SGD momentum buffers).

    Source: official DASH code, ``train_type == 'warm'`` (nothing happens between experiments).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """

    name = "warm"

    def __call__(self, model, optimizer, ctx):
        return model, optimizer


class WarmResetOptimizer(BaseIntervention):
    """Warm start with a fresh optimizer: keep the weights, drop momentum / Adam moments.

    Source: official DASH code, ``train_type == 'warm_rm'`` ("Warm ReM" in the paper's appendix).
    """

    name = "warm_reset_opt"

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        return model, ctx.make_optimizer(model.parameters())


class HeadReset(BaseIntervention):
    """Head reset: re-initialise only the classifier head, keep the body and the optimizer.

    Calls ``model.reset_head(ctx.generator)`` (the models' contract). Source: official DASH code,
    ``train_type == 'reset'`` (``fc_reset``: ResNet ``fc``, VGG's whole classifier, MLP ``fc3``),
    which keeps the optimizer object - so stale momentum of the head parameters survives, as here.
    The DASH code re-seeds the global RNG with ``seed * j``; we draw from ``ctx.generator``
    instead. Also the "Head Reset" baseline of Hare & Tortoise (their App. A.4, Nikishin et al.).

    ``to="fresh"`` (default, the DASH code) draws a new head; ``to="initial"`` puts the head back to
    the weights it had at the model's very first initialisation (``ctx.initial_state``), the other
    reading of "reset" in the Hare & Tortoise baseline. Method ``head_reset_init``.
    """

    name = "head_reset"
    TARGETS = ("fresh", "initial")

    def __init__(self, to: str = "fresh"):
        if to not in self.TARGETS:
            raise ValueError(f"unknown head reset target to={to!r}; allowed: {', '.join(self.TARGETS)}")
        self.to = to

    @property
    def params(self) -> dict:
        return {} if self.to == "fresh" else {"to": self.to}

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        reset = getattr(model, "reset_head", None)
        if not callable(reset):
            raise ValueError(
                f"head_reset needs a model with reset_head(generator); "
                f"{type(model).__name__} has none (use plasticity_sim.models.build_model)")
        if self.to == "fresh":
            reset(ctx.generator)
            return model, optimizer
        if ctx.initial_state is None:
            raise ValueError("head_reset with to='initial' needs the model's initial weights "
                             "(ctx.initial_state); this protocol does not keep them: use to='fresh'")
        prefix = next(name for name, m in model.named_modules() if m is model.head)
        with torch.no_grad():
            for name, value in model.head.state_dict().items():
                value.copy_(ctx.initial_state[f"{prefix}.{name}" if prefix else name])
        return model, optimizer


def shrinkable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs whose weights/biases DASH and Gaussian S&P act on, in model order.

    Norm layers (BatchNorm, LayerNorm, ...) are never included: the official DASH code only
    touches ``nn.Conv2d`` and ``nn.Linear`` (we add ``nn.Conv1d``, the same rule in 1-D).
    """
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SHRINKABLE)]
