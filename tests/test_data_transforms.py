"""Chunks, subsets, label noise, normalisation, batched augmentation and mini-batch indices."""

import itertools

import pytest
import torch

from plasticity_sim.data import (augment_batch, channel_stats, iterate_minibatches, label_noise,
                                 normalize, random_chunks, subset_by_ratio)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------- index helpers

def test_random_chunks_partition_the_indices():
    chunks = random_chunks(12, 3, gen())
    assert [len(c) for c in chunks] == [4, 4, 4]
    assert sorted(torch.cat(chunks).tolist()) == list(range(12))
    again = random_chunks(12, 3, gen())
    assert all(torch.equal(a, b) for a, b in zip(chunks, again))
    assert any(not torch.equal(a, b) for a, b in zip(chunks, random_chunks(12, 3, gen(1))))


@pytest.mark.parametrize("n, k, msg", [(10, 3, "does not divide n=10"), (10, 0, "num_chunks=0"),
                                       (0, 1, "n=0")])
def test_random_chunks_bad_input(n, k, msg):
    with pytest.raises(ValueError, match=msg):
        random_chunks(n, k, gen())


def test_subset_by_ratio():
    idx = subset_by_ratio(10, 0.3, gen())
    assert len(idx) == 3 and len(set(idx.tolist())) == 3 and all(0 <= i < 10 for i in idx.tolist())
    assert len(subset_by_ratio(10, 0.0, gen())) == 0
    assert sorted(subset_by_ratio(10, 1.0, gen()).tolist()) == list(range(10))
    assert len(subset_by_ratio(100, 0.29, gen())) == 29      # rounding, not float truncation
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"ratio=.*\[0, 1\]"):
            subset_by_ratio(10, bad, gen())


def test_iterate_minibatches():
    batches = list(iterate_minibatches(10, 4, gen()))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert [len(b) for b in iterate_minibatches(10, 4, gen(), drop_last=True)] == [4, 4]
    assert list(iterate_minibatches(0, 4, gen())) == []
    with pytest.raises(ValueError, match="batch_size=0"):
        iterate_minibatches(10, 0, gen())                   # fails at the call, not on first next()


# --------------------------------------------------------------------------------- label noise

def test_label_noise_limits_and_rates():
    y = torch.arange(20000) % 10
    assert torch.equal(label_noise(y, 0.0, 10, gen()), y)
    full = label_noise(y, 1.0, 10, gen())
    # every label is redrawn uniformly: it stays correct with probability 1/10
    assert abs((full != y).float().mean().item() - 0.9) < 0.015
    counts = torch.bincount(full, minlength=10).float() / len(y)
    assert (counts - 0.1).abs().max() < 0.015
    half = label_noise(y, 0.5, 10, gen(1))
    assert abs((half != y).float().mean().item() - 0.45) < 0.015
    assert torch.equal(y, torch.arange(20000) % 10)         # input untouched
    assert torch.equal(half, label_noise(y, 0.5, 10, gen(1)))


@pytest.mark.parametrize("kw, msg", [({"ratio": 1.2}, "ratio=1.2"),
                                     ({"num_classes": 3}, r"\[0, 3\)"),
                                     ({"y": torch.zeros(3, dtype=torch.int32)}, "int64")])
def test_label_noise_bad_input(kw, msg):
    args = {"y": torch.tensor([0, 4, 2]), "ratio": 0.5, "num_classes": 5, **kw}
    with pytest.raises(ValueError, match=msg):
        label_noise(args["y"], args["ratio"], args["num_classes"], gen())


# --------------------------------------------------------------------------------- normalisation

def test_channel_stats_and_normalize_by_hand():
    x = torch.zeros(2, 2, 1, 2)
    x[:, 0] = torch.tensor([[[1.0, 3.0]], [[1.0, 3.0]]])    # channel 0: mean 2, std 1
    x[:, 1] = torch.tensor([[[4.0, 4.0]], [[0.0, 0.0]]])    # channel 1: mean 2, std 2
    mean, std = channel_stats(x)
    assert mean.tolist() == [2.0, 2.0] and std.tolist() == [1.0, 2.0]
    z = normalize(x, mean, std)
    assert z[0, 0, 0].tolist() == [-1.0, 1.0] and z[0, 1, 0].tolist() == [1.0, 1.0]
    assert z[1, 1, 0].tolist() == [-1.0, -1.0]
    with pytest.raises(ValueError, match="one value per channel"):
        normalize(x, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="std must be > 0"):
        normalize(x, [0.0, 0.0], [1.0, 0.0])


# --------------------------------------------------------------------------------- augmentation

def _crops(img, pad):
    """All (offset, crop) of a zero-padded image, and the mirrored crops - by slicing, one by one."""
    C, H, W = img.shape
    padded = torch.zeros(C, H + 2 * pad, W + 2 * pad)
    padded[:, pad:pad + H, pad:pad + W] = img
    out = {}
    for dy, dx in itertools.product(range(2 * pad + 1), repeat=2):
        crop = padded[:, dy:dy + H, dx:dx + W]
        out[(dy, dx, False)] = crop
        out[(dy, dx, True)] = crop.flip(-1)
    return out


def test_augment_identity_when_off():
    x = torch.randn(3, 2, 4, 4)
    assert torch.equal(augment_batch(x, gen(), flip=False, pad=0), x)


