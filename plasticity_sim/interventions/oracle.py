"""The oracle ideal on a patch CNN: warm start with the noise-fitted units reset, by ground truth.

The discrete model's *ideal* learner keeps every learned feature and forgets every memorised point.
A real network has no such switch, but on feature/noise images (``make_feature_noise``) we know the
feature patterns, so an oracle can build it for the patch CNN (:class:`plasticity_sim.models.PatchCNN`),
whose units are patch-shaped filters: a filter is *noise-fitted* when its best cos² with a noise
patch of the points seen so far stands higher above chance than its best cos² with a feature
pattern. Chance is the median of the same maximum over freshly drawn filters (there are many more
noise patches than patterns, so raw maxima would call every filter noise). Those filters are drawn
afresh (their conv row and head column from ``ctx.make_fresh_model()``); the others are kept. The
memorised points then lose what fitted them and become active again - the ideal's state - while
the learned features stay. The optimizer is rebuilt, because the reset units' Adam moments belong
to the filters they replaced.

The noise patches are read from the seen images themselves: every non-empty patch slot that is not
one of the known patterns (|cos| > 0.999) is noise. No other method may look at ``patterns``.

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations

import numpy as np
import torch

from .base import BaseIntervention


def slot_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Every patch slot of images ``x`` (n, ch, H, W), flattened: (n * slots, ch * patch * patch)."""
    n, ch = x.shape[:2]
    p = torch.nn.functional.unfold(x, kernel_size=patch, stride=patch)   # (n, ch*s*s, slots)
    return p.transpose(1, 2).reshape(-1, ch * patch * patch)


def _cos2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    an = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    bn = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (an @ bn.T) ** 2


class OracleReset(BaseIntervention):
    """Reset the patch CNN's noise-fitted filters (see the module docstring); ``patterns`` (C*K, d)."""

    name = "oracle_reset"

    def __init__(self, patterns=None):
        if patterns is None:
            raise ValueError("oracle_reset needs patterns= (the data's feature patterns, from its ground "
                             "truth); it runs only where the truth is known (protocol feature_chunked)")
        p = np.asarray(patterns, dtype=np.float32)
        self.patterns = torch.from_numpy(p.reshape(-1, int(np.prod(p.shape[-3:])) if p.ndim > 2 else p.shape[-1]))
        self.last_reset = 0

    @property
    def params(self) -> dict:
        return {"patterns": f"{tuple(self.patterns.shape)} ground-truth feature patterns"}

    def noise_fitted(self, model, x_seen: torch.Tensor, fresh) -> torch.Tensor:
        """Bool (filters,): filters aligned with a seen noise patch more, relative to chance (the
        fresh model's filters), than with any feature pattern."""
        conv = getattr(model, "conv", None)
        if conv is None or conv.kernel_size != conv.stride:
            raise ValueError(f"oracle_reset needs a patch CNN (conv with kernel = stride), got {type(model).__name__}")
        w = conv.weight.detach().reshape(conv.out_channels, -1).cpu()
        if w.shape[1] != self.patterns.shape[1]:
            raise ValueError(f"filters have dimension {w.shape[1]} but the patterns {self.patterns.shape[1]}")
        patches = slot_patches(x_seen.detach().cpu(), conv.kernel_size[0])
        patches = patches[patches.abs().sum(1) > 0]
        is_feature = _cos2(patches, self.patterns).max(1).values > 0.999 ** 2
        noise = patches[~is_feature]
        if not len(noise):
            return torch.zeros(len(w), dtype=torch.bool)
        w0 = fresh.conv.weight.detach().reshape(len(w), -1).cpu()

        def relative(vectors):
            return _cos2(w, vectors).max(1).values / _cos2(w0, vectors).max(1).values.median()

        return relative(noise) > relative(self.patterns)

    def __call__(self, model, optimizer, ctx):
        if ctx.experiment < 2:
            return model, optimizer
        fresh = ctx.make_fresh_model()
        reset = self.noise_fitted(model, ctx.x_seen, fresh)
        self.last_reset = int(reset.sum())
        with torch.no_grad():
            model.conv.weight[reset] = fresh.conv.weight[reset].to(model.conv.weight.device)
            model.head.weight[:, reset] = fresh.head.weight[:, reset].to(model.head.weight.device)
        return model, ctx.make_optimizer(model.parameters())
