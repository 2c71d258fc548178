"""Ground truth for DASH's cosine: which filters learned features and which memorised noise?

On feature/noise images (:func:`plasticity_sim.data.make_feature_noise`) we know every feature
pattern and every training point's noise patch. A two-layer *patch CNN* - one convolution whose
kernel and stride equal the patch size, so each filter is a patch-shaped pattern, ReLU, average over
the patch slots, linear head; the network of the feature-learning theory the DASH paper builds on -
is trained on the first half of the training set until it fits it (100 % train accuracy). Then, as
at the start of experiment 2 of the chunked protocol, DASH's gradient EMA runs over the first half
and the new second half, and every filter gets its DASH cosine.

Ground truth per filter w (its flattened patch weights), compared with the initial filters as the
chance level:

* **feature share** - ``||P_F w||^2 / ||w||^2``, the share of the filter's energy inside the span
  of all feature patterns (chance: dim(span) / patch dimension);
* **noise alignment** - ``max |cos(w, xi)|`` over the noise patches xi of the points it was
  trained on (memorising a point's noise means pointing at that patch).

Explained in: book/dash/01_dash_rule.ipynb
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from plasticity_sim import runs
from plasticity_sim.data import load_dataset
from plasticity_sim.protocols.specs import FeatureProbeConfig
from plasticity_sim.diagnostics import unit_cosines
from plasticity_sim.interventions import dash_cosines, dash_gradient_ema, shrink_factors
from plasticity_sim.models import PatchCNN
from plasticity_sim.ground_truth import feature_share, max_abs_cosine, noise_patch_vectors
from plasticity_sim.train import evaluate, loss_and_grads, make_optimizer, train_until


@dataclass
class FeatureProbeResult:
    """``per_seed``: one dict per seed of numpy arrays over the filters - ``cos_row`` (F,),
    ``cos_kernel`` (F, channels), ``cos_old`` / ``cos_new`` (cosine with the old / new half's
    negative gradient alone), ``feature_share``, ``noise_alignment`` (and ``*_init`` for the
    initial filters), ``factors`` ({granularity: {param: array}}) - plus ``epochs``, ``test_acc``.
    """

    config: FeatureProbeConfig
    per_seed: list[dict]
    wall_time: float

    def pooled(self, key: str) -> np.ndarray:
        """``key`` concatenated over seeds (flattened). Explained in: book/dash/01_dash_rule.ipynb"""
        if key not in self.per_seed[0]:
            raise ValueError(f"unknown key {key!r}; allowed: {sorted(self.per_seed[0])}")
        return np.concatenate([np.asarray(s[key], dtype=float).ravel() for s in self.per_seed])

    def to_dict(self) -> dict:
        """JSON-able copy."""
        return {"config": asdict(self.config), "wall_time": self.wall_time,
                "per_seed": [_jsonable(s) for s in self.per_seed]}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return np.asarray(obj).tolist()
    return obj


def probe_seed(config: FeatureProbeConfig, seed: int) -> dict:
    """One seed of the probe (data, training, DASH cosines, ground truth); see the module docstring.
    """
    c = config
    runs.ensure_valid(c)
    data = load_dataset("feature_noise", seed=seed, num_classes=2, features_per_class=c.features_per_class,
                        patch_size=c.patch_size, image_size=c.image_size, channels=c.channels,
                        noise_patches=c.noise_patches, noise_std=c.noise_std, n_train=c.n_train,
                        n_test=c.n_test, frequency_params={"p_max": c.p_max}, **c.data_kwargs)
    half = c.n_train // 2
    streams = np.random.SeedSequence(seed).spawn(2)
    gen = [torch.Generator().manual_seed(int(s.generate_state(1)[0])) for s in streams]
    model = PatchCNN(c.channels, c.patch_size, c.filters, data.num_classes, generator=gen[0],
                     init_scale=c.init_scale)
    w_init = model.conv.weight.detach().reshape(c.filters, -1).numpy().copy()
    opt = make_optimizer("adamw", model.parameters(), lr=c.lr)
    res = train_until(model, data.x_train[:half], data.y_train[:half], optimizer=opt, target_train_acc=1.0,
                      max_epochs=c.max_epochs, batch_size=c.batch_size, generator=gen[1],
                      context=f"feature probe seed {seed}")
    model.eval()
    ema = dash_gradient_ema(model, data.x_train, data.y_train, half, c.alpha)
    cos_row = dash_cosines(model, ema, "row")
    cos_kernel = dash_cosines(model, ema, "kernel")
    w = model.conv.weight.detach().reshape(c.filters, -1).numpy()
    by_half = {}
    for name, sl in (("old", slice(0, half)), ("new", slice(half, c.n_train))):
        grads = loss_and_grads(model, data.x_train[sl], data.y_train[sl])
        by_half[name] = unit_cosines(model, grads)["conv"]
    patterns = data.truth["feature_patterns"].reshape(-1, w.shape[1])
    noise = noise_patch_vectors(data, np.arange(half))
    factors = {g: {k: v.numpy() for k, v in shrink_factors(model, ema, c.lam, g).items()}
               for g in ("kernel", "row")}
    return {
        "seed": seed, "epochs": res.epochs, "train_acc": float(res.final_train_acc),
        "test_acc": evaluate(model, data.x_test, data.y_test),
        "cos_row": cos_row["conv.weight"].numpy(), "cos_kernel": cos_kernel["conv.weight"].numpy(),
        "cos_old": by_half["old"], "cos_new": by_half["new"],
        "feature_share": feature_share(w, patterns), "feature_share_init": feature_share(w_init, patterns),
        "noise_alignment": max_abs_cosine(w, noise), "noise_alignment_init": max_abs_cosine(w_init, noise),
        "factors": factors, "feature_span_chance": patterns.shape[0] / w.shape[1],
        "meta": {k: data.meta[k] for k in ("mean_features_per_train_point", "train_points_without_features")},
    }


def run_feature_probe(config: FeatureProbeConfig, *, progress: bool = False) -> FeatureProbeResult:
    """Run :func:`probe_seed` for every seed of ``config``.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    if not isinstance(config, FeatureProbeConfig):
        raise ValueError(f"config must be a FeatureProbeConfig, got {type(config).__name__}")
    runs.ensure_valid(config)
    t0 = time.perf_counter()
    per_seed = [probe_seed(config, s) for s in tqdm(config.seeds, desc="probe", disable=not progress)]
    return FeatureProbeResult(config=config, per_seed=per_seed, wall_time=time.perf_counter() - t0)


def check(config: FeatureProbeConfig) -> None:
    """Everything that can fail before training (the data are drawn per seed inside the run)."""
    runs.ensure_valid(config)


def run(config: FeatureProbeConfig) -> runs.RunOutcome:
    """The registry's entry point: one record per seed (arrays as lists), for a results file."""
    res = run_feature_probe(config)
    return runs.RunOutcome(records=[_jsonable(r) for r in res.per_seed], device="cpu",
                           elapsed=res.wall_time, seeds={"seeds": list(config.seeds)})
