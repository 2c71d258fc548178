"""Index helpers, label noise, normalisation and batched augmentation, all with explicit generators.

Everything works on whole tensors on the training device: a mini-batch is an index tensor into
`x_train`, and augmentation transforms a whole batch with one gather instead of a per-image loop.
Random numbers are drawn on the generator's own device and then moved, so a CPU generator also
drives CUDA data (and CPU runs are bit-for-bit reproducible).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["random_chunks", "subset_by_ratio", "label_noise", "channel_stats", "normalize",
           "augment_batch", "AUGMENT_VARIANTS", "iterate_minibatches"]


def _check_ratio(ratio: float, name: str = "ratio") -> float:
    if not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{name}={ratio!r}: must lie in [0, 1]")
    return float(ratio)


def _check_count(n, name: str, minimum: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{name}={n!r}: must be an integer >= {minimum}")
    return n


def _check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator={generator!r}: must be a torch.Generator, e.g. "
                         "torch.Generator().manual_seed(seed) (every random draw takes one)")
    return generator


def random_chunks(n: int, num_chunks: int, generator: torch.Generator,
                  device=None) -> list[torch.Tensor]:
    """Split indices 0..n-1 at random into `num_chunks` equal chunks (the chunked protocol's T_j).

    One permutation cut into consecutive pieces, as the DASH code's `random_split` with equal
    lengths. `num_chunks` must divide `n`. Index tensors land on `device` (default: the
    generator's device).

    Source: DASH official code, `random_split(trainset, [len//50]*50)`.
    """
    _check_generator(generator)
    _check_count(n, "n", 1)
    _check_count(num_chunks, "num_chunks", 1)
    if n % num_chunks:
        raise ValueError(f"num_chunks={num_chunks} does not divide n={n}; allowed: divisors of n")
    perm = torch.randperm(n, generator=generator, device=generator.device)
    device = generator.device if device is None else device
    return [c.to(device) for c in perm.view(num_chunks, n // num_chunks)]


def subset_by_ratio(n: int, ratio: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """round(ratio * n) distinct random indices of 0..n-1, in random order.

    Hare & Tortoise's phase-1 "subset ratio" (their grid 0.1 ... 1.0). ratio 0 gives an empty
    index tensor, ratio 1 a permutation of all indices.

    Source: Lee et al. 2024 (Hare & Tortoise), warm-start experiment design.
    """
    _check_generator(generator)
    _check_count(n, "n", 0)
    ratio = _check_ratio(ratio)
    k = int(round(ratio * n))
    perm = torch.randperm(n, generator=generator, device=generator.device)
    return perm[:k].to(generator.device if device is None else device)


def label_noise(y: torch.Tensor, ratio: float, num_classes: int,
                generator: torch.Generator) -> torch.Tensor:
    """Return a copy of `y` where each label is, with probability `ratio`, replaced by a uniform class.

    Hare & Tortoise's label noise: the replacement is drawn uniformly from all `num_classes`
    classes, so it can be the true class again; the expected fraction of wrong labels is
    ratio * (C - 1) / C (0.45 for ratio 0.5 and 10 classes), not `ratio`.

    Source: Lee et al. 2024 (Hare & Tortoise), "true label replaced by a uniformly random label".
    """
    _check_generator(generator)
    ratio = _check_ratio(ratio)
    _check_count(num_classes, "num_classes", 1)
    if y.dim() != 1 or y.dtype != torch.int64:
        raise ValueError(f"y must be a 1-D int64 tensor, got {y.dtype} of shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}]")
    n, dev = y.shape[0], generator.device
    flip = torch.rand(n, generator=generator, device=dev) < ratio
    new = torch.randint(0, num_classes, (n,), generator=generator, device=dev)
    return torch.where(flip.to(y.device), new.to(y.device), y)


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std of x with shape (N, C, ...): two tensors of shape (C,).
    """
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, ...), got {tuple(x.shape)}")
    var, mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], correction=0)
    return mean, var.sqrt()


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """(x - mean) / std per channel (dim 1), as torchvision's Normalize; returns a new tensor.
    """
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(-1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(-1)
    if x.dim() < 2 or mean.numel() != x.shape[1] or std.numel() != x.shape[1]:
        raise ValueError(f"mean/std need one value per channel: x {tuple(x.shape)}, "
                         f"{mean.numel()} means, {std.numel()} stds")
    if not bool((std > 0).all()):
        raise ValueError(f"std must be > 0, got {std.tolist()}")
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x - mean.view(shape)) / std.view(shape)


