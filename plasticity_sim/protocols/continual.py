"""Continual-learning loops: the slowly-changing regression, vectorised over runs.

:func:`run_regression` trains ``len(seeds)`` independent learners (one hidden layer of
``hidden`` units, the published 5) on :class:`plasticity_sim.data.continual.SlowlyChangingRegression`
in one batched computation: every parameter of every run lives in one ``(runs, P)`` tensor, the
gradient of the squared error is written by hand (one sample per step, as published), and one
update serves all runs. Run ``r`` depends only on ``seeds[r]`` (its target, bit stream, initial
weights and the method's draws come from its own generators), so the batch reproduces the same
runs made one at a time (up to float rounding) - :func:`run_regression` with one seed is the
sequential baseline of ``benchmarks/continual_regression.py``.

Methods (``method``): ``"bp"`` (plain backprop), ``"cbp"`` (continual backprop: contribution
utility with decay ``decay_rate`` and bias correction, maturity ``maturity_threshold``,
replacement rate ``replacement_rate`` with fractional accumulation, incoming weights redrawn from
the learner's own initial distribution, outgoing weight zeroed and the unit's bias-corrected mean
contribution folded into the output bias, optimizer state of the replaced weights reset - Dohare
et al. 2024), ``"l2"`` (``weight_decay`` added to every gradient), ``"sp"`` (Shrink & Perturb in
its every-step continual form: ``theta <- (1 - weight_decay * lr) theta - lr g + sp_noise * N(0, 1)``
after each step, Dohare et al.'s form of Ash & Adams 2020). Optimizers: ``"sgd"`` and ``"adam"``
(``betas``, eps 1e-8, per-tensor step count as ``torch.optim.Adam``).

Explained in: book/continual/01_loss_of_plasticity.ipynb
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from plasticity_sim.checks import check_choice, check_positive_int, check_range
from plasticity_sim.data.continual import CHUNK, SlowlyChangingRegression

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "swish")
REGRESSION_METHODS = ("bp", "cbp", "l2", "sp")
OPTIMIZERS = ("sgd", "adam")


def _act(name: str, z: torch.Tensor):
    """``(h, dh/dz)`` of activation ``name`` at ``z``."""
    if name == "relu":
        h = z.clamp_min(0)
        return h, (z > 0).to(z.dtype)
    if name == "leaky_relu":
        d = torch.where(z > 0, 1.0, 0.01).to(z.dtype)
        return z * d, d
    if name == "tanh":
        h = torch.tanh(z)
        return h, 1 - h * h
    if name == "sigmoid":
        h = torch.sigmoid(z)
        return h, h * (1 - h)
    if name == "elu":
        e = torch.expm1(z.clamp_max(0))
        return torch.where(z > 0, z, e), torch.where(z > 0, 1.0, e + 1).to(z.dtype)
    s = torch.sigmoid(z)  # swish / SiLU
    return z * s, s * (1 + z * (1 - s))


def _seeds(seeds) -> list[int]:
    seeds = list(seeds) if isinstance(seeds, (list, tuple, range)) else [seeds]
    if not seeds:
        raise ValueError("seeds must name at least one run")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"each seed must be a non-negative int, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return [int(s) for s in seeds]


def _streams(seed: int) -> dict[str, int]:
    names = ("target", "data", "init", "method")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children)}


def run_regression(seeds, *, steps: int = 600_000, bin_size: int = 10_000, activation: str = "relu",
                   method: str = "bp", optimizer: str = "sgd", lr: float = 0.01,
                   betas: tuple = (0.9, 0.999), hidden: int = 5, replacement_rate: float = 1e-4,
                   maturity_threshold: int = 100, decay_rate: float = 0.99, weight_decay: float = 0.0,
                   sp_noise: float = 0.0, num_flipping: int = 15, num_iid: int = 5,
                   flip_every: int = 10_000, target_hidden: int = 100, beta: float = 0.7,
                   dtype=torch.float32) -> dict:
    """Train one learner per seed on the slowly-changing regression, all runs in one batch.

    Returns ``{"error": (runs, steps // bin_size) mean squared error per bin, "replaced":
    (runs,) units replaced, "dead": (runs, bins) fraction of hidden units whose activation was 0 on
    every step of the bin (ReLU-family only; 0 otherwise), "weight_magnitude": (runs, bins) mean
    |w| of the hidden layer at the end of each bin, "elapsed": seconds, "seeds": seeds}``.
    Bad arguments raise ValueError naming them.
    """
    seeds = _seeds(seeds)
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("method", method, REGRESSION_METHODS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_positive_int("steps", steps)
    check_positive_int("bin_size", bin_size)
    check_positive_int("hidden", hidden)
    if steps % bin_size:
        raise ValueError(f"steps={steps} must be a multiple of bin_size={bin_size}")
    lr = check_range("lr", lr, 1e-12, 10.0)
    rho = check_range("replacement_rate", replacement_rate, 0.0, 1.0)
    if rho * hidden > 1:
        raise ValueError(f"replacement_rate={replacement_rate} x hidden={hidden} must be <= 1 "
                         "(at most one replacement per run and step)")
    m = check_range("maturity_threshold", maturity_threshold, 0, 1e12)
    try:
        eta = float(decay_rate)
    except (TypeError, ValueError):
        eta = float("nan")
    if not 0.0 <= eta < 1.0:
        raise ValueError(f"decay_rate must be in [0, 1), got {decay_rate!r}")
    wd = check_range("weight_decay", weight_decay, 0.0, 1e3)
    noise = check_range("sp_noise", sp_noise, 0.0, 1e3)
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1, b2 = (check_range("betas[0]", betas[0], 0.0, 1.0 - 1e-12), check_range("betas[1]", betas[1], 0.0, 1.0 - 1e-12))

    t0 = time.perf_counter()
    data = SlowlyChangingRegression(seeds, num_flipping=num_flipping, num_iid=num_iid, flip_every=flip_every,
                                    target_hidden=target_hidden, beta=beta)
    R, I, H = len(seeds), data.num_inputs, hidden
    streams = [_streams(s) for s in seeds]
    init_gens = [torch.Generator().manual_seed(st["init"]) for st in streams]
    method_gens = [torch.Generator().manual_seed(st["method"]) for st in streams]
    bound1, bound2 = 1 / math.sqrt(I), 1 / math.sqrt(H)  # PyTorch's default Linear init

    # theta = [W1 (H*I) | b1 (H) | w2 (H) | b2 (1)] per run
    P = H * I + 2 * H + 1
    theta = torch.empty(R, P, dtype=dtype)
    for r, g in enumerate(init_gens):
        w1 = (torch.rand(H, I, generator=g) * 2 - 1) * bound1
        bb1 = (torch.rand(H, generator=g) * 2 - 1) * bound1
        w2 = (torch.rand(H, generator=g) * 2 - 1) * bound2
        bb2 = (torch.rand(1, generator=g) * 2 - 1) * bound2
        theta[r] = torch.cat([w1.flatten(), bb1, w2, bb2]).to(dtype)
    W1 = theta[:, :H * I].view(R, H, I)
    B1 = theta[:, H * I:H * I + H]
    W2 = theta[:, H * I + H:H * I + 2 * H]
    B2 = theta[:, -1]
    grad = torch.zeros(R, P, dtype=dtype)
    gW1 = grad[:, :H * I].view(R, H, I)
    gB1 = grad[:, H * I:H * I + H]
    gW2 = grad[:, H * I + H:H * I + 2 * H]
    gB2 = grad[:, -1]
    adam = optimizer == "adam"
    m1 = torch.zeros(R, P, dtype=dtype) if adam else None
    m2 = torch.zeros(R, P, dtype=dtype) if adam else None
    util = torch.zeros(R, H, dtype=dtype)
    mean_act = torch.zeros(R, H, dtype=dtype)
    age = torch.zeros(R, H, dtype=dtype)
    acc = torch.zeros(R, dtype=torch.float64)
    replaced = np.zeros(R, dtype=np.int64)
    relu_like = activation in ("relu",)
    bins = steps // bin_size
    err = torch.zeros(R, bins, dtype=torch.float64)
    dead = torch.zeros(R, bins)
    wmag = torch.zeros(R, bins)
    alive = torch.zeros(R, H, dtype=torch.bool)
    sq = torch.empty(CHUNK, R, dtype=dtype)
    step = 0
    decay = 1 - lr * wd if method == "sp" else 1.0
    cbp = method == "cbp"
    while step < steps:
        n = min(CHUNK, steps - step)
        x_all, y_all = data.next(n)
        x_all, y_all = x_all.to(dtype), y_all.to(dtype)
        if method == "sp" and noise > 0:
            eps_all = torch.stack([torch.randn(n, P, generator=g) for g in method_gens], 1).to(dtype) * noise
        for k in range(n):
            x, y = x_all[k], y_all[k]
            z = torch.baddbmm(B1.unsqueeze(2), W1, x.unsqueeze(2)).squeeze(2)
            h, dh = _act(activation, z)
            e = (W2 * h).sum(1) + B2 - y
            sq[k] = e * e
            g = 2 * e
            torch.mul(h, g.unsqueeze(1), out=gW2)
            gB2.copy_(g)
            torch.mul(W2 * dh, g.unsqueeze(1), out=gB1)
            torch.mul(gB1.unsqueeze(2), x.unsqueeze(1), out=gW1)
            if method == "l2":
                grad.add_(theta, alpha=wd)
            if adam:
                t = step + k + 1
                m1.mul_(b1).add_(grad, alpha=1 - b1)
                m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = (m2 / (1 - b2 ** t)).sqrt_().add_(1e-8)
                theta.addcdiv_(m1, denom, value=-lr / (1 - b1 ** t))
            else:
                theta.add_(grad, alpha=-lr)
            if method == "sp":
                theta.mul_(decay)
                if noise > 0:
                    theta.add_(eps_all[k])
            if relu_like:
                alive |= h > 0
            if cbp:
                age += 1
                mean_act.mul_(eta).add_(h, alpha=1 - eta)
                util.mul_(eta).add_(h.abs() * W2.abs(), alpha=1 - eta)
                acc += rho * (age > m).sum(1)
                if bool((acc >= 1).any()):
                    for r in torch.nonzero(acc >= 1).flatten().tolist():
                        acc[r] -= 1
                        eligible = age[r] > m
                        corrected = util[r] / (1 - eta ** age[r])
                        i = int(torch.where(eligible, corrected, torch.inf).argmin())
                        W1[r, i] = ((torch.rand(I, generator=method_gens[r]) * 2 - 1) * bound1).to(dtype)
                        B1[r, i] = 0
                        B2[r] += W2[r, i] * mean_act[r, i] / (1 - eta ** age[r, i])
                        W2[r, i] = 0
                        if adam:
                            for buf in (m1, m2):
                                buf[r, :H * I].view(H, I)[i] = 0
                                buf[r, H * I + i] = 0
                                buf[r, H * I + H + i] = 0
                        util[r, i] = mean_act[r, i] = age[r, i] = 0
                        replaced[r] += 1
        # bin the squared errors
        pos = 0
        while pos < n:
            b = (step + pos) // bin_size
            end = min(n, (b + 1) * bin_size - step)
            err[:, b] += sq[pos:end].sum(0).double()
            if end + step == (b + 1) * bin_size:
                if relu_like:
                    dead[:, b] = (~alive).float().mean(1)
                    alive.zero_()
                wmag[:, b] = W1.abs().mean((1, 2)).float()
            pos = end
        step += n
        if not torch.isfinite(theta).all():
            raise ValueError(f"the learners diverged by step {step} (lr={lr}); choose a smaller lr")
    return {"error": (err / bin_size).numpy(), "replaced": replaced, "dead": dead.numpy(),
            "weight_magnitude": wmag.numpy(), "elapsed": time.perf_counter() - t0, "seeds": seeds}
