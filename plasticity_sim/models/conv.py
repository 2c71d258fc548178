"""Convolutional networks: the small CPU-sized CNN (1-D or 2-D), CIFAR ResNet-18 and VGG-16-BN as in
the official DASH code, and the two-layer patch CNN of the DASH-rule chapter's ground-truth probe.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.checks import check_positive_int

from .base import PlasticityModel, SeededDropout, check_image_shape, draw_


# ----------------------------------------------------------------------------- small CNN
def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class SmallCNN(PlasticityModel):
    """Three strided convolutions with ReLU, flatten, Linear head: about 8 k parameters on MNIST-1D.

    1-D for input_shape (C, L), 2-D for (C, H, W): conv(C->ch, k5, s2, p1), conv(ch->ch, k3, s2, p1) x2,
    the DASH part's CPU CNN (book/dash/02_warm_starting_real_networks.ipynb). Init: PyTorch defaults.
    """

    def __init__(self, input_shape, num_classes, *, channels: int = 32):
        super().__init__()
        check_positive_int("channels", channels)
        if len(input_shape) not in (2, 3):
            raise ValueError(f"cnn needs input_shape (C, L) or (C, H, W), got {tuple(input_shape)}")
        conv = nn.Conv1d if len(input_shape) == 2 else nn.Conv2d
        spatial = list(input_shape[1:])
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for k in (5, 3, 3):
            layers += [conv(c_in, channels, kernel_size=k, stride=2, padding=1), nn.ReLU()]
            spatial = [_conv_out(s, k, 2, 1) for s in spatial]
            c_in = channels
        if min(spatial) < 1:
            raise ValueError(f"input_shape {tuple(input_shape)} is too small for three stride-2 convolutions")
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(channels * math.prod(spatial), num_classes)

    def forward(self, x):
        return self.head(self.features(x))


# ----------------------------------------------------------------------------- ResNet-18 (CIFAR)
class BasicBlock(nn.Module):
    """torchvision's BasicBlock with two separate ReLU modules (so diagnostics can hook each)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet18(PlasticityModel):
    """CIFAR ResNet-18 as in the official DASH code (`models/ResNet.py`).

    BasicBlock [2, 2, 2, 2] with 64/128/256/512 channels; stem = 3x3 conv stride 1 (no bias) + BN + ReLU
    + 3x3 max-pool stride 2; no conv biases; Kaiming-normal (fan_out, ReLU) conv init; BN weight 1, bias 0;
    global average pool; Linear 512 -> classes with PyTorch's default init.
    """

    def __init__(self, input_shape, num_classes):
        super().__init__()
        check_image_shape("resnet18", input_shape, 8)
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        stages, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.layers = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(512, num_classes)

    def _init_module(self, m, g):
        if isinstance(m, nn.Conv2d):
            draw_(m.weight, g, nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
        else:
            self._init_default_module(m, g)

    def forward(self, x):
        return self.head(self.pool(self.layers(self.stem(x))))


# ----------------------------------------------------------------------------- VGG-16-BN
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(PlasticityModel):
    """VGG-16 with BatchNorm (config 'D') as in the official DASH code / torchvision `vgg16_bn`.

    3x3 convs with bias + BN + ReLU, five max-pools, adaptive avg-pool to 7x7, classifier
    25088 -> W -> W -> classes with ReLU + Dropout(0.5) (W = 4096 in the paper; `classifier_width`
    shrinks it for tests). Init: conv Kaiming-normal (fan_out, ReLU) with zero bias, BN 1/0, Linear
    N(0, 0.01) with zero bias. The head is the whole classifier (what DASH's `reset` re-draws).
    The official constructor re-seeds with `args.seed`, so every cold VGG start there is the same
    init: pass the same `seed` to `build_model` to reproduce that.
    """

    def __init__(self, input_shape, num_classes, *, classifier_width: int = 4096, dropout: float = 0.5):
        super().__init__()
        check_image_shape("vgg16_bn", input_shape, 32)  # five 2x2 max-pools
        check_positive_int("classifier_width", classifier_width)
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten())
        w = classifier_width
        self.head = nn.Sequential(
            nn.Linear(512 * 7 * 7, w), nn.ReLU(), SeededDropout(dropout),
            nn.Linear(w, w), nn.ReLU(), SeededDropout(dropout),
            nn.Linear(w, num_classes))

    def _init_module(self, m, g):
        if isinstance(m, nn.Conv2d):
            draw_(m.weight, g, nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
            with torch.no_grad():
                m.bias.zero_()
        elif isinstance(m, nn.Linear):
            draw_(m.weight, g, nn.init.normal_, mean=0.0, std=0.01)
            with torch.no_grad():
                m.bias.zero_()
        else:
            self._init_default_module(m, g)

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


# ----------------------------------------------------------------------------- the probe's patch CNN
# Not a PlasticityModel (no head resets or unit lists) and not in build_model: only the feature/noise
# probe (plasticity_sim.protocols.feature_probe) builds it, with its own small-init convention.
class PatchCNN(nn.Module):
    """Conv(k = stride = patch size, no bias) -> ReLU -> mean over slots -> Linear head.

    Weights are N(0, (init_scale^2) / fan_in) from ``generator`` (small init, as in the theory).
    """

    def __init__(self, channels: int, patch_size: int, filters: int, num_classes: int, *,
                 generator: torch.Generator, init_scale: float = 0.3):
        super().__init__()
        for name, v in (("channels", channels), ("patch_size", patch_size), ("filters", filters),
                        ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive int")
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self.conv = nn.Conv2d(channels, filters, patch_size, stride=patch_size, bias=False)
        self.head = nn.Linear(filters, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                fan_in = p[0].numel() if p.ndim > 1 else 1
                p.copy_(torch.randn(p.shape, generator=generator) * init_scale / math.sqrt(fan_in))

    def forward(self, x):
        return self.head(F.relu(self.conv(x)).mean(dim=(2, 3)))
