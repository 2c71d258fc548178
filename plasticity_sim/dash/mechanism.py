"""The shipped five-seed studies behind DASH's design: the paper's Fig. 2 and its cosine figure.

    python -m plasticity_sim study dash/pretrain_sweep    # results/dash_fig2/pretrain_sweep.json
    python -m plasticity_sim study dash/subset_cosines    # results/dash_cosine/subset_cosines.json

Two studies, one results file each, both ordinary results files of a registered protocol (so
``python -m plasticity_sim verify`` re-runs them from their stored config):

* ``dash/pretrain_sweep`` - the ``two_phase`` protocol (:data:`PRETRAIN`): pre-train on half of
  6,000 MNIST-1D samples for E epochs, then train on all of them, with nothing (warm) or one DASH
  step between the phases; five seeds (book/dash/03);
* ``dash/subset_cosines`` - the ``subsets`` protocol (:data:`SUBSETS`): the 1-D CNN trained on nested
  subsets of 250 to 4,000 points, the per-unit cosines with the negative test gradient; five seeds.
  The file also holds, under ``"whole_network"``, the whole network's cosine with the negative test
  gradient of each seed's smallest and largest model (:data:`WHOLE_SIZES`), measured by
  :func:`plasticity_sim.dash.studies.whole_network_test_cosine` on the same models retrained
  (book/dash/04). ``verify`` re-runs the protocol's records; the whole-network part is re-made by the
  study command.

:func:`load_pretrain` and :func:`load_cosines` read and check the shipped files and return the same
result objects a live run returns; :func:`pretrain_rows`, :func:`pretrain_primary`,
:func:`cosine_rows` and :func:`cosine_primary` are the chapters' paired tables and primary
comparisons (Student-t 95 % intervals over seeds, :func:`plasticity_sim.stats.paired_ci`; Holm's
correction over each chapter's family of primary comparisons, :func:`plasticity_sim.stats.holm_verdicts`).
Same seed = same initial network, split and batch order in every arm, so the differences are paired.

Explained in: book/dash/03_noise_memorisation.ipynb, book/dash/04_cosine_generalisation.ipynb
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from plasticity_sim import runs, stats
from plasticity_sim.sweep import Call, Study, check_call_output

SEEDS = (0, 1, 2, 3, 4)
FIG2_RESULTS = runs.results_dir("dash_fig2")
COSINE_RESULTS = runs.results_dir("dash_cosine")
PRETRAIN_FILE = "pretrain_sweep.json"
COSINE_FILE = "subset_cosines.json"
# book/dash/03: 6,000 MNIST-1D samples (4,800 training points), the MLP, AdamW lr 2e-3 (the config's
# defaults), pre-training grid E and the two methods between the phases.
PRETRAIN = {"dataset_kwargs": {"num_samples": 6000}, "pretrain_epochs": (0, 5, 10, 20, 40, 80),
            "methods": ("warm", "dash")}
# book/dash/04: the 1-D CNN on nested subsets of the 8,000 MNIST-1D training points.
SUBSETS = {"sizes": (250, 500, 1000, 2000, 4000)}
WHOLE_SIZES = (250, 4000)    # the whole-network cosine: each seed's smallest and largest model
SHRINK = 0.05                # ... and the test loss after shrinking every weight by 5 %
WHOLE_KEYS = ("seed", "size", "test_acc", "cos_all", "cos_body", "test_loss", "test_loss_shrunk", "shrink")


def pretrain_config(seeds=SEEDS, **overrides):
    """The two-phase config of the shipped sweep (``overrides``: e.g. fewer E for a live run)."""
    from plasticity_sim.protocols.specs import PretrainSweepConfig

    cfg = PretrainSweepConfig(**{**PRETRAIN, "seeds": tuple(int(s) for s in seeds), **overrides})
    runs.ensure_valid(cfg)
    return cfg


def subset_config(seeds=SEEDS, **overrides):
    """The subset-cosine config of the shipped study (``overrides``: e.g. fewer sizes)."""
    from plasticity_sim.protocols.specs import SubsetCosineConfig

    cfg = SubsetCosineConfig(**{**SUBSETS, "seeds": tuple(int(s) for s in seeds), **overrides})
    runs.ensure_valid(cfg)
    return cfg


def _job_start(out, name: str, study: str, make_config, seeds, *, overwrite: bool, check_only: bool):
    """The checks both jobs make before anything trains: the file's name and location, then the
    config. Returns ``(out, config)``, with config None when ``check_only`` (nothing more to do);
    otherwise torch is set to one thread, as every shipped run."""
    out = check_call_output(out, name, study, overwrite=overwrite)
    cfg = make_config(seeds)
    if check_only:
        return out, None
    import torch

    torch.set_num_threads(1)
    return out, cfg


def pretrain_file(out, *, seeds, overwrite: bool = False, check_only: bool = False) -> str:
    """The study runner's job for ``pretrain_sweep.json``: the config and the file's location checked
    before anything trains (with ``check_only``, nothing more), then the ``two_phase`` protocol's run
    into a results file with provenance, on one torch thread."""
    from plasticity_sim import protocols

    out, cfg = _job_start(out, PRETRAIN_FILE, "dash/pretrain_sweep", pretrain_config, seeds,
                          overwrite=overwrite, check_only=check_only)
    if cfg is None:
        return str(out)
    protocols.run_config(cfg, out=out, overwrite=overwrite)
    return str(out)


def cosine_file(out, *, seeds, overwrite: bool = False, check_only: bool = False) -> str:
    """The study runner's job for ``subset_cosines.json``: the ``subsets`` protocol's results file
    (every seed and size), with the whole-network cosines of :data:`WHOLE_SIZES` added under
    ``"whole_network"``; provenance's ``wall_time_s`` is the time of both parts."""
    from plasticity_sim import protocols
    from plasticity_sim.dash.studies import whole_network_test_cosine
    from plasticity_sim.data import load_dataset

    out, cfg = _job_start(out, COSINE_FILE, "dash/subset_cosines", subset_config, seeds,
                          overwrite=overwrite, check_only=check_only)
    if cfg is None:
        return str(out)
    t0 = time.perf_counter()
    results = protocols.run_config(cfg)
    t1 = time.perf_counter()
    data = load_dataset(cfg.dataset, seed=cfg.data_seed, **cfg.dataset_kwargs)
    whole = [whole_network_test_cosine(cfg, s, n, shrink=SHRINK, data=data) for s in cfg.seeds for n in WHOLE_SIZES]
    results["whole_network"] = {"sizes": list(WHOLE_SIZES), "shrink": SHRINK, "records": whole,
                                "wall_time_s": time.perf_counter() - t1}
    results["provenance"]["wall_time_s"] = time.perf_counter() - t0
    results["command"] = "python -m plasticity_sim study dash/subset_cosines"
    runs.check_output(out, overwrite=overwrite, what="results file")
    runs.write_json_atomic(out, results, exclusive=not overwrite)
    return str(out)


