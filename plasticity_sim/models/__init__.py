"""Networks for the real-training chapters, one module per family, and the one factory that builds them.

* :mod:`.base`: ``PlasticityModel`` (names its classifier *head* for head resets, lists its
  post-activation modules - the "units" the diagnostics look at - and re-initialises itself in place
  from an explicit ``torch.Generator``: a cold start is ``model.reset_parameters(generator)``), the
  initialisers, ``SeededDropout``;
* :mod:`.mlp`: MLP and its layer-norm and CReLU variants; :mod:`.conv`: the small CNN, CIFAR
  ResNet-18, VGG-16-BN, the probe's patch CNN; :mod:`.vit`: ViT-Tiny.

The names :func:`build_model` accepts are the table :data:`plasticity_sim.registry.MODELS`
(declared once, torch-free, so the configs check the same names).
"""
from __future__ import annotations

import inspect

import torch

from plasticity_sim import registry
from plasticity_sim.registry import MODEL_NAMES

from .base import HEAD_INIT_SCHEMES, PlasticityModel, SeededDropout, check_generator
from .conv import VGG16_CONFIG, BasicBlock, PatchCNN, ResNet18, SmallCNN, VGG16BN
from .mlp import MLP, CReLU, CReLUMLP, LayerNormMLP
from .vit import ViTTiny

__all__ = ["MODEL_NAMES", "HEAD_INIT_SCHEMES", "MAX_PARAMETERS", "build_model", "check_model_size",
           "PlasticityModel", "SeededDropout", "MLP", "LayerNormMLP", "CReLU", "CReLUMLP", "SmallCNN",
           "BasicBlock", "ResNet18", "VGG16BN", "VGG16_CONFIG", "ViTTiny", "PatchCNN"]

_MODELS = registry.load_all(registry.MODELS)


def build_model(name: str, input_shape: tuple, num_classes: int, *, seed: int | None = None,
                generator: torch.Generator | None = None, **kwargs) -> PlasticityModel:
    """Build a freshly initialised model on the CPU (move it with `.to(device)`).

    name: "mlp" (depth, width, batchnorm), "cnn" (channels; 1-D when len(input_shape) == 2),
    "resnet18" (official DASH CIFAR variant), "vgg16_bn" (classifier_width, dropout), "mlp_ln"
    (depth, width), "mlp_crelu" (depth, width), "vit_tiny" (patch, dim, depth, heads, ...).
    Weights are drawn from `generator`, or from a new generator seeded with `seed` (0 if neither is
    given); torch's global RNG is never used. Same seed -> identical weights.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODEL_NAMES)}")
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
    check_generator(generator)
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
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODEL_NAMES)}")
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
