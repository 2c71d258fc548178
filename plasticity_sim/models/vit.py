"""A CPU-sized ViT-Tiny (DeiT-Ti style), the Hare & Tortoise part's CIFAR-100 model (Lee et al. 2024,
arXiv:2406.02596, App. A), for images and for 1-D signals.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from plasticity_sim.checks import check_positive_int

from .base import PlasticityModel, SeededDropout, draw_


class _ViTTokens(nn.Module):
    """The class token and the learned position embeddings (truncated N(0, 0.02^2) at init)."""

    def __init__(self, num_patches: int, dim: int):
        super().__init__()
        self.cls = nn.Parameter(torch.empty(1, 1, dim))
        self.pos = nn.Parameter(torch.empty(1, num_patches + 1, dim))

    def forward(self, x):  # x: (N, P, D)
        return torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos


class _ViTBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), x + MLP(LN(x)); dropout after attention
    weights, projections and the MLP (SeededDropout: no global RNG)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = SeededDropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.drop1 = SeededDropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, int(dim * mlp_ratio))
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = SeededDropout(dropout)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = self.attn_drop(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1))
        x = x + self.drop1(self.proj((att @ v).transpose(1, 2).reshape(n, t, d)))
        return x + self.drop2(self.fc2(self.act(self.fc1(self.norm2(x)))))


class ViTTiny(PlasticityModel):
    """ViT-Tiny (DeiT-Ti style) sized by its options: ``patch`` (4), ``dim`` (192), ``depth`` (12),
    ``heads`` (3), ``mlp_ratio`` (4), ``dropout`` (0.1) - the paper's CIFAR-100 model by default.

    Works on images (C, H, W) with square ``patch x patch`` patches and on 1-D signals (C, L)
    (MNIST-1D) with length-``patch`` patches. Tokens: patch embedding (a strided convolution), a
    class token, learned positions; pre-norm blocks; final LayerNorm; the head is the Linear on the
    class token. Init: truncated N(0, 0.02^2) for Linear weights and tokens, zero biases, LayerNorm
    identity; the patch convolution keeps PyTorch's default. CPU chapters use e.g.
    ``dim=64, depth=4, heads=2, dropout=0``.
    """

    def __init__(self, input_shape, num_classes, *, patch: int = 4, dim: int = 192, depth: int = 12,
                 heads: int = 3, mlp_ratio: float = 4.0, dropout: float = 0.1):
        super().__init__()
        for name, v in (("patch", patch), ("dim", dim), ("depth", depth), ("heads", heads)):
            check_positive_int(name, v)
        if dim % heads:
            raise ValueError(f"dim={dim!r} must be divisible by heads={heads!r}")
        if not (isinstance(mlp_ratio, (int, float)) and mlp_ratio > 0):
            raise ValueError(f"mlp_ratio={mlp_ratio!r} must be > 0")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise ValueError(f"dropout={dropout!r} must be in [0, 1)")
        if len(input_shape) not in (2, 3):
            raise ValueError(f"vit_tiny needs input_shape (C, L) or (C, H, W), got {tuple(input_shape)}")
        spatial = input_shape[1:]
        if any(s % patch for s in spatial):
            raise ValueError(f"input size {tuple(spatial)} is not divisible by patch={patch!r}")
        conv = nn.Conv1d if len(input_shape) == 2 else nn.Conv2d
        self.patch_embed = conv(input_shape[0], dim, kernel_size=patch, stride=patch)
        self.tokens = _ViTTokens(math.prod(s // patch for s in spatial), dim)
        self.drop = SeededDropout(dropout)
        self.blocks = nn.Sequential(*[_ViTBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def _init_module(self, m, g):
        if isinstance(m, nn.Linear):
            draw_(m.weight, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
            with torch.no_grad():
                m.bias.zero_()
        elif isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
        elif isinstance(m, _ViTTokens):
            draw_(m.cls, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
            draw_(m.pos, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
        elif isinstance(m, (_ViTBlock, nn.Sequential, nn.GELU)):
            pass
        else:
            self._init_default_module(m, g)

    def forward(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)          # (N, P, D)
        t = self.blocks(self.drop(self.tokens(t)))
        return self.head(self.norm(t)[:, 0])

    def hidden_layers(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, nn.GELU)]
