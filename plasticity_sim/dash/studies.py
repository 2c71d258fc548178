"""The numbers the DASH (real-network) chapters need beyond a protocol's training loop.

Each function turns a protocol's result (or a model, or plain arrays) into the statistic a chapter
prints or checks: DASH's shrink factor, rank correlations, gaps to the cold start. ``figures`` draws
them; ``report`` summarises results files (and sets them beside the published Table 1,
``report.relative_to_cold``). The theory part's counterpart is :mod:`plasticity_sim.theory.studies`.

Importing this module does not import torch (only :func:`dash_factors_after_pretraining` and
:func:`whole_network_test_cosine` do, when called).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from plasticity_sim.checks import check_range
from plasticity_sim.stats import mean_std, pair_by_seed

if TYPE_CHECKING:  # annotations only: importing the protocols would import torch
    from plasticity_sim.protocols.subsets import SubsetCosineConfig, SubsetCosineResult
    from plasticity_sim.protocols.two_phase import PretrainSweepConfig, PretrainSweepResult

__all__ = ["shrink_factor", "shrink_2d",
           "dash_factors_after_pretraining", "gap_to_cold", "first_fitted_epoch", "spearman",
           "cosine_accuracy_correlation", "whole_network_test_cosine"]


# ---------------------------------------------------------------------------------------------
# DASH's shrink rule in numbers
def shrink_factor(cos, lam: float = 0.3) -> np.ndarray:
    """DASH's factor ``clamp(cos, lam, 1)`` = ``max(lam, cos)`` (cosines are at most 1).
    """
    lam = check_range("lam", lam, 0.0, 1.0)
    c = np.asarray(cos, dtype=float)
    if np.any(np.abs(c) > 1 + 1e-9) or np.any(np.isnan(c)):
        raise ValueError(f"cosines must lie in [-1, 1], got values from {np.nanmin(c)} to {np.nanmax(c)}")
    return np.clip(c, lam, 1.0)


def shrink_2d(weights, direction, lam: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Shrink each row of ``weights`` (n, 2) by DASH's factor against ``direction`` (2,).

    Returns (shrunk weights, factors). A zero weight or direction has cosine 0 (as torch's
    cosine with its eps), hence factor ``lam``.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    d = np.asarray(direction, dtype=float)
    if w.shape[1:] != d.shape:
        raise ValueError(f"weights {w.shape} and direction {d.shape} must have matching last dimension")
    norms = np.linalg.norm(w, axis=1) * np.linalg.norm(d)
    cos = np.divide(w @ d, norms, out=np.zeros(len(w)), where=norms > 1e-12)
    f = shrink_factor(np.clip(cos, -1.0, 1.0), lam)
    return w * f[:, None], f


# ---------------------------------------------------------------------------------------------
# Pre-training, then all data (plasticity_sim.protocols.two_phase)
def dash_factors_after_pretraining(config: PretrainSweepConfig, seed: int, pretrain_epochs: int, *,
                                   granularities=None, data=None) -> dict:
    """Pre-train ``seed``'s model for ``pretrain_epochs`` on the first part, then compute (but do
    not apply) DASH's factors over all data for each granularity: {granularity: {param: array}}.
    Also returns ``"pretrain_train_acc"``. For comparing the official kernel-slice grouping with
    the per-row variant on the same network and the same gradient EMA.

    ``granularities`` defaults to all of ``plasticity_sim.interventions.dash.GRANULARITIES``.
    The model, split and batch order are those of :func:`plasticity_sim.protocols.two_phase.run_pretrain_sweep`
    for the same config and seed.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    from plasticity_sim import methods
    from plasticity_sim.interventions import dash_gradient_ema, shrink_factors
    from plasticity_sim.interventions.dash import GRANULARITIES
    from plasticity_sim.protocols.two_phase import PhaseSetup, load_data, validate_config
    from plasticity_sim.train import evaluate, train_until

    validate_config(config)
    granularities = GRANULARITIES if granularities is None else granularities
    bad = [g for g in granularities if g not in GRANULARITIES]
    if bad or not granularities:
        raise ValueError(f"granularities={granularities!r}; allowed: {GRANULARITIES}")
    if isinstance(pretrain_epochs, bool) or not isinstance(pretrain_epochs, int) or pretrain_epochs < 1:
        raise ValueError(f"pretrain_epochs={pretrain_epochs!r} must be a positive int")
    setup = PhaseSetup(config, data if data is not None else load_data(config), seed)
    model = setup.fresh_model()
    train_until(model, setup.x_first, setup.y_first, optimizer=setup.optimizer(model),
                target_train_acc=1.0, max_epochs=pretrain_epochs, batch_size=config.batch_size,
                generator=setup.generator("pretrain"), context=f"pre-training seed {seed}")
    out = {"pretrain_train_acc": evaluate(model, setup.x_first, setup.y_first)}
    model.eval()
    # DASH's lam/alpha: the config's method_params["dash"] over the method table's defaults
    dash = methods.build("dash", config.method_params.get("dash")).params
    ema = dash_gradient_ema(model, setup.x_all, setup.y_all, setup.n_first, dash["alpha"])
    for g in granularities:
        out[g] = {k: v.detach().cpu().numpy() for k, v in shrink_factors(model, ema, dash["lam"], g).items()}
    return out