def test_augment_flip_only():
    x = torch.arange(64 * 2 * 3 * 5, dtype=torch.float32).view(64, 2, 3, 5)
    out = augment_batch(x, gen(), flip=True, pad=0)
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(out[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54                           # about half, both cases occur


@pytest.mark.parametrize("flip", [False, True])
def test_augment_pad_crop_is_a_random_crop_of_the_padded_image(flip):
    B, pad = 200, 1
    x = torch.arange(1, B * 24 + 1, dtype=torch.float32).view(B, 2, 3, 4)  # distinct, non-zero
    out = augment_batch(x, gen(3), flip=flip, pad=pad)
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for i in range(B):
        matches = [k for k, crop in _crops(x[i], pad).items() if torch.equal(out[i], crop)
                   and (flip or not k[2])]
        assert matches, f"image {i} is not a crop of its padded self"
        seen.add(matches[0])
    expected = 9 * (2 if flip else 1)                      # every offset (and mirror) occurs
    assert len(seen) == expected


def test_augment_1d_signals():
    x = torch.arange(1, 1 + 50 * 1 * 6, dtype=torch.float32).view(50, 1, 6)
    out = augment_batch(x, gen(), flip=True, pad=2)
    for i in range(50):
        padded = torch.cat([torch.zeros(1, 2), x[i], torch.zeros(1, 2)], dim=1)
        options = [padded[:, o:o + 6] for o in range(5)]
        options += [o.flip(-1) for o in options]
        assert any(torch.equal(out[i], o) for o in options)


def test_augment_is_reproducible_and_validates():
    x = torch.randn(8, 3, 6, 6)
    a, b = (augment_batch(x, gen(9), flip=True, pad=2) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, augment_batch(x, gen(8), flip=True, pad=2))
    with pytest.raises(ValueError, match="shape"):
        augment_batch(torch.zeros(4, 4), gen(), flip=True, pad=1)
    with pytest.raises(ValueError, match="pad=-1"):
        augment_batch(x, gen(), flip=True, pad=-1)


# ------------------------------------------------------------------ the "per_axis" variant (Hare & Tortoise)
def _old_ht_augment_batch(x, generator, *, pad=4, flip=True):
    """A verbatim copy of the Hare & Tortoise baseline's own augmentation before it became the
    "per_axis" variant of data.augment_batch (interventions/ht_baselines.py at b5c0b05): the
    reference its shipped results/hare_tortoise/table7 runs were made with."""
    import torch.nn.functional as F

    n = len(x)
    if x.dim() == 3:            # (N, C, L)
        L = x.shape[-1]
        padded = F.pad(x, (pad, pad))
        off = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        idx = off[:, None] + torch.arange(L, device=x.device)[None, :]
        return padded.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))
    if x.dim() == 4:            # (N, C, H, W)
        H, W = x.shape[-2:]
        padded = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        out = torch.stack([padded[i, :, oy[i]:oy[i] + H, ox[i]:ox[i] + W] for i in range(n)])
        if flip:
            f = (torch.rand(n, generator=generator) < 0.5).to(x.device)
            out = torch.where(f[:, None, None, None], out.flip(-1), out)
        return out
    raise ValueError(f"augmentation needs (N, C, L) or (N, C, H, W) batches, got shape {tuple(x.shape)}")


@pytest.mark.parametrize("shape", [(64, 1, 40), (32, 2, 7), (16, 3, 6, 5)])
@pytest.mark.parametrize("pad,flip", [(4, True), (2, False), (0, True), (0, False)])
def test_per_axis_variant_reproduces_the_old_hare_tortoise_augmentation_bit_for_bit(shape, pad, flip):
    x = torch.randn(*shape, generator=gen(1))
    g_old, g_new = gen(5), gen(5)
    for _ in range(3):      # several batches: the generators must also advance alike
        old = _old_ht_augment_batch(x, g_old, pad=pad, flip=flip)
        new = augment_batch(x, g_new, pad=pad, flip=flip, variant="per_axis")
        assert torch.equal(old, new)
    assert torch.equal(torch.rand(4, generator=g_old), torch.rand(4, generator=g_new))


def test_the_hare_tortoise_method_augments_with_the_per_axis_variant():
    from plasticity_sim.interventions import get_intervention

    x = torch.randn(32, 1, 40, generator=gen(2))
    aug = get_intervention("augmentation", pad=4, seed=3)
    assert torch.equal(aug.augment(x), _old_ht_augment_batch(x, gen(3), pad=4))


def test_variants_differ_where_named_and_unknown_variants_are_refused():
    x = torch.arange(1, 1 + 400 * 6, dtype=torch.float32).view(400, 1, 6)
    joint = augment_batch(x, gen(4), flip=True, pad=0)
    per_axis = augment_batch(x, gen(4), flip=True, pad=0, variant="per_axis")
    assert torch.equal(per_axis, x)                       # per_axis never mirrors a 1-D signal
    assert any(torch.equal(joint[i], x[i].flip(-1)) for i in range(400))   # joint does
    img = torch.randn(50, 1, 5, 5, generator=gen(6))
    a = augment_batch(img, gen(7), flip=True, pad=2)
    b = augment_batch(img, gen(7), flip=True, pad=2, variant="per_axis")
    assert not torch.equal(a, b)                          # same generator, other order of draws
    with pytest.raises(ValueError, match="variant='shift': allowed: joint, per_axis"):
        augment_batch(x, gen(), flip=False, pad=1, variant="shift")
