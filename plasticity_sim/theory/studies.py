"""The computations behind the theory chapters: example data, parameter grids, sweeps, the table.

Each function prepares the numbers one chapter figure or check needs, so the chapter itself only
calls it, prints and plots (``figures`` draws them). numpy only.

Explained in: book/theory/01_data_model.ipynb, book/theory/02_discrete_process.ipynb,
book/theory/03_warm_cold_ideal.ipynb, book/theory/04_theorems.ipynb
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .experiment import Fig3Config, Fig3Result, fig3_data, run_fig3
from .model import int_at_least, sample_frequencies, sample_points
from .process import Method, check_gamma_tau, simulate, trace_training_run

__all__ = ["data_model_example", "SMALL_INSTANCE", "small_instance", "second_experiment", "chunk_counts", "fig3_grid",
           "FIG3_REFERENCE", "compare_fig3", "Variant", "SENSITIVITY_VARIANTS", "sensitivity_table",
           "warm_learn_rates", "sp_sweep"]


def data_model_example(n_features: int, law: str = "paper", n_per_class: int = 20, *,
                       n_classes: int = 2, seed: int = 0, **law_params):
    """(frequencies (C, K), points (C, K, n)) for the data-model pictures, from ``default_rng(seed)``.

    Explained in: book/theory/01_data_model.ipynb
    """
    rng = np.random.default_rng(seed)
    p = sample_frequencies(n_classes, n_features, rng, law, **law_params)
    return p, sample_points(p, n_per_class, rng)


# A training run small enough to read point by point: 2 classes x 8 features, 2 chunks of 30 points
# per class. The seed was picked (by looking at a few) for a first run with several learned features,
# a rarer feature winning over a more frequent one, some memorised points, and a second experiment
# in which warm learns fewer features than cold.
SMALL_INSTANCE = {"n_features": 8, "n_chunk": 30, "n_exp": 2, "p_max": 0.7, "seed": 9, "gamma": 5,
                  "tau": 2}


def small_instance():
    """(frequencies, points, gamma, tau) of the step-through example (``SMALL_INSTANCE``).

    ``points`` (2, 8, 60): chunk 1 is ``points[:, :, :30]``, chunk 2 the rest.

    Explained in: book/theory/02_discrete_process.ipynb
    """
    s = SMALL_INSTANCE
    p, data = data_model_example(s["n_features"], "paper", s["n_chunk"] * s["n_exp"], seed=s["seed"],
                                 p_max=s["p_max"])
    return p, data, s["gamma"], s["tau"]


def second_experiment(data, *, n_chunk: int, gamma: int, tau: int) -> dict:
    """Traces of experiment 2 for cold, warm and ideal on ``data`` (C, K, 2 * n_chunk), plus the first.

    Experiment 1 is one training run on chunk 1 (the same for every method). Experiment 2 starts
    from what each method keeps: cold from nothing, on all points; warm from L with only the new
    chunk active (old memorised points stay memorised); ideal from L with every point active again
    (points that L explains drop out at once). Returns {"first": Trace, "cold": ..., "warm": ...,
    "ideal": ...}; each trace's points are all ``2 * n_chunk`` per class.

    Explained in: book/theory/02_discrete_process.ipynb
    """
    data = np.asarray(data, dtype=bool)
    n_chunk = int_at_least("n_chunk", n_chunk, 1)
    if data.ndim != 3 or data.shape[2] != 2 * n_chunk:
        raise ValueError(f"data must be (C, K, 2 * n_chunk = {2 * n_chunk}), got shape {data.shape}")
    C, K, n = data.shape
    first = trace_training_run(data[:, :, :n_chunk], gamma=gamma, tau=tau)
    new = np.zeros((C, n), bool)
    new[:, n_chunk:] = True
    return {"first": first,
            "cold": trace_training_run(data, gamma=gamma, tau=tau),
            "warm": trace_training_run(data, gamma=gamma, tau=tau, learned=first.learned, active=new),
            "ideal": trace_training_run(data, gamma=gamma, tau=tau, learned=first.learned)}


def chunk_counts(data, n_chunk: int, j: int):
    """(new, pooled): how many points of the j-th chunk, and of chunks 1..j, hold each feature (C, K).

    ``new`` bounds the warm learner's count at experiment j (Prop. R2): memorised and explained old
    points have zero gradient, so only new points can count. ``pooled`` is what cold (and ideal)
    start counting from.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    data = np.asarray(data, dtype=bool)
    n_chunk = int_at_least("n_chunk", n_chunk, 1)
    j = int_at_least("j", j, 1)
    if data.ndim != 3 or j * n_chunk > data.shape[2]:
        raise ValueError(f"data must be (C, K, n) with n >= j * n_chunk = {j * n_chunk}, got {data.shape}")
    new = data[:, :, (j - 1) * n_chunk:j * n_chunk].sum(axis=2)
    pooled = data[:, :, :j * n_chunk].sum(axis=2)
    return new, pooled