# The part's shipped studies behind chapters 03 and 04, run by `python -m plasticity_sim study dash/<name>`.
STUDIES = (
    Study("dash/pretrain_sweep", "dash_fig2",
          (Call("plasticity_sim.dash.mechanism:pretrain_file", PRETRAIN_FILE),), chapters=("dash/03",),
          doc="the paper's Fig. 2: pre-train E = 0..80 epochs on half the data, then all; warm and DASH"),
    Study("dash/subset_cosines", "dash_cosine",
          (Call("plasticity_sim.dash.mechanism:cosine_file", COSINE_FILE),), chapters=("dash/04",),
          doc="unit cosines with the negative test gradient vs training-subset size, 1-D CNN; "
              "whole-network cosines"),
)


# ---------------------------------------------------------------------------------------------
# Loading
def load_pretrain(path=FIG2_RESULTS / PRETRAIN_FILE):
    """The shipped sweep as a :class:`~plasticity_sim.protocols.two_phase.PretrainSweepResult` (what
    ``run_pretrain_sweep`` returns), checked: a ``two_phase`` results file, one cold start per seed,
    and one record per (seed, method, E) of its config, every phase 2 at its target."""
    from plasticity_sim import protocols
    from plasticity_sim.protocols.specs import PretrainSweepConfig
    from plasticity_sim.protocols.two_phase import PretrainSweepResult

    path = Path(path)
    data = protocols.load_results(path)
    if data["protocol"] != "two_phase":
        raise ValueError(f"{path}: a {data['protocol']!r} results file, not a two_phase one")
    cfg = runs.config_from_dict(PretrainSweepConfig, data["config"])
    cold = [{**r, "pretrain_train_acc": math.nan} for r in data["records"] if r["method"] == "cold"]
    records = [r for r in data["records"] if r["method"] != "cold"]
    if sorted(r["seed"] for r in cold) != sorted(cfg.seeds):
        raise ValueError(f"{path}: cold starts of seeds {sorted(r['seed'] for r in cold)}, "
                         f"expected one for each of {sorted(cfg.seeds)}")
    want = sorted((s, m, e) for s in cfg.seeds for m in cfg.methods for e in cfg.pretrain_epochs)
    have = sorted((r["seed"], r["method"], r["pretrain_epochs"]) for r in records)
    if have != want:
        raise ValueError(f"{path}: records of {len(have)} (seed, method, E), expected the {len(want)} of its config")
    return PretrainSweepResult(config=cfg, records=records, cold=cold, dataset_meta=data.get("dataset_meta") or {},
                               wall_time=float(data["provenance"]["wall_time_s"]))


