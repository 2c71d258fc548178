"""Networks for the real-training chapters: MLP, a small CPU-sized CNN, CIFAR ResNet-18 and VGG-16-BN,
and the two-layer patch CNN of the DASH-rule chapter's ground-truth probe.

Why one module over 400 lines: it is the one home of every architecture (MLP and its layer-norm and
CReLU variants, the CNNs, ResNet-18, VGG-16-BN, ViT-Tiny, the probe's patch CNN), their initialisation
and head resets, and the size check run before training, as the layout promises. Splitting it into a
package per family is the next step once another part adds models.

Every model is a `PlasticityModel`: it names its classifier *head* (for head resets), lists its
post-activation modules (the "units" the diagnostics look at), and re-initialises itself in place
from an explicit `torch.Generator` (a cold start is `model.reset_parameters(generator)`).

Randomness never touches torch's global RNG: modules are built on the "meta" device (no weights drawn)
and every weight is then drawn from the caller's generator. Dropout (VGG only) draws its masks from a
seed kept in a buffer, so a checkpoint of `state_dict()` also resumes the dropout stream.
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.checks import check_positive_int

MODEL_NAMES = ("mlp", "cnn", "resnet18", "vgg16_bn")
HEAD_INIT_SCHEMES = ("pytorch_default", "model")


# ----------------------------------------------------------------------------- init helpers
def _draw_(tensor: torch.Tensor, generator: torch.Generator, init_fn, **kwargs) -> None:
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


def _init_pytorch_default(m: nn.Module, g: torch.Generator) -> None:
    """PyTorch's own `reset_parameters` for Linear/ConvNd (U(+-1/sqrt(fan_in)) for weight and bias).

    kaiming_uniform with a=sqrt(5) has bound gain*sqrt(3/fan_in) = sqrt(1/3)*sqrt(3/fan_in) = 1/sqrt(fan_in).
    """
    _draw_(m.weight, g, nn.init.kaiming_uniform_, a=math.sqrt(5))
    if m.bias is not None:
        fan_in = m.weight[0].numel()  # in_features, or in_channels/groups * kernel size
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        _draw_(m.bias, g, nn.init.uniform_, a=-bound, b=bound)


def _init_batchnorm(m: nn.Module) -> None:
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
            _init_pytorch_default(m, g)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            _init_batchnorm(m)
        elif isinstance(m, SeededDropout):
            m.reseed(g)
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            # Guard: a module we do not know how to initialise would keep garbage after to_empty().
            raise TypeError(f"no initialiser for module type {type(m).__name__}")

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Re-initialise every parameter (and BN statistics) in place from `generator` (cold start).

        Modules are visited in registration order, so the same generator state gives the same weights.
        """
        _check_generator(generator)
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
        _check_generator(generator)
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


