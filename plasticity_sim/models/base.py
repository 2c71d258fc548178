"""What every network of the package shares: the ``PlasticityModel`` base class (its head, its
hidden units, re-initialisation from an explicit generator), the initialisers it draws with, and
``SeededDropout``.

Randomness never touches torch's global RNG: modules are built on the "meta" device (no weights
drawn) and every weight is then drawn from the caller's generator. Dropout draws its masks from a
seed kept in a buffer, so a checkpoint of ``state_dict()`` also resumes the dropout stream.
"""
from __future__ import annotations

import math

import torch
from torch import nn

HEAD_INIT_SCHEMES = ("pytorch_default", "model")


# ----------------------------------------------------------------------------- init helpers
def draw_(tensor: torch.Tensor, generator: torch.Generator, init_fn, **kwargs) -> None:
    """Fill `tensor` with `init_fn(..., generator=generator)`, drawing on the generator's device.

    Drawing on the generator's device and copying makes the weights depend only on the generator
    state, not on where the model lives (a CPU generator gives the same net on CPU and CUDA).
    """
    with torch.no_grad():
        if tensor.device == generator.device:
            init_fn(tensor, generator=generator, **kwargs)
        else:
            tmp = torch.empty(tensor.shape, dtype=tensor.dtype, device=generator.device)
            init_fn(tmp, generator=generator, **kwargs)
            tensor.copy_(tmp)


def init_pytorch_default(m: nn.Module, g: torch.Generator) -> None:
    """PyTorch's own `reset_parameters` for Linear/ConvNd (U(+-1/sqrt(fan_in)) for weight and bias).

    kaiming_uniform with a=sqrt(5) has bound gain*sqrt(3/fan_in) = sqrt(1/3)*sqrt(3/fan_in) = 1/sqrt(fan_in).
    """
    draw_(m.weight, g, nn.init.kaiming_uniform_, a=math.sqrt(5))
    if m.bias is not None:
        fan_in = m.weight[0].numel()  # in_features, or in_channels/groups * kernel size
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        draw_(m.bias, g, nn.init.uniform_, a=-bound, b=bound)


def init_batchnorm(m: nn.Module) -> None:
    """Identity affine map and fresh running statistics (deterministic, no randomness)."""
    with torch.no_grad():
        m.reset_running_stats()
        if m.affine:
            m.weight.fill_(1.0)
            m.bias.zero_()


# splitmix64 constants (Steele et al. 2014) as signed int64: torch integer arithmetic wraps mod 2**64.
_GOLDEN = 0x9E3779B97F4A7C15 - 2**64
_MIX1 = 0xBF58476D1CE4E5B9 - 2**64
_MIX2 = 0x94D049BB133111EB - 2**64


def _splitmix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 tensors; the masks emulate logical right shifts."""
    z = (z ^ ((z >> 30) & ((1 << 34) - 1))) * _MIX1
    z = (z ^ ((z >> 27) & ((1 << 37) - 1))) * _MIX2
    return z ^ ((z >> 31) & ((1 << 33) - 1))


class SeededDropout(nn.Module):
    """Dropout whose masks are a counter-based hash of (seed, call, element), not torch's global RNG.

    `seed` and `calls` are int64 buffers, so `state_dict()` checkpoints the mask stream, the same
    seed gives the same masks on CPU and CUDA, and no step needs a host-device sync.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p={p!r} must be in [0, 1)")
        self.p = p
        self.register_buffer("seed", torch.zeros((), dtype=torch.int64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def reseed(self, generator: torch.Generator) -> None:
        """Draw a new seed from `generator` and restart the call counter."""
        s = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
        with torch.no_grad():
            self.seed.copy_(s[0])
            self.calls.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        # Element i of call c uses splitmix64 state seed + (c * 2**40 + i) * golden (distinct per element).
        ctr = torch.arange(x.numel(), device=x.device, dtype=torch.int64).view(x.shape)
        z = _splitmix64(self.seed + (self.calls * 2**40 + ctr) * _GOLDEN)
        with torch.no_grad():
            self.calls += 1
        keep = ((z >> 11) & ((1 << 53) - 1)) >= int(self.p * 2**53)  # uniform 53-bit number >= p
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ----------------------------------------------------------------------------- base class
class PlasticityModel(nn.Module):
    """A classifier that knows its head, its hidden units, and how to re-initialise itself.

    Subclasses set `self.head` and override `_init_module` for their published init scheme.
    """

    head: nn.Module

    def _init_module(self, m: nn.Module, g: torch.Generator) -> None:
        """Initialise one leaf module with this model's scheme (default: PyTorch's defaults)."""
        self._init_default_module(m, g)

    @staticmethod
    def _init_default_module(m: nn.Module, g: torch.Generator) -> None:
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            init_pytorch_default(m, g)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init_batchnorm(m)
        elif isinstance(m, SeededDropout):
            m.reseed(g)
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            # Guard: a module we do not know how to initialise would keep garbage after to_empty().
            raise TypeError(f"no initialiser for module type {type(m).__name__}")

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Re-initialise every parameter (and BN statistics) in place from `generator` (cold start).

        Modules are visited in registration order, so the same generator state gives the same weights.
        """
        check_generator(generator)
        for m in self.modules():
            if m is not self:
                self._init_module(m, generator)

    def reset_head(self, generator: torch.Generator, *, scheme: str = "pytorch_default") -> None:
        """Re-initialise the head only, in place.

        scheme="pytorch_default" (default) re-draws with PyTorch's default Linear init, as the official
        DASH code's `reset` baseline does (ResNet `fc`, VGG's whole `classifier`, MLP's last Linear);
        scheme="model" uses the model's own init (differs only for VGG: N(0, 0.01) Linear weights).
        Source: official DASH code (`--train_type reset`).
        """
        check_generator(generator)
        if scheme not in HEAD_INIT_SCHEMES:
            raise ValueError(f"unknown head init scheme {scheme!r}; allowed: {HEAD_INIT_SCHEMES}")
        init = self._init_default_module if scheme == "pytorch_default" else self._init_module
        for m in self.head.modules():
            init(m, generator)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the classifier head.
        """
        return list(self.head.parameters())

    def hidden_layers(self) -> list[nn.Module]:
        """Post-activation modules (one `nn.ReLU` per hidden layer, in forward order) for diagnostics hooks.
        """
        return [m for m in self.modules() if isinstance(m, nn.ReLU)]


def check_generator(generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def check_image_shape(name, input_shape, min_size: int) -> None:
    if len(input_shape) != 3 or min(input_shape[1:]) < min_size:
        raise ValueError(f"{name} needs an image input_shape (C, H, W) with H, W >= {min_size}, "
                         f"got {tuple(input_shape)}")