def load_cosines(path=COSINE_RESULTS / COSINE_FILE):
    """``(SubsetCosineResult, whole-network records)`` of the shipped study, checked: a ``subsets``
    results file with one record per (seed, size) of its config, and a whole-network record per
    (seed, size of the file's ``whole_network.sizes``, sizes of the config) with every field."""
    from plasticity_sim import protocols
    from plasticity_sim.protocols.specs import SubsetCosineConfig
    from plasticity_sim.protocols.subsets import SubsetCosineResult

    path = Path(path)
    data = protocols.load_results(path)
    if data["protocol"] != "subsets":
        raise ValueError(f"{path}: a {data['protocol']!r} results file, not a subsets one")
    cfg = runs.config_from_dict(SubsetCosineConfig, data["config"])
    records = data["records"]
    want = sorted((s, n) for s in cfg.seeds for n in cfg.sizes)
    if sorted((r["seed"], r["size"]) for r in records) != want:
        raise ValueError(f"{path}: records do not hold one model per (seed, size) of its config")
    part = data.get("whole_network") or {}
    whole, sizes = part.get("records"), part.get("sizes")
    if not isinstance(whole, list) or not isinstance(sizes, list) or not set(sizes) <= set(cfg.sizes):
        raise ValueError(f"{path}: no whole-network cosines of its sizes; "
                         "run `python -m plasticity_sim study dash/subset_cosines`")
    if sorted((w.get("seed"), w.get("size")) for w in whole) != sorted((s, n) for s in cfg.seeds for n in sizes):
        raise ValueError(f"{path}: whole-network cosines do not hold one record per (seed, size of {sizes})")
    missing = sorted({k for w in whole for k in WHOLE_KEYS if k not in w})
    if missing:
        raise ValueError(f"{path}: whole-network records lack {missing}")
    result = SubsetCosineResult(config=cfg, records=records, dataset_meta=data.get("dataset_meta") or {},
                                wall_time=float(data["provenance"]["wall_time_s"]))
    return result, whole


# ---------------------------------------------------------------------------------------------
# Chapter 03: the paired table and the primary comparisons
def _by_seed(result, method: str, e: int, key: str = "test_acc") -> dict:
    return {r["seed"]: r[key] for r in result.select(method=method, pretrain_epochs=e)}


def pretrain_rows(result, level: float = 0.95) -> list[dict]:
    """One row per E: pre-training accuracy and test accuracies (means over seeds, in %), the paired
    gaps warm - cold and DASH - cold in points with their t intervals (``stats.PairedCI``; None at
    E = 0 for warm, which *is* the cold start), and the phase-2 epochs of each method (means)."""
    cold = {r["seed"]: r["test_acc"] for r in result.cold}
    rows = []
    for e in sorted(result.config.pretrain_epochs):
        row = {"E": int(e),
               "pretrain_acc": 100 * float(np.mean(list(_by_seed(result, "warm", e, "pretrain_train_acc").values())))}
        for m in result.config.methods:
            acc = _by_seed(result, m, e)
            row[f"{m}_acc"] = 100 * float(np.mean(list(acc.values())))
            row[f"{m}_epochs"] = float(np.mean(list(_by_seed(result, m, e, "epochs").values())))
            diffs = {s: 100 * (acc[s] - cold[s]) for s in stats.pair_by_seed(acc, cold, (f"{m} E={e}", "cold"))}
            row[f"{m}_vs_cold"] = None if max(abs(d) for d in diffs.values()) == 0 else \
                stats.paired_ci(diffs, level=level)
        rows.append(row)
    return rows


def pretrain_primary(result, e: int | None = None, level: float = 0.95) -> dict:
    """Chapter 03's primary comparisons at the longest pre-training (or ``e``), one Holm family:
    ``warm - cold``, ``dash - warm`` and ``dash - cold`` in final test accuracy (points), each
    ``{"ci", "p_holm", "verdict"}`` (``stats.holm_verdicts``)."""
    e = max(result.config.pretrain_epochs) if e is None else e
    cold = {r["seed"]: r["test_acc"] for r in result.cold}
    warm, dash = _by_seed(result, "warm", e), _by_seed(result, "dash", e)
    if not warm or not dash:
        raise ValueError(f"no warm and DASH records at E = {e}; E values: {sorted(result.config.pretrain_epochs)}")
    pts = lambda a, b, names: {s: 100 * (a[s] - b[s]) for s in stats.pair_by_seed(a, b, names)}  # noqa: E731
    family = {"warm - cold": stats.paired_ci(pts(warm, cold, ("warm", "cold")), level=level),
              "dash - warm": stats.paired_ci(pts(dash, warm, ("dash", "warm")), level=level),
              "dash - cold": stats.paired_ci(pts(dash, cold, ("dash", "cold")), level=level)}
    return stats.holm_verdicts(family)


