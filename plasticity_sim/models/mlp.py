"""Multi-layer perceptrons: the plain MLP (optionally with BatchNorm), its layer-norm variant for the
continual part's "layer norm + weight decay" remedy, and the CReLU MLP of the Hare & Tortoise part.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.checks import check_positive_int

from .base import PlasticityModel


# ----------------------------------------------------------------------------- MLP
class MLP(PlasticityModel):
    """`depth` Linear layers: (depth-1) blocks Linear -> [BatchNorm1d] -> ReLU, then a Linear head.

    The DASH paper's `mlp_bn` is depth=3, batchnorm=True, width 1000; the CPU chapters use
    40 -> 256 -> 256 -> 10 without BatchNorm (book/dash/02_warm_starting_real_networks.ipynb).
    Inputs of any shape are flattened. Init: PyTorch defaults.
    """

    def __init__(self, input_shape, num_classes, *, depth: int = 3, width: int = 256, batchnorm: bool = False):
        super().__init__()
        check_positive_int("depth", depth)
        check_positive_int("width", width)
        d = math.prod(input_shape)
        self.flatten = nn.Flatten()
        blocks: list[nn.Module] = []
        for _ in range(depth - 1):
            blocks.append(nn.Linear(d, width))
            if batchnorm:
                blocks.append(nn.BatchNorm1d(width))
            blocks.append(nn.ReLU())
            d = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        return self.head(self.features(self.flatten(x)))


# ----------------------------------------------------------------------------- MLP with layer norm
class LayerNormMLP(MLP):
    """`mlp` with a LayerNorm after every hidden Linear (Linear -> LayerNorm -> ReLU), for the
    "layer norm + weight decay" remedy of Lyle et al. ("Disentangling the causes of plasticity
    loss in neural networks", CoLLAs 2024), trained with weight decay (their combination).
    Init: PyTorch defaults; LayerNorm gain 1, bias 0. Built by ``build_model("mlp_ln", ...)``.
    """

    def __init__(self, input_shape, num_classes, *, depth: int = 3, width: int = 256):
        super().__init__(input_shape, num_classes, depth=depth, width=width, batchnorm=False)
        blocks: list[nn.Module] = []
        for m in self.features:
            blocks.append(m)
            if isinstance(m, nn.Linear):
                blocks.append(nn.LayerNorm(m.out_features))
        self.features = nn.Sequential(*blocks)

    def _init_module(self, m: nn.Module, g: torch.Generator) -> None:
        if isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
        else:
            self._init_default_module(m, g)


# CReLU MLP (Lee et al. 2024, arXiv:2406.02596, App. A.4).
class CReLU(nn.Module):
    """Concatenated ReLU, ``[ReLU(x), ReLU(-x)]`` along the feature axis (Shang et al. 2016;
    Abbas et al. 2023's plasticity fix): doubles the width, never silent on both halves."""

    def forward(self, x):
        return torch.cat([F.relu(x), F.relu(-x)], dim=1)


class CReLUMLP(PlasticityModel):
    """The MLP with CReLU at every activation and halved Linear widths, so the hidden features keep
    ``width`` entries and the parameter count stays close to the ReLU MLP's (Hare & Tortoise App.
    A.4: "MLP: every activation, hidden widths halved")."""

    def __init__(self, input_shape, num_classes, *, depth: int = 3, width: int = 256):
        super().__init__()
        check_positive_int("depth", depth)
        check_positive_int("width", width)
        if width % 2:
            raise ValueError(f"width={width!r} must be even for CReLU (halved, then doubled)")
        d = math.prod(input_shape)
        self.flatten = nn.Flatten()
        blocks: list[nn.Module] = []
        for _ in range(depth - 1):
            blocks += [nn.Linear(d, width // 2), CReLU()]
            d = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(d, num_classes)

    def _init_module(self, m, g):
        if not isinstance(m, CReLU):
            self._init_default_module(m, g)

    def forward(self, x):
        return self.head(self.features(self.flatten(x)))

    def hidden_layers(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, CReLU)]