def gap_to_cold(result: PretrainSweepResult, method: str = "warm") -> dict[int, tuple[float, float]]:
    """Paired test-accuracy gap to the same seed's cold start, per E: {E: (mean, sample std)} in
    points (x100). Every E must hold the cold start's seeds (ValueError naming the missing ones).

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    cold = {r["seed"]: r["test_acc"] for r in result.cold}
    out = {}
    for e in sorted({r["pretrain_epochs"] for r in result.select(method=method)}):
        acc = {r["seed"]: r["test_acc"] for r in result.select(method=method, pretrain_epochs=e)}
        seeds = pair_by_seed(acc, cold, (f"{method} (E = {e})", "cold"))
        out[e] = mean_std([100 * (acc[s] - cold[s]) for s in seeds])
    if not out:
        raise ValueError(f"no records for method {method!r}")
    return out


def first_fitted_epoch(result: PretrainSweepResult, threshold: float = 0.99) -> int | float:
    """Smallest E of the grid whose pre-training accuracy (mean over seeds) is >= ``threshold``
    (``math.inf`` if none): where memorisation of the pre-training part is complete.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    method = result.config.methods[0]
    grid, mean, _ = result.curve(method, "pretrain_train_acc")
    hits = grid[mean >= threshold]
    return int(hits[0]) if hits.size else math.inf


# ---------------------------------------------------------------------------------------------
# Rank correlations (plasticity_sim.protocols.subsets)
def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), for Spearman's coefficient."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(len(a), dtype=float)
    for v in np.unique(a):
        tie = a == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation of two equal-length 1-D arrays (average ranks for ties).

    Explained in: book/dash/01_dash_rule.ipynb, book/dash/04_cosine_generalisation.ipynb
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size < 3:
        raise ValueError(f"need two equal-length arrays of >= 3 values, got shapes {a.shape} and {b.shape}")
    ra, rb = _ranks(a), _ranks(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        raise ValueError("a constant array has no rank correlation")
    return float(np.corrcoef(ra, rb)[0, 1])


def cosine_accuracy_correlation(result: SubsetCosineResult) -> dict:
    """Pearson and Spearman correlation, over all (seed, size) models, between the median unit
    cosine and the test accuracy.

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    if len(result.records) < 3:
        raise ValueError(f"need at least 3 models for a correlation, got {len(result.records)}")
    cos = np.array([r["median_cosine"] for r in result.records])
    acc = np.array([r["test_acc"] for r in result.records])
    if np.ptp(cos) == 0 or np.ptp(acc) == 0:
        raise ValueError("median cosines or test accuracies are all equal: correlation undefined")
    pearson = float(np.corrcoef(cos, acc)[0, 1])
    return {"n_models": len(cos), "pearson": pearson, "spearman": spearman(cos, acc)}


def whole_network_test_cosine(config: SubsetCosineConfig, seed: int, size: int, *, shrink: float = 0.05,
                            data=None) -> dict:
    """Retrain the (``seed``, ``size``) model of :func:`plasticity_sim.protocols.subsets.run_subset_cosines`
    (same subset, initial weights and batch order) and measure how the *whole* network lines up with
    the negative gradient of the mean test cross-entropy.

    Returns ``cos_all`` (all Linear/Conv parameters as one vector), ``cos_body`` (the same without the
    classifier head), ``test_loss`` and ``test_loss_shrunk`` (every parameter scaled by ``1 - shrink``),
    ``test_acc``. ``cos_all < 0`` means that shrinking all weights a little lowers the test loss: the
    derivative of ``L((1 - e) w)`` at ``e = 0`` is ``|w| |grad| cos_all``.

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    import torch
    import torch.nn.functional as F

    from plasticity_sim.data import load_dataset
    from plasticity_sim.models import build_model
    from plasticity_sim.protocols.subsets import seed_streams, validate_config
    from plasticity_sim.train import evaluate, loss_and_grads, make_optimizer, preserved_modes, train_until

    shrink = check_range("shrink", shrink, 0.0, 1.0)
    validate_config(config)
    data = data if data is not None else load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= data.num_train:
        raise ValueError(f"size={size!r} must be an int in 1..{data.num_train}")
    streams = seed_streams(seed)
    perm = torch.randperm(data.num_train, generator=torch.Generator().manual_seed(streams["subset"]))
    idx = perm[:size].to(data.device)
    model = build_model(config.model, data.input_shape, data.num_classes,
                        generator=torch.Generator().manual_seed(streams["init"]), **config.model_kwargs).to(data.device)
    opt = make_optimizer(config.optimizer, model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_until(model, data.x_train[idx], data.y_train[idx], optimizer=opt, target_train_acc=config.target_train_acc,
                max_epochs=config.max_epochs, batch_size=config.batch_size,
                generator=torch.Generator().manual_seed(streams["train"]), context=f"subset {size} seed {seed}")
    with preserved_modes(model):
        model.eval()
        grads = loss_and_grads(model, data.x_test, data.y_test, batch_size=1024)
        with torch.no_grad():
            loss = float(F.cross_entropy(model(data.x_test), data.y_test))
            params = dict(model.named_parameters())
            head = list(grads)[-2:]   # the last layer's weight and bias
            w = torch.cat([params[n].detach().ravel() for n in grads])
            g = -torch.cat([grads[n].ravel() for n in grads])
            body = [n for n in grads if n not in head]
            wb = torch.cat([params[n].detach().ravel() for n in body])
            gb = -torch.cat([grads[n].ravel() for n in body])
            for p in model.parameters():
                p.mul_(1.0 - shrink)
            loss_shrunk = float(F.cross_entropy(model(data.x_test), data.y_test))
            for p in model.parameters():
                p.div_(1.0 - shrink)
    return {"seed": seed, "size": size, "test_acc": evaluate(model, data.x_test, data.y_test),
            "cos_all": float(F.cosine_similarity(w, g, dim=0)), "cos_body": float(F.cosine_similarity(wb, gb, dim=0)),
            "test_loss": loss, "test_loss_shrunk": loss_shrunk, "shrink": shrink}
