"""Continual-learning loops: the slowly-changing regression, vectorised over runs.

Why one module of this size: the three continual benchmarks share their setup, optimizer and
per-task diagnostics, and the vectorised regression loop reads best in one piece.
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
# Far above any study here (the paper uses 5 units); a larger value is a typo that would ask for
# gigabytes of weights before the first step.
MAX_HIDDEN = 100_000


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

    Explained in: book/continual/01_loss_of_plasticity.ipynb
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
    if hidden > MAX_HIDDEN:   # before the product below, which would blame replacement_rate
        raise ValueError(f"hidden={hidden} is too large (at most {MAX_HIDDEN:,} units); choose a smaller hidden")
    if rho * hidden > 1:
        raise ValueError(f"replacement_rate={replacement_rate} x hidden={hidden} must be <= 1 "
                         "(at most one replacement per run and step); lower replacement_rate or hidden")
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
            # Each run's errors summed as one contiguous row: summing the columns of (steps, runs)
            # rounds differently with the number of runs, so a seed's error would depend on which
            # other seeds shared its batch.
            err[:, b] += sq[pos:end].t().contiguous().sum(1).double()
            if end + step == (b + 1) * bin_size:
                if relu_like:
                    dead[:, b] = (~alive).float().mean(1)
                    alive.zero_()
                wmag[:, b] = W1.abs().mean((1, 2)).float()
            pos = end
        step += n
        if not torch.isfinite(theta).all():
            # A run failure (exit 1, "run failed"), not a usage error: the config was valid.
            raise FloatingPointError(f"slow_regression: the learners diverged by step {step} (lr={lr}); "
                                     "choose a smaller lr")
    return {"error": (err / bin_size).numpy(), "replaced": replaced, "dead": dead.numpy(),
            "weight_magnitude": wmag.numpy(), "elapsed": time.perf_counter() - t0, "seeds": seeds}


# =============================================================================================
# Registered protocols: slow_regression, permuted, class_incremental (configs in specs/continual.py)
from plasticity_sim import methods as _methods  # noqa: E402
from plasticity_sim import runs as _runs  # noqa: E402
from plasticity_sim.protocols.specs import (ClassIncrementalConfig, PermutedConfig,  # noqa: E402
                                            SlowRegressionConfig)


def run_slow_regression(config: SlowRegressionConfig, *, prepared=None) -> "_runs.RunOutcome":
    """The registered protocol: :func:`run_regression` on every seed at once; one record per seed
    with the binned error, dead-unit fraction and weight magnitude, and the mean error of the first
    and last tenth of the bins. (``prepared``: unused, the problem is drawn inside the run.)"""
    _runs.ensure_valid(config)
    out = run_regression(list(config.seeds), steps=config.steps, bin_size=config.bin_size,
                         activation=config.activation, method=config.method, optimizer=config.optimizer,
                         lr=config.lr, betas=(config.beta1, config.beta2), hidden=config.hidden,
                         replacement_rate=config.replacement_rate, maturity_threshold=config.maturity_threshold,
                         decay_rate=config.decay_rate, weight_decay=config.weight_decay,
                         sp_noise=config.sp_noise, flip_every=config.flip_every)
    bins = out["error"].shape[1]
    tenth = max(1, bins // 10)
    records = []
    for r, seed in enumerate(out["seeds"]):
        err = out["error"][r]
        records.append({"seed": seed, "method": config.method, "activation": config.activation,
                        "error_bins": [float(v) for v in err], "dead_bins": [float(v) for v in out["dead"][r]],
                        "weight_magnitude_bins": [float(v) for v in out["weight_magnitude"][r]],
                        "error_first": float(err[:tenth].mean()), "error_last": float(err[-tenth:].mean()),
                        "replaced": int(out["replaced"][r])})
    return _runs.RunOutcome(records=records, seeds={"seeds": list(config.seeds)},
                            dataset_meta={"benchmark": "slowly-changing regression", "flip_every": config.flip_every},
                            intervention={"method": config.method}, elapsed=out["elapsed"])


def _optimizer(config, params):
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2),
                                weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def diagnose(model, x_probe: torch.Tensor) -> dict:
    """The plasticity diagnostics of ``model`` on ``x_probe``: dormant fraction of all hidden units
    under the three definitions of :mod:`plasticity_sim.diagnostics` ("redo" tau 0.1, "lop" tau 0.01,
    "zero"), effective and stable rank of the last hidden layer's features, and the mean weight
    magnitude (both forms)."""
    from plasticity_sim import diagnostics as d

    acts = d.collect_activations(model, x_probe)
    last = list(acts.values())[-1]
    return {"dormant_redo": d.dormant_fraction(acts, "redo"), "dormant_lop": d.dormant_fraction(acts, "lop"),
            "dormant_zero": d.dormant_fraction(acts, "zero"), "effective_rank": d.effective_rank(last),
            "stable_rank": int(d.stable_rank(last)), "weight_magnitude": d.weight_magnitude(model, "lop"),
            "weight_sq": d.weight_magnitude(model, "ht")}


def _setup(config, num_features: int, num_classes: int):
    from plasticity_sim.models import build_model

    streams = _runs.seed_streams(config.seed, ("init", "tasks", "train", "intervention"))
    kwargs = {"depth": config.depth, "width": config.width}

    def fresh(stream="init"):
        return build_model(config.model, (num_features,), num_classes,
                           generator=torch.Generator().manual_seed(streams[stream]), **kwargs)
    return streams, fresh


def _load(config):
    from plasticity_sim.data import load_dataset

    return load_dataset(config.dataset, seed=0, **config.dataset_kwargs)


def run_permuted(config: PermutedConfig, *, prepared=None) -> "_runs.RunOutcome":
    """Online permuted inputs: one record per task (online accuracy + diagnostics at its end)."""
    from plasticity_sim.data.continual import PermutedInputs
    from plasticity_sim.interventions import InterventionContext
    from plasticity_sim.train import train_until

    _runs.ensure_valid(config)
    t0 = time.perf_counter()
    ds = prepared if prepared is not None else _load(config)   # the data prepare() loaded, if given
    x = torch.cat([ds.x_train, ds.x_test]).reshape(len(ds.x_train) + len(ds.x_test), -1)
    y = torch.cat([ds.y_train, ds.y_test])
    streams, fresh = _setup(config, x.shape[1], ds.num_classes)
    tasks = PermutedInputs(x, y, seed=streams["tasks"], samples_per_task=config.samples_per_task)
    model = fresh()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    opt = _optimizer(config, model.parameters())
    intervention = _methods.build(config.method, config.method_params)
    g_int = torch.Generator().manual_seed(streams["intervention"])
    g_train = torch.Generator().manual_seed(streams["train"])
    records = []
    for k in range(config.num_tasks):
        xk, yk = tasks.task(k)
        ctx = InterventionContext(experiment=k + 1, x_seen=xk, y_seen=yk, chunk_size=len(xk), generator=g_int,
                                  initial_state=initial, make_fresh_model=fresh,
                                  make_optimizer=lambda p: _optimizer(config, p))
        model, opt = intervention(model, opt, ctx)
        res = train_until(model, xk, yk, optimizer=opt, target_train_acc=1.0, max_epochs=1,
                          batch_size=config.batch_size, generator=g_train,
                          regularizer=getattr(intervention, "regularizer", None),
                          step_hooks=getattr(intervention, "step_hooks", ()) or (),
                          context=f"permuted task {k + 1}")
        evaluated = getattr(intervention, "evaluation_model", lambda m: m)(model)
        rec = {"seed": config.seed, "method": config.method, "task": k + 1, "online_acc": res.final_train_acc,
               "steps": res.steps}
        rec.update(diagnose(evaluated, xk[:config.probe_points]))
        records.append(rec)
    return _runs.RunOutcome(records=records, seeds={"seed": config.seed, **streams},
                            dataset_meta=dict(ds.meta, num_features=int(x.shape[1]), samples=int(len(x))),
                            intervention={"method": config.method, "intervention": intervention.name,
                                          "params": getattr(intervention, "params", {})},
                            elapsed=time.perf_counter() - t0)


def run_class_incremental(config: ClassIncrementalConfig, *, prepared=None) -> "_runs.RunOutcome":
    """Class-incremental steps: one record per step with the continual network's and a from-scratch
    network's test accuracy on the seen classes, plus the continual network's diagnostics."""
    from plasticity_sim.data.continual import ClassIncremental
    from plasticity_sim.interventions import InterventionContext
    from plasticity_sim.train import train_until

    _runs.ensure_valid(config)
    t0 = time.perf_counter()
    ds = prepared if prepared is not None else _load(config)   # the data prepare() loaded, if given
    xtr, ytr = ds.x_train.reshape(len(ds.x_train), -1), ds.y_train
    xte, yte = ds.x_test.reshape(len(ds.x_test), -1), ds.y_test
    streams, fresh = _setup(config, xtr.shape[1], ds.num_classes)
    plan = ClassIncremental(ds.num_classes, seed=streams["tasks"], initial_classes=config.initial_classes,
                            classes_per_step=config.classes_per_step)
    model = fresh()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    opt = _optimizer(config, model.parameters())
    intervention = _methods.build(config.method, config.method_params)
    g_int = torch.Generator().manual_seed(streams["intervention"])
    records = []

    def accuracy(net, step):
        mask = plan.mask(yte, step)
        cls = torch.tensor(plan.classes(step))
        with torch.no_grad():
            net.eval()
            logits = net(xte[mask])[:, cls]
            net.train()
        return float((cls[logits.argmax(1)] == yte[mask]).float().mean())

    for k in range(plan.num_steps):
        m = plan.mask(ytr, k)
        xk, yk = xtr[m], ytr[m]
        ctx = InterventionContext(experiment=k + 1, x_seen=xk, y_seen=yk, chunk_size=len(xk), generator=g_int,
                                  initial_state=initial, make_fresh_model=fresh,
                                  make_optimizer=lambda p: _optimizer(config, p))
        model, opt = intervention(model, opt, ctx)
        train_until(model, xk, yk, optimizer=opt, target_train_acc=1.0, max_epochs=config.epochs_per_step,
                    batch_size=config.batch_size, generator=torch.Generator().manual_seed(streams["train"] + k),
                    regularizer=getattr(intervention, "regularizer", None),
                    step_hooks=getattr(intervention, "step_hooks", ()) or (), context=f"class-incremental step {k + 1}")
        scratch = fresh("intervention")  # the same fresh init at every step, trained on this step's data only
        train_until(scratch, xk, yk, optimizer=_optimizer(config, scratch.parameters()), target_train_acc=1.0,
                    max_epochs=config.epochs_per_step, batch_size=config.batch_size,
                    generator=torch.Generator().manual_seed(streams["train"] + k), context="from scratch")
        evaluated = getattr(intervention, "evaluation_model", lambda m: m)(model)
        rec = {"seed": config.seed, "method": config.method, "step": k + 1, "num_classes": len(plan.classes(k)),
               "test_acc": accuracy(evaluated, k), "scratch_test_acc": accuracy(scratch, k)}
        rec["relative_acc"] = rec["test_acc"] - rec["scratch_test_acc"]
        rec.update(diagnose(evaluated, xk[:config.probe_points]))
        records.append(rec)
    return _runs.RunOutcome(records=records, seeds={"seed": config.seed, **streams}, dataset_meta=dict(ds.meta),
                            intervention={"method": config.method, "intervention": intervention.name,
                                          "params": getattr(intervention, "params", {})},
                            elapsed=time.perf_counter() - t0)


def check(config) -> None:
    """Everything that can fail before training (the config, the method's parameters, the data)."""
    prepare(config)


def prepare(config):
    """:func:`check`, returning the data for the run's ``prepared=`` (one load per run; None for the regression)."""
    _runs.ensure_valid(config)
    if isinstance(config, (PermutedConfig, ClassIncrementalConfig)):
        from plasticity_sim.models import check_model_size

        _methods.build(config.method, config.method_params)
        ds = _load(config)
        # The same one-line size check as the other protocols, before any allocation.
        check_model_size(config.model, (math.prod(int(n) for n in ds.input_shape),), ds.num_classes,
                         depth=config.depth, width=config.width)
        return ds
    if isinstance(config, SlowRegressionConfig) and config.hidden > MAX_HIDDEN:
        raise ValueError(f"hidden={config.hidden} is too large (at most {MAX_HIDDEN:,} units); "
                         "choose a smaller hidden")
    return None
