"""Hare & Tortoise (Lee, Cho, Kim, Kim, Min, Choo, Lyle; ICML 2024) as a training step hook.

Two networks of the same architecture: the *Hare* (the model being trained) and the *Tortoise*
(never trained by gradients). After every optimizer step on the Hare:

1. Tortoise EMA: ``theta_t <- mu * theta_t + (1 - mu) * theta_h``   (their §4.2 equation; the
   transcribed Algorithm 1 listing swaps h and t - the equation is the correct one);
2. every ``reset_every`` steps: hard reset of the Hare to the Tortoise, ``theta_h <- theta_t``.

Predictions and evaluation use the Tortoise (their §4.3): evaluate ``hook.tortoise``, or copy it
into the model with :meth:`HareTortoise.load_tortoise_into`. The paper uses ``mu = 0.999`` and a
reset every 10 epochs in its warm-start and continual experiments (``mu = 0.995``, every 4,000
updates, for RL). Source: Lee et al., ICML 2024, arXiv:2406.02596.

**Direction of the EMA.** The paper's Algorithm 1, as printed, writes the EMA
line backwards (``h.params = m*h.params + (1-m)*t.params``, which would drag the *Hare* toward the
Tortoise every step); the §4.2 equation, ``theta_t <- mu theta_t + (1 - mu) theta_h``, is the right
one and is what :meth:`HareTortoise.update_tortoise` does (the tests check the direction).

Not in the paper (its code was not available to us): whether BatchNorm running statistics are
averaged too. ``ema_buffers=True`` (default) averages floating-point buffers like parameters and
copies integer ones (``num_batches_tracked``); ``False`` copies all buffers from the Hare. The
optimizer state is left alone at a reset (the paper does not mention it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from plasticity_sim.checks import check_range


def check_momentum(momentum) -> float:
    """``float(momentum)`` if it is in [0, 1), else a ``ValueError`` naming it (mu = 1 never learns)."""
    mu = check_range("momentum (mu)", momentum, 0.0, 1.0)
    if mu >= 1.0:
        raise ValueError(f"momentum (mu) must be in [0, 1): mu = 1 would freeze the Tortoise, got {momentum!r}")
    return mu


class HareTortoise:
    """Step hook ``hook(model, optimizer, step)``: Tortoise EMA every call, Hare reset every k calls.

    Steps are counted by the hook itself (calls since creation, across experiments), so the
    ``step`` argument is ignored; the Hare is reset after calls ``k, 2k, 3k, ...``. The Tortoise
    starts as a copy of the model at creation time.
    """

    NEEDS_GENERATOR = False
    RECORDS_ACTIVATIONS = False

    def __init__(self, model: nn.Module, *, momentum: float = 0.999, reset_every: int = 1000,
                 ema_buffers: bool = True):
        self.momentum = check_momentum(momentum)
        if isinstance(reset_every, bool) or not isinstance(reset_every, (int, float)) \
                or int(reset_every) != reset_every or reset_every < 1:
            raise ValueError(f"reset_every (r) must be a positive integer number of steps, "
                             f"got {reset_every!r}")
        self.reset_every = int(reset_every)
        self.ema_buffers = bool(ema_buffers)
        self.tortoise = copy.deepcopy(model)
        for p in self.tortoise.parameters():
            p.requires_grad_(False)
        self.calls = 0
        self.resets = 0

    def _pairs(self, model: nn.Module):
        """Matching (tortoise tensor, hare tensor, is_buffer) triples, checked by name."""
        mine = {**dict(self.tortoise.named_parameters()), **dict(self.tortoise.named_buffers())}
        buffers = {n for n, _ in model.named_buffers()}
        for name, hare in [*model.named_parameters(), *model.named_buffers()]:
            if name not in mine or mine[name].shape != hare.shape:
                raise ValueError(f"model does not match the tortoise at {name!r}")
            yield mine[name], hare, name in buffers

    @torch.no_grad()
    def update_tortoise(self, model: nn.Module) -> None:
        """``theta_t <- mu theta_t + (1 - mu) theta_h`` (buffers: see ``ema_buffers``)."""
        mu = self.momentum
        for t, h, is_buffer in self._pairs(model):
            if (is_buffer and not self.ema_buffers) or not t.is_floating_point():
                t.copy_(h)
            else:
                t.mul_(mu).add_(h.to(t.dtype), alpha=1 - mu)

    def evaluation_model(self) -> nn.Module:
        """The network the paper evaluates and predicts with: the Tortoise."""
        return self.tortoise

    @torch.no_grad()
    def load_tortoise_into(self, model: nn.Module) -> None:
        """Copy every Tortoise parameter and buffer into ``model`` (the Hare reset)."""
        for t, h, _ in self._pairs(model):
            h.copy_(t)

    def __call__(self, model, optimizer=None, step=None) -> None:
        self.calls += 1
        self.update_tortoise(model)
        if self.calls % self.reset_every == 0:
            self.load_tortoise_into(model)
            self.resets += 1