def pretrain_display(rows: list[dict], caption: str = ""):
    """:func:`pretrain_rows` as a :class:`~plasticity_sim.tables.Table` that fits the book's column."""
    from plasticity_sim.tables import Table

    def ci(c):
        return "0 (the cold start)" if c is None else c.text()

    cells = [[r["E"], f"{r['pretrain_acc']:.1f}", f"{r['warm_acc']:.1f}", ci(r["warm_vs_cold"]),
              f"{r['dash_acc']:.1f}", ci(r["dash_vs_cold"]), f"{r['warm_epochs']:.0f} / {r['dash_epochs']:.0f}"]
             for r in rows]
    return Table(["E", "pre-train\nacc %", "warm\ntest %", "warm - cold (pts)\n95 % CI", "DASH\ntest %",
                  "DASH - cold (pts)\n95 % CI", "phase-2 epochs\nwarm / DASH"], cells, caption=caption,
                 align="rrrrrrr")


# ---------------------------------------------------------------------------------------------
# Chapter 04: the per-size table and the primary comparisons
def per_seed_correlations(result) -> dict:
    """Per seed, the Pearson correlation across the subset sizes between the model's median unit
    cosine and its test accuracy: ``{seed: r}`` (each seed's models share their initial weights)."""
    out = {}
    for s in result.config.seeds:
        recs = sorted((r for r in result.records if r["seed"] == s), key=lambda r: r["size"])
        cos, acc = np.array([r["median_cosine"] for r in recs]), np.array([r["test_acc"] for r in recs])
        if len(recs) < 3 or np.ptp(cos) == 0 or np.ptp(acc) == 0:
            raise ValueError(f"seed {s}: need >= 3 sizes with varying cosine and accuracy for a correlation")
        out[s] = float(np.corrcoef(cos, acc)[0, 1])
    return out


def _median_by_seed(result, size: int) -> dict:
    return {r["seed"]: r["median_cosine"] for r in result.records if r["size"] == size}


def cosine_rows(result, level: float = 0.95) -> list[dict]:
    """One row per subset size: test accuracy (%) and median unit cosine as (mean, sample std) over
    seeds, the share of units with a positive cosine (seeds pooled), and the median cosine's paired
    difference from the smallest size with its t interval (None for the smallest itself)."""
    sizes = sorted(result.config.sizes)
    base = _median_by_seed(result, sizes[0])
    rows = []
    for n in sizes:
        recs = [r for r in result.records if r["size"] == n]
        med = _median_by_seed(result, n)
        rows.append({"size": n, "test_acc": stats.mean_std([100 * r["test_acc"] for r in recs]),
                     "median_cosine": stats.mean_std(list(med.values())),
                     "share_positive": float(np.mean(result.pooled(n) > 0)),
                     "vs_smallest": None if n == sizes[0] else stats.paired_ci(med, base, level=level)})
    return rows


def cosine_primary(result, whole: list[dict], level: float = 0.95) -> dict:
    """Chapter 04's primary comparisons, one Holm family, each ``{"ci", "p_holm", "verdict"}``:
    ``median rise`` (median unit cosine at the largest minus the smallest size, paired by seed),
    ``correlation`` (the per-seed correlation across sizes, :func:`per_seed_correlations`, against 0)
    and ``whole cos at N`` for each size of :data:`WHOLE_SIZES` (the whole network's cosine with the
    negative test gradient, against 0)."""
    sizes = sorted(result.config.sizes)
    family = {"median rise": stats.paired_ci(_median_by_seed(result, sizes[-1]), _median_by_seed(result, sizes[0]),
                                             level=level, names=(f"size {sizes[-1]}", f"size {sizes[0]}")),
              "correlation": stats.paired_ci(list(per_seed_correlations(result).values()), level=level)}
    for n in sorted({w["size"] for w in whole}):
        family[f"whole cos at {n}"] = stats.paired_ci([w["cos_all"] for w in whole if w["size"] == n], level=level)
    return stats.holm_verdicts(family)


def cosine_display(rows: list[dict], caption: str = ""):
    """:func:`cosine_rows` as a :class:`~plasticity_sim.tables.Table`."""
    from plasticity_sim.tables import Table

    cells = [[r["size"], f"{r['test_acc'][0]:.1f} ({r['test_acc'][1]:.1f})",
              f"{r['median_cosine'][0]:+.3f} ({r['median_cosine'][1]:.3f})", f"{r['share_positive']:.2f}",
              "-" if r["vs_smallest"] is None else
              r["vs_smallest"].text(3)]
             for r in rows]
    return Table(["training\npoints", "test acc %\nmean (std)", "median cosine\nmean (std)", "share\ncos > 0",
                  "median cosine minus the\nsmallest size's, 95 % CI"], cells, caption=caption, align="rrrrr")
