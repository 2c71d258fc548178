"""Plasticity diagnostics: dormant units, representation rank, weight statistics, DASH cosines.

Why one module just over 400 lines: every diagnostic the parts share (the DASH part's, Hare &
Tortoise's App. C metrics, the continual part's), so that they are computed one way everywhere.

The published definitions disagree, so each disagreement is a named option of one function:

* dormant units (:func:`dormant_fraction`, :func:`dormant_mask`, :func:`unit_scores`):
  ``"redo"`` - Sokar et al. (ICML 2023), Definition 3.1: normalised score
  ``s_i = E|h_i| / ((1/H) sum_k E|h_k|)``, dormant if ``s_i <= tau`` (also Hare & Tortoise's ReDo);
  ``"lop"`` - Dohare et al. (Nature 2024), ``post_run_analysis.py``: active (> 0) on less than
  ``tau = 1 %`` of the inputs;
  ``"zero"`` - share of zero activations (Hare & Tortoise App. C "feature zero-activation ratio";
  Plasticine's zero-activation ratio): not a per-unit test but a share of entries.
* rank of a feature matrix: :func:`effective_rank` (Roy & Vetterli 2007, exp-entropy of the
  normalised singular values; LoP, Plasticine; H&T's "smooth rank") and :func:`stable_rank`
  (smallest k holding 99 % of the singular-value sum; Kumar et al. 2021, LoP code, H&T's srank).
* weights: :func:`weight_magnitude`, :func:`distance_to_init` (H&T App. C forms and plain ones).
* :func:`unit_cosines` - per-unit cos(weight, -gradient), the quantity DASH thresholds.

For convolutional feature maps ``(N, C, H, W)`` a *unit* is a channel; its statistics average
over the inputs and the positions. Activations are collected with forward hooks that are always
removed again (:func:`collect_activations`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.train import preserved_modes

DEFINITIONS = ("redo", "lop", "zero")
DEFAULT_TAU = {"redo": 0.1, "lop": 0.01, "zero": None}
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_REDO_EPS = 1e-9  # an all-silent layer then scores 0 everywhere (all dormant) instead of 0/0


def _check(what, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(repr, allowed))}")


def collect_activations(model: nn.Module, x: torch.Tensor, layers=None, *, batch_size: int = 1024,
                        mode: str = "eval") -> dict[str, torch.Tensor]:
    """Outputs of ``layers`` on inputs ``x``, recorded with forward hooks, as CPU float tensors.

    Args:
        layers: modules or module names; default ``model.hidden_layers()`` when the model has it
            (the models' contract: post-activation "unit" modules), else every activation module.
        mode: "eval" (default) runs in eval mode - BatchNorm uses running statistics and is not
            updated - and restores every submodule's train/eval flag afterwards; "current" keeps
            the model's mode (in train mode BatchNorm running statistics do change).
    Hooks are removed and modes restored even if the forward pass fails. Returns
    ``{module name: tensor of shape (N, ...)}`` in the order of ``layers``.
    """
    _check("mode", mode, ("eval", "current"))
    names = {id(m): n for n, m in model.named_modules()}
    by_name = dict(model.named_modules())
    if layers is None:
        hidden = getattr(model, "hidden_layers", None)
        layers = list(hidden()) if callable(hidden) else [
            m for m in model.modules() if isinstance(m, ACTIVATION_TYPES)]
    modules = []
    for layer in layers:
        m = by_name.get(layer) if isinstance(layer, str) else layer
        if m is None or id(m) not in names:
            raise ValueError(f"layer {layer!r} is not a module of {type(model).__name__}; "
                             f"allowed names: {[n for n in by_name if n]}")
        modules.append(m)
    if not modules:
        raise ValueError(f"no layers to record in {type(model).__name__}")
    outputs = {names[id(m)]: [] for m in modules}
    handles = []

    def hook_for(name):
        def hook(module, inputs, output):
            outputs[name].append(output.detach().float().cpu())
        return hook

    try:
        for m in modules:
            handles.append(m.register_forward_hook(hook_for(names[id(m)])))
        with preserved_modes(model), torch.no_grad():
            if mode == "eval":
                model.eval()
            for start in range(0, len(x), batch_size):
                expected = start // batch_size + 1
                model(x[start:start + batch_size])
                for name, outs in outputs.items():
                    if len(outs) != expected:
                        raise ValueError(f"module {name!r} ran {len(outs) - expected + 1} times in one "
                                         f"forward pass; its output is ambiguous")
    finally:
        for h in handles:
            h.remove()
    return {n: torch.cat(outs) for n, outs in outputs.items()}


def _per_unit_entries(acts) -> torch.Tensor:
    """(N, units, ...) -> (units, N * positions): every entry that belongs to each unit."""
    a = torch.as_tensor(acts, dtype=torch.float64)
    if a.ndim < 2:
        raise ValueError(f"activations need shape (N, units, ...), got {tuple(a.shape)}")
    return a.transpose(0, 1).reshape(a.shape[1], -1)


def unit_scores(acts, definition: str = "redo") -> torch.Tensor:
    """Per-unit statistic behind each dormant definition, shape ``(units,)``.

    "redo": ``s_i = mean|h_i| / (mean_k mean|h_k| + 1e-9)``; "lop": share of entries with
    ``h > 0``; "zero": share of entries with ``h == 0``.
    """
    _check("dormant definition", definition, DEFINITIONS)
    e = _per_unit_entries(acts)
    if definition == "redo":
        m = e.abs().mean(1)
        return m / (m.mean() + _REDO_EPS)
    if definition == "lop":
        return (e > 0).double().mean(1)
    return (e == 0).double().mean(1)


def _tau(definition, tau):
    if definition == "zero":
        if tau is not None:
            raise ValueError(f"definition 'zero' takes no tau (got tau={tau!r}); it is a share")
        return None
    tau = DEFAULT_TAU[definition] if tau is None else tau
    if not isinstance(tau, (int, float)) or not (0 <= tau < math.inf):
        raise ValueError(f"tau must be a non-negative number, got {tau!r}")
    return float(tau)


def dormant_mask(acts, definition: str = "redo", tau: float | None = None) -> torch.Tensor:
    """Boolean ``(units,)``: which units are dormant ("redo": score <= tau, default 0.1;
    "lop": active on < tau of the inputs, default 0.01). "zero" has no per-unit test.
    """
    _check("dormant definition", definition, DEFINITIONS)
    if definition == "zero":
        raise ValueError("definition 'zero' is a share of zero activations, not a per-unit test; "
                         "use dormant_fraction(acts, 'zero') or unit_scores(acts, 'zero')")
    tau = _tau(definition, tau)
    s = unit_scores(acts, definition)
    return s <= tau if definition == "redo" else s < tau


def dormant_fraction(acts, definition: str = "redo", tau: float | None = None) -> float:
    """Share of dormant units (or, for "zero", of zero activations) in one layer or several.

    ``acts`` is one ``(N, units, ...)`` tensor/array, or a dict of them (then all units of all
    layers are pooled; for "zero" each unit weighs equally). See the module docstring for the
    sources of the three definitions.
    """
    _check("dormant definition", definition, DEFINITIONS)
    tau = _tau(definition, tau)
    layers = list(acts.values()) if isinstance(acts, dict) else [acts]
    if definition == "zero":
        vals = torch.cat([unit_scores(a, "zero") for a in layers])
    else:
        vals = torch.cat([dormant_mask(a, definition, tau).double() for a in layers])
    return float(vals.mean()) if vals.numel() else 0.0


def _singular_values(matrix) -> np.ndarray:
    m = torch.as_tensor(matrix).detach().to(torch.float64).cpu()
    if m.ndim < 2:
        raise ValueError(f"need a matrix (N, features), got shape {tuple(m.shape)}")
    if not bool(torch.isfinite(m).all()):
        # LAPACK would print "DLASCL parameter 4" lines straight to the terminal (past --quiet)
        # and return garbage: a diverged network is a run failure, said once.
        raise FloatingPointError("non-finite values in the matrix of a rank diagnostic: the network diverged; "
                                 "choose a smaller lr")
    return torch.linalg.svdvals(m.reshape(m.shape[0], -1)).numpy()


def effective_rank(matrix) -> float:
    """Effective rank ``exp(-sum_k p_k log p_k)``, ``p_k = sigma_k / sum_i sigma_i`` (Roy & Vetterli).

    Between 1 and min(m, n) (0 for an all-zero matrix); higher dims are flattened to (N, -1).
    Source: Dohare et al.'s code ``compute_effective_rank`` (Nature 2024, arXiv:2306.13812).
    """
    s = _singular_values(matrix)
    if s.sum() <= 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def stable_rank(matrix, delta: float = 0.01) -> int:
    """Smallest k whose top-k singular values hold at least ``1 - delta`` of their sum.

    Source: Dohare et al. code ``compute_stable_rank`` (``sum(cumsum/sum < 0.99) + 1``), Kumar et
    al. 2021's srank; 0 for an all-zero matrix.
    """
    if not isinstance(delta, (int, float)) or not (0 <= delta < 1):
        raise ValueError(f"delta must be in [0, 1), got {delta!r}")
    s = np.sort(_singular_values(matrix))[::-1]
    if s.sum() <= 0:
        return 0
    share = np.cumsum(s) / s.sum()
    return int(min(np.sum(share < 1 - delta) + 1, len(s)))


def _layer_weights(model):
    return [(n, m.weight) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def weight_magnitude(model: nn.Module, form: str = "ht") -> float:
    """Size of the Linear/Conv weights: "ht" = sum over layers of mean(W^2) (Hare & Tortoise
    App. C); "lop" = mean |w| over all those weights pooled (LoP's average weight magnitude).
    """
    _check("weight_magnitude form", form, ("ht", "lop"))
    ws = [w.detach().double() for _, w in _layer_weights(model)]
    if form == "ht":
        return float(sum(w.pow(2).mean() for w in ws))
    return float(torch.cat([w.abs().flatten() for w in ws]).mean())


def distance_to_init(model: nn.Module, initial_state: dict, form: str = "ht") -> float:
    """Distance of the weights from their initial values: "ht" = sum over Linear/Conv layers of
    mean((W - W_init)^2) (Hare & Tortoise App. C); "l2" = ||theta - theta_init||_2 over all
    parameters.
    """
    _check("distance_to_init form", form, ("ht", "l2"))
    pairs = ([(f"{n}.weight" if n else "weight", w) for n, w in _layer_weights(model)]
             if form == "ht" else list(model.named_parameters()))
    total = 0.0
    for name, w in pairs:
        if name not in initial_state:
            raise ValueError(f"initial_state has no entry {name!r}; it does not match the model")
        d = w.detach().double().cpu() - torch.as_tensor(initial_state[name]).double().cpu()
        total += float(d.pow(2).mean() if form == "ht" else d.pow(2).sum())
    return total if form == "ht" else math.sqrt(total)


def unit_cosines(model: nn.Module, grads: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per output unit (row / filter) of every Linear/Conv layer: cos(weight, -gradient).

    ``grads`` maps parameter names to loss gradients (e.g. ``train.loss_and_grads``); layers
    whose weight has no entry are skipped. Same grouping as DASH's ``granularity="row"``
    (torch cosine, eps 1e-8); values near 1 mean "this unit already points downhill".
    """
    out = {}
    for name, w in _layer_weights(model):
        key = f"{name}.weight" if name else "weight"
        if key not in grads:
            continue
        g = torch.as_tensor(grads[key]).to(w.device, w.dtype)
        if g.shape != w.shape:
            raise ValueError(f"gradient {key!r} has shape {tuple(g.shape)}, weight {tuple(w.shape)}")
        cos = F.cosine_similarity(-g.reshape(len(w), -1), w.detach().reshape(len(w), -1), dim=-1)
        out[name] = cos.double().cpu().numpy()
    return out


def _loss_grads(model, x, y, batch_size):
    """Mean cross-entropy, accuracy and mean gradient over (x, y), in eval mode, model restored."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = {n: torch.zeros_like(p) for n, p in params}
    loss_sum, correct = 0.0, 0
    with preserved_modes(model), torch.enable_grad():
        model.eval()
        for s in range(0, len(x), batch_size):
            out = model(x[s:s + batch_size])
            loss = F.cross_entropy(out, y[s:s + batch_size], reduction="sum")
            gs = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
            for (n, _), g in zip(params, gs):
                if g is not None:
                    grads[n] += g
            loss_sum += float(loss.detach())
            correct += int((out.argmax(1) == y[s:s + batch_size]).sum())
    return loss_sum / len(x), correct / len(x), {n: g / len(x) for n, g in grads.items()}


def summarize(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, initial_state: dict | None = None,
              layers=None, taus: dict | None = None, max_samples: int = 2048,
              batch_size: int = 512) -> dict:
    """All diagnostics of ``model`` on (the first ``max_samples`` of) ``x, y`` as a JSON-able dict.

    Keys: ``num_samples``, ``loss``, ``accuracy``, ``layers``, ``dormant`` (per definition: tau,
    per-layer share, pooled ``all``), ``effective_rank`` and ``stable_rank`` per layer (features
    flattened to (N, -1)), ``weight_magnitude`` (both forms), ``distance_to_init`` (both forms,
    only with ``initial_state``), ``unit_cosine`` per Linear/Conv layer (mean, median, q10, q90,
    share negative, count). Everything runs in eval mode; the model is left as it was.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and {len(y)}")
    taus = {**DEFAULT_TAU, **(taus or {})}
    unknown = sorted(set(taus) - set(DEFINITIONS))
    if unknown:
        raise ValueError(f"unknown dormant definitions in taus: {unknown}; allowed: {list(DEFINITIONS)}")
    x, y = x[:max_samples], y[:max_samples]
    acts = collect_activations(model, x, layers, batch_size=batch_size)
    loss, acc, grads = _loss_grads(model, x, y, batch_size)
    dormant = {}
    for d in DEFINITIONS:
        per = {n: dormant_fraction(a, d, taus[d]) for n, a in acts.items()}
        dormant[d] = {"tau": taus[d], "per_layer": per, "all": dormant_fraction(acts, d, taus[d])}
    cosines = {}
    for n, c in unit_cosines(model, grads).items():
        cosines[n] = {"mean": float(c.mean()), "median": float(np.median(c)),
                      "q10": float(np.quantile(c, 0.1)), "q90": float(np.quantile(c, 0.9)),
                      "frac_negative": float((c < 0).mean()), "n": int(c.size)}
    out = {
        "num_samples": int(len(x)), "loss": float(loss), "accuracy": float(acc),
        "layers": list(acts),
        "dormant": dormant,
        "effective_rank": {n: effective_rank(a) for n, a in acts.items()},
        "stable_rank": {n: stable_rank(a) for n, a in acts.items()},
        "weight_magnitude": {f: weight_magnitude(model, f) for f in ("ht", "lop")},
        "unit_cosine": cosines,
    }
    if initial_state is not None:
        out["distance_to_init"] = {f: distance_to_init(model, initial_state, f) for f in ("ht", "l2")}
    return out


# ----------------------------------------------------------------------------- Hare & Tortoise App. C
# The five plasticity metrics of Lee et al. (2024) App. C, measured at the end of the warm-start
# phase, and their Pearson correlation with final test accuracy (arXiv:2406.02596, App. C).
HT_METRICS = ("weight_magnitude", "weight_distance", "zero_gradient_ratio", "zero_activation_ratio", "srank")


def zero_ratio(matrix, atol: float = 0.0) -> float:
    """Share of the entries of ``matrix`` with ``|v| <= atol`` (exact zeros by default)."""
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ValueError(f"atol must be a number >= 0, got {atol!r}")
    m = torch.as_tensor(matrix).detach()
    if m.numel() == 0:
        raise ValueError("zero_ratio of an empty matrix is undefined")
    return float((m.abs() <= atol).double().mean())


def _head_input_and_last_preactivation(model: nn.Module, x: torch.Tensor):
    """One forward pass recording the head's input (the backbone's output features) and the input
    of the last activation module (its pre-activations); returns (logits, features, pre)."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module):
        raise ValueError(f"{type(model).__name__} has no .head module: the backbone's output is the head's input")
    hidden = model.hidden_layers() if callable(getattr(model, "hidden_layers", None)) else \
        [m for m in model.modules() if isinstance(m, ACTIVATION_TYPES)]
    seen = {}
    handles = [head.register_forward_hook(lambda m, i, o: seen.__setitem__("features", i[0]))]
    if hidden:
        def keep(m, i):
            i[0].retain_grad() if i[0].requires_grad else None
            seen["pre"] = i[0]
        handles.append(hidden[-1].register_forward_pre_hook(keep))
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return logits, seen["features"], seen.get("pre")


def backbone_features(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """The backbone's output features ``Phi`` (N, d): the input of ``model.head``, in eval mode."""
    out = []
    with preserved_modes(model), torch.no_grad():
        model.eval()
        for s in range(0, len(x), batch_size):
            out.append(_head_input_and_last_preactivation(model, x[s:s + batch_size])[1].reshape(
                min(batch_size, len(x) - s), -1).detach())
    return torch.cat(out)


def zero_gradient_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> float:
    """Share of zero entries of the per-example gradients ``d loss_i / d z_i`` at the backbone's
    output units, ``z`` the pre-activations of the last activation module (eval mode).

    Our reading of Hare & Tortoise App. C's "ratio of zero gradients in the backbone's output
    features" [R]: a ReLU unit that is off for example i passes no gradient for it, so the ratio
    counts (example, unit) pairs through which no learning signal flows. The model is left as it was.
    """
    zeros, total = 0, 0
    with preserved_modes(model), torch.enable_grad():
        model.eval()
        for s in range(0, len(x), batch_size):
            logits, _, pre = _head_input_and_last_preactivation(model, x[s:s + batch_size])
            if pre is None or not pre.requires_grad:
                raise ValueError(f"{type(model).__name__} has no activation module before its head")
            loss = F.cross_entropy(logits, y[s:s + batch_size], reduction="sum")
            (g,) = torch.autograd.grad(loss, [pre])
            zeros += int((g == 0).sum())
            total += g.numel()
    return zeros / total


def ht_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, initial_state: dict, *,
               delta: float = 0.01, max_samples: int = 2000) -> dict:
    """Hare & Tortoise App. C metrics of ``model`` on (the first ``max_samples`` of) ``x, y``:

    * ``weight_magnitude`` - sum over Linear/Conv layers of mean(W^2) (:func:`weight_magnitude`);
    * ``weight_distance`` - sum over layers of mean((W - W_init)^2) (:func:`distance_to_init`);
    * ``zero_gradient_ratio`` - :func:`zero_gradient_ratio`;
    * ``zero_activation_ratio`` - share of zero entries of the backbone features ``Phi``;
    * ``srank`` - :func:`stable_rank` of ``Phi`` with ``delta`` (0.01: 99 % of the singular-value sum).
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and {len(y)}")
    x, y = x[:max_samples], y[:max_samples]
    phi = backbone_features(model, x)
    return {"weight_magnitude": weight_magnitude(model, "ht"),
            "weight_distance": distance_to_init(model, initial_state, "ht"),
            "zero_gradient_ratio": zero_gradient_ratio(model, x, y),
            "zero_activation_ratio": zero_ratio(phi),
            "srank": stable_rank(phi, delta)}


def pearson(a, b) -> float:
    """Pearson correlation of two equally long sequences (NaN when either is constant)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"pearson needs two 1-D sequences of the same length >= 2, got {a.shape} and {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")