def fig3_grid(cfg: Fig3Config, gammas, taus, *, data=None) -> dict:
    """{(gamma, tau): Fig3Result} for every pair, all on the same data (``cfg``'s seeds).

    Drawing and indexing the data once (``fig3_data``; pass ``data`` to share it further, e.g. with a
    live slider) is what makes a slider grid cheap; each entry equals
    ``run_fig3(replace(cfg, gamma=g, tau=t))``.

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    if not isinstance(cfg, Fig3Config):
        raise ValueError(f"cfg must be a Fig3Config, got {type(cfg).__name__}")
    pairs = [(g, t) for g in gammas for t in taus]
    for g, t in pairs:
        check_gamma_tau(g, t, cfg.n_features)
    data = fig3_data(cfg) if data is None else data
    return {(g, t): run_fig3(dataclasses.replace(cfg, gamma=g, tau=t), data=data) for g, t in pairs}


# --- Fig. 3 against the re-run of the official notebook ---------------------------------------------

# {j: {method: (test accuracy %, learned features, active points at start)}}, means over seeds 0..9 of
# the official notebook's logic re-run with its own RNG calls: not numbers printed in the paper, whose
# curve values are not available. Shipped as package data with its citation:
# plasticity_sim/published/dash_fig3_rerun.json (load_table("dash_fig3_rerun")).
def _reference(variant: str) -> dict:
    from plasticity_sim.published import load_table

    out: dict = {}
    for r in load_table("dash_fig3_rerun").select(variant=variant):
        out.setdefault(r["j"], {})[r["method"]] = (r["accuracy"], r["n_learned"], r["active_at_start"])
    return out


FIG3_REFERENCE = _reference("default")
_METRICS3 = ("accuracy", "n_learned", "active_at_start")


def compare_fig3(result: Fig3Result, reference: dict = FIG3_REFERENCE, *, n_se: float = 4.0,
                 rounding=(0.05, 0.05, 0.5)) -> list[dict]:
    """Our Fig. 3 means next to the reference means, with a tolerance for each comparison.

    Both are means over independent sets of ``n`` seeds (different RNG streams), so their difference
    has standard deviation about ``std * sqrt(2 / n)``, with ``std`` our seed-to-seed standard deviation.
    A row is ``ok`` when ``|ours - reference| <= n_se * std * sqrt(2 / n) + rounding`` (``rounding``:
    half the last digit of the reference, per metric). Deterministic values (cold's active count, the
    same for every seed) must therefore match exactly. One row per (j, method, metric).

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    n = result.config.n_seeds
    rows = []
    for j, by_method in reference.items():
        for m, ref_values in by_method.items():
            curves = result[m]
            for metric, ref, half in zip(_METRICS3, ref_values, rounding):
                scale = 100.0 if metric == "accuracy" else 1.0
                ours = scale * float(curves.mean(metric)[j - 1])
                tol = n_se * scale * float(curves.std(metric)[j - 1]) * np.sqrt(2.0 / n) + half
                rows.append({"j": j, "method": m, "metric": metric, "ours": ours, "reference": ref,
                             "tolerance": tol, "ok": abs(ours - ref) <= tol})
    return rows