def _check_generator(generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")


# ----------------------------------------------------------------------------- MLP
class MLP(PlasticityModel):
    """`depth` Linear layers: (depth-1) blocks Linear -> [BatchNorm1d] -> ReLU, then a Linear head.

    The DASH paper's `mlp_bn` is depth=3, batchnorm=True, width 1000; the CPU chapters use
    40 -> 256 -> 256 -> 10 without BatchNorm (shared/reference/cpu_warmstart_findings.md).
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


# ----------------------------------------------------------------------------- small CNN
def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class SmallCNN(PlasticityModel):
    """Three strided convolutions with ReLU, flatten, Linear head: about 8 k parameters on MNIST-1D.

    1-D for input_shape (C, L), 2-D for (C, H, W): conv(C->ch, k5, s2, p1), conv(ch->ch, k3, s2, p1) x2,
    as in shared/reference/cpu_warmstart_findings.md. Init: PyTorch defaults.
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
        _check_image_shape("resnet18", input_shape, 8)
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
            _draw_(m.weight, g, nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
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
        _check_image_shape("vgg16_bn", input_shape, 32)  # five 2x2 max-pools
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
            _draw_(m.weight, g, nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
            with torch.no_grad():
                m.bias.zero_()
        elif isinstance(m, nn.Linear):
            _draw_(m.weight, g, nn.init.normal_, mean=0.0, std=0.01)
            with torch.no_grad():
                m.bias.zero_()
        else:
            self._init_default_module(m, g)

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


# ----------------------------------------------------------------------------- factory
_MODELS = {"mlp": MLP, "cnn": SmallCNN, "resnet18": ResNet18, "vgg16_bn": VGG16BN}


def _check_image_shape(name, input_shape, min_size: int) -> None:
    if len(input_shape) != 3 or min(input_shape[1:]) < min_size:
        raise ValueError(f"{name} needs an image input_shape (C, H, W) with H, W >= {min_size}, "
                         f"got {tuple(input_shape)}")


def build_model(name: str, input_shape: tuple, num_classes: int, *, seed: int | None = None,
                generator: torch.Generator | None = None, **kwargs) -> PlasticityModel:
    """Build a freshly initialised model on the CPU (move it with `.to(device)`).

    name: "mlp" (depth, width, batchnorm), "cnn" (channels; 1-D when len(input_shape) == 2),
    "resnet18" (official DASH CIFAR variant), "vgg16_bn" (classifier_width, dropout).
    Weights are drawn from `generator`, or from a new generator seeded with `seed` (0 if neither is
    given); torch's global RNG is never used. Same seed -> identical weights.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {MODEL_NAMES}")
    try:
        input_shape = tuple(int(s) for s in input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}") from None
    if not input_shape or min(input_shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} must be an int >= 2")
    cls = _MODELS[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "input_shape", "num_classes")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; allowed: {allowed}")
    if seed is not None and generator is not None:
        raise ValueError("pass either seed= or generator=, not both")
    if generator is None:
        if seed is None:
            seed = 0
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} must be an int")
        generator = torch.Generator().manual_seed(seed)
    _check_generator(generator)
    # Build on "meta": no weights are drawn (so the global RNG is untouched and VGG's 100 M-parameter
    # classifier is not initialised twice), then allocate real memory and draw from the generator.
    with torch.device("meta"):
        model = cls(input_shape, num_classes, **kwargs)
    model.to_empty(device="cpu")
    model.reset_parameters(generator)
    return model


MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32 weights before gradients and optimizer state


def check_model_size(name: str, input_shape: tuple, num_classes: int, **kwargs) -> int:
    """Number of parameters of ``build_model(name, ...)``, counted on torch's meta device (nothing
    is allocated); a ``ValueError`` naming the options when it exceeds ``MAX_PARAMETERS`` or cannot
    be built, so an impossible model fails before any data is trained on."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {MODEL_NAMES}")
    try:
        with torch.device("meta"):
            model = _MODELS[name](tuple(input_shape), num_classes, **kwargs)
        count = sum(p.numel() for p in model.parameters())
    except TypeError as err:  # an unknown option
        raise ValueError(f"bad options {sorted(kwargs)} for model {name!r}: {err}") from None
    except RuntimeError as err:  # e.g. a size whose storage overflows
        raise ValueError(f"model {name!r} with options {kwargs} cannot be built: "
                         f"{str(err).splitlines()[0][:100]}") from None
    if count > MAX_PARAMETERS:
        raise ValueError(f"model {name!r} with options {kwargs} has {count:,} parameters "
                         f"(more than {MAX_PARAMETERS:,}); choose smaller model_kwargs")
    return count


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


_MODELS["mlp_ln"] = LayerNormMLP
# ----------------------------------------------------------------------------- Hare & Tortoise part
# CReLU MLP and a CPU-sized ViT-Tiny (Lee et al. 2024's CIFAR-100 model, fact sheet papers.md §D.2/D.3).
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
            _draw_(m.weight, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
            with torch.no_grad():
                m.bias.zero_()
        elif isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
        elif isinstance(m, _ViTTokens):
            _draw_(m.cls, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
            _draw_(m.pos, g, nn.init.trunc_normal_, std=0.02, a=-0.04, b=0.04)
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


_MODELS.update({"mlp_crelu": CReLUMLP, "vit_tiny": ViTTiny})
MODEL_NAMES = MODEL_NAMES + ("mlp_crelu", "vit_tiny")