# The named variants of augment_batch. Both are pad-and-crop plus an optional mirror, computed by the
# same gather; they differ only in what they mirror and in the order of their random draws, which is
# what each shipped results folder was made with (changing either would change those numbers).
AUGMENT_VARIANTS = {
    "joint": "all crop offsets in one draw of shape (B, axes), then the mirrors; mirrors 1-D signals "
             "too (the DASH part's augmentation control, chunked protocol's augment_pad/augment_flip)",
    "per_axis": "the crop offsets one axis at a time (rows, then columns), then the mirrors; mirrors "
                "images only, never 1-D signals (the Hare & Tortoise 'augmentation' method)",
}


def augment_batch(x: torch.Tensor, generator: torch.Generator, *, flip: bool, pad: int,
                  fill: float = 0.0, variant: str = "joint") -> torch.Tensor:
    """Random horizontal flip (p = 0.5) and pad-and-crop of a whole batch, on x's device.

    x is (B, C, H, W) (images; flip mirrors W) or (B, C, L) (1-D signals; flip reverses L).
    Pad-and-crop pads every spatial side by `pad` with `fill`, then cuts a window of the original
    size at a uniform random offset in [0, 2*pad] per axis and image - torchvision's
    `RandomCrop(size, padding=pad)` (pads with 0) + `RandomHorizontalFlip()` as in the DASH "SoTA"
    setting. Implemented as one padded copy and one advanced-indexing gather (flip folded into the
    column index), with no loop over images.

    `variant` (see :data:`AUGMENT_VARIANTS`): ``"joint"`` (default) or ``"per_axis"``, the Hare &
    Tortoise baseline's order of draws, which also never mirrors a 1-D signal and draws its offsets
    even when `pad` is 0 (so its generator advances exactly as the shipped runs' did).

    Source: DASH official code, SoTA augmentation (random crop 32, pad 4, horizontal flip).
    """
    _check_generator(generator)
    if variant not in AUGMENT_VARIANTS:
        raise ValueError(f"variant={variant!r}: allowed: {', '.join(AUGMENT_VARIANTS)}")
    if x.dim() not in (3, 4):
        raise ValueError(f"x must be (B, C, L) or (B, C, H, W), got shape {tuple(x.shape)}")
    _check_count(pad, "pad", 0)
    per_axis = variant == "per_axis"
    flip = flip and not (per_axis and x.dim() == 3)
    if not flip and pad == 0 and not per_axis:
        return x
    B, dev, gdev = x.shape[0], x.device, generator.device
    spatial = x.shape[2:]
    p = pad
    xp = torch.nn.functional.pad(x, (p, p) * len(spatial), value=fill) if p else x
    if per_axis:
        offsets = torch.stack([torch.randint(0, 2 * p + 1, (B,), generator=generator, device=gdev)
                               for _ in spatial], dim=1).to(dev)
    elif p:
        offsets = torch.randint(0, 2 * p + 1, (B, len(spatial)), generator=generator, device=gdev)
        offsets = offsets.to(dev)
    else:
        offsets = torch.zeros(B, len(spatial), dtype=torch.int64, device=dev)
    last = torch.arange(spatial[-1], device=dev)
    cols = offsets[:, -1:] + last                                  # (B, W)
    if flip:
        mirror = (torch.rand(B, generator=generator, device=gdev) < 0.5).to(dev)
        cols = torch.where(mirror[:, None], offsets[:, -1:] + spatial[-1] - 1 - last, cols)
    b = torch.arange(B, device=dev)
    c = torch.arange(x.shape[1], device=dev)
    if x.dim() == 3:
        return xp[b[:, None, None], c[None, :, None], cols[:, None, :]]
    rows = offsets[:, 0:1] + torch.arange(spatial[0], device=dev)  # (B, H)
    return xp[b[:, None, None, None], c[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]


def iterate_minibatches(n: int, batch_size: int, generator: torch.Generator, device=None, *,
                        drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Yield index tensors of one shuffled epoch over 0..n-1, in batches of `batch_size`.

    One permutation per call, drawn on the generator's device and moved once to `device`; the
    last batch is smaller unless `drop_last`. Use as `x[idx], y[idx]`.
    """
    _check_generator(generator)
    _check_count(n, "n", 0)
    _check_count(batch_size, "batch_size", 1)
    # Validated and shuffled eagerly (not inside the generator) so bad input fails at the call.
    perm = torch.randperm(n, generator=generator, device=generator.device)
    perm = perm.to(generator.device if device is None else device)
    stop = n - n % batch_size if drop_last else n
    return (perm[start:start + batch_size] for start in range(0, stop, batch_size))