# --- the sensitivity table: appendix variants of Fig. 3, re-run (dash_fig3_rerun.json) -------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One row of the sensitivity table: config changes, the experiment read, the reference numbers.

    ``reference``: {method: (accuracy %, learned features, active points at start)} from the package
    data ``published/dash_fig3_rerun.json`` (re-runs of the official notebook logic, 3 seeds; not
    numbers printed in the paper).
    """

    name: str
    changes: dict
    at: int
    reference: dict


SENSITIVITY_VARIANTS = tuple(
    Variant(name, changes, at, _reference(name)[at])
    for name, changes, at in (("gamma = 25", {"gamma": 25}, 50), ("gamma = 100", {"gamma": 100}, 50),
                              ("tau = 2", {"tau": 2}, 50), ("tau = 5", {"tau": 5}, 50),
                              ("C = 10", {"n_classes": 10}, 50),
                              ("N = 2000, J = 25", {"n_per_exp": 2000, "n_exp": 25}, 20)))


def sensitivity_table(n_seeds: int = 3, *, variants=SENSITIVITY_VARIANTS, base: Fig3Config | None = None,
                      extra_at=()) -> list[dict]:
    """Re-run each variant (``n_seeds`` seeds) and return one row per variant, plus a default row.

    Row keys: ``name``, ``at``, ``result`` (the Fig3Result), ``ours`` and ``reference``
    ({method: (accuracy %, features, active points)}); the default row (name ``"default"``, no
    reference) is read at ``at = J`` and at every experiment in ``extra_at`` (keys ``ours_at_<j>``).

    Explained in: book/theory/03_warm_cold_ideal.ipynb
    """
    base = Fig3Config(n_seeds=n_seeds) if base is None else dataclasses.replace(base, n_seeds=n_seeds)
    rows = []
    for v in (Variant("default", {}, base.n_exp, {}),) + tuple(variants):
        result = run_fig3(dataclasses.replace(base, **v.changes))
        row = {"name": v.name, "at": v.at, "result": result, "ours": _read(result, v.at),
               "reference": dict(v.reference)}
        if v.name == "default":
            row.update({f"ours_at_{j}": _read(result, j) for j in extra_at})
        rows.append(row)
    return rows


def _read(result: Fig3Result, at: int) -> dict:
    s = result.summary(at)
    return {m: (100 * s[m]["accuracy"][0], s[m]["n_learned"][0], s[m]["active_at_start"][0]) for m in s}


# --- Prop. R2: the warm learner's ceiling, simulated ------------------------------------------------

def warm_learn_rates(ps, *, n_per_class: int = 500, gamma: int = 50, n_exp: int = 20,
                     n_features: int = 10, tau: int = 3, n_reps: int = 20, seed: int = 0) -> dict:
    """How often warm (and cold) learn a feature of frequency p within ``n_exp`` experiments.

    For each p of ``ps``, ``n_reps`` independent one-class problems whose ``n_features`` features all
    have frequency p, ``n_per_class`` new points per experiment. Classes never interact in the
    process (a point is explained by its own class's features only), so all of them run as one data
    set with ``len(ps) * n_reps`` classes. Returns arrays over ``ps``: ``warm`` and ``cold`` (fraction
    of features learned after the last experiment), ``any_chunk`` (fraction whose count reached
    ``gamma`` within a single chunk at least once: the necessary condition of R2), ``n_trials`` per p,
    and ``violations``: features warm learned although no chunk reached gamma (R2 says 0).

    Explained in: book/theory/04_theorems.ipynb
    """
    ps = np.asarray(ps, dtype=float)
    n = int_at_least("n_per_class", n_per_class, 1)
    reps = int_at_least("n_reps", n_reps, 1)
    K = int_at_least("n_features", n_features, 1)
    J = int_at_least("n_exp", n_exp, 1)
    gamma, tau = check_gamma_tau(gamma, tau, K)
    rng = np.random.default_rng(seed)
    p = np.repeat(ps, reps)[:, None] * np.ones(K)          # (P * reps, K): one row per problem
    data = sample_points(p, J * n, rng)
    sim = simulate(data, n_per_exp=n * len(p), n_exp=J, gamma=gamma, tau=tau, methods=("cold", "warm"))
    per_chunk = data.reshape(len(p), K, J, n).sum(axis=3)  # X_{k, j} for every problem
    reached = (per_chunk >= gamma).any(axis=2)
    warm = sim["warm"].features[-1]
    shape = (len(ps), reps * K)
    return {"p": ps, "warm": warm.reshape(shape).mean(axis=1),
            "cold": sim["cold"].features[-1].reshape(shape).mean(axis=1),
            "any_chunk": reached.reshape(shape).mean(axis=1), "n_trials": reps * K,
            "violations": int((warm & ~reached).sum()), "gamma": gamma, "n_per_class": n, "n_exp": J}


# --- shrink & perturb between ideal and cold --------------------------------------------------------

def sp_sweep(cfg: Fig3Config, forget_probs, *, seed: int = 0) -> dict:
    """Run cold, ideal and shrink & perturb at each ``forget_prob`` on the same data (``cfg``'s seeds).

    Returns ``forget_probs``, ``result`` (Fig3Result with labels ``cold``, ``ideal`` and
    ``sp <q>``), ``labels`` (the S&P label per q) and arrays over q of the final accuracy (mean, std
    over seeds, %), learned features at the end, and the mean active points per experiment (cost).

    Explained in: book/theory/04_theorems.ipynb
    """
    qs = [float(q) for q in forget_probs]
    labels = [f"sp {q:g}" for q in qs]
    methods = ("cold", "ideal") + tuple(Method("shrink_perturb", forget_prob=q, seed=seed, label=lab)
                                        for q, lab in zip(qs, labels))
    result = run_fig3(dataclasses.replace(cfg, methods=methods))
    acc = np.array([100 * result[lab].accuracy[:, -1] for lab in labels])
    cost = np.array([result[lab].active_at_start.mean(axis=1) for lab in labels])
    return {"forget_probs": np.array(qs), "labels": labels, "result": result,
            "acc_mean": acc.mean(axis=1), "acc_std": acc.std(axis=1),
            "features": np.array([result[lab].n_learned[:, -1].mean() for lab in labels]),
            "cost_mean": cost.mean(axis=1), "cost_std": cost.std(axis=1)}
