"""The discrete model's predictions beside the networks' measurements (bridge chapter).

Everything here reads the shipped results of ``bridge/networks`` (:mod:`plasticity_sim.bridge.studies`)
or runs the discrete simulator (numpy, a second or less) on the study's own parameters: the same
frequencies, N, C and J as the images.

Primary comparisons, fixed before the results were read (each a paired difference over the 5 seeds,
95 % intervals, Holm within each family - the family is named at each function):

(a) rare features learned, cold - warm > 0 (family: the two networks);
(b) warm: fitted share of the points of features it then misses - of features it then learns > 0;
(c) memorised points after the last experiment, warm - cold > 0, and the share of memorised points
    kept from one experiment to the next, warm - cold > 0 (family: 2 measures x 2 networks);
(d) rare features learned, method - warm > 0 for S&P, DASH and the oracle (family: 5 comparisons);
(e) the network's effective gamma and tau, fitted on cold's final state, put into the model: its
    predicted cold - warm gap in rare features against the measured interval.

Rare features: p <= :data:`RARE_P` (k >= 6 of 30), the ones whose expected count in one chunk of one
class (N / (C J) * p = 150 p <= 7.5) is at most about the gammas the simulator was run with.

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations


import numpy as np

from plasticity_sim import stats
from plasticity_sim.bridge import studies
from plasticity_sim.bridge.measure import learned_threshold
from plasticity_sim.theory.model import sample_frequencies, sample_points
from plasticity_sim.theory.process import simulate

RARE_P = 0.05
GAMMAS = (3, 5, 8)
MODEL_SEEDS = 10


def frequencies() -> np.ndarray:
    """(C, K) feature frequencies of the study's images (the power law draws nothing)."""
    d = studies.DATA
    return sample_frequencies(d["num_classes"], d["features_per_class"], np.random.default_rng(0),
                              law=d["frequencies"], **d["frequency_params"])


def rare_mask() -> np.ndarray:
    """(C, K) bool: the rare features of the primary comparisons."""
    return frequencies() <= RARE_P


# ----------------------------------------------------------------------------- the model
def model_prediction(gamma: int, tau: int = 1, *, seeds: int = MODEL_SEEDS,
                     methods=("cold", "warm", "ideal")) -> dict:
    """The discrete model on the study's parameters: label -> {"learned" (seeds, J, C, K) bool,
    "memorised" (seeds, J)}; points drawn per seed from the images' own frequencies."""
    p, d, J = frequencies(), studies.DATA, studies.PROTOCOL["num_chunks"]
    C, n = d["num_classes"], d["n_train"]
    out = {m: {"learned": [], "memorised": []} for m in methods}
    for s in range(seeds):
        X = sample_points(p, n // C, np.random.default_rng(s))
        r = simulate(X, n_per_exp=n // J, n_exp=J, gamma=gamma, tau=tau, methods=methods)
        for m in methods:
            out[m]["learned"].append(r[m].features)
            out[m]["memorised"].append(r[m].n_memorised)
    return {m: {k: np.array(v) for k, v in out[m].items()} for m in methods}


# ----------------------------------------------------------------------------- the networks
def learned(results: dict) -> np.ndarray:
    """(seeds, J, C, K) bool: features learned after every experiment (probe score >= threshold)."""
    th = learned_threshold(studies.DATA["num_classes"])
    return np.array([[np.asarray(e["end"]["score"]) >= th for e in r["experiments"]] for r in results["runs"]])


def alignment(results: dict) -> np.ndarray:
    """(seeds, J, C, K) filter alignment (patch CNN only)."""
    return np.array([[e["end"]["alignment"] for e in r["experiments"]] for r in results["runs"]])


def memorised(results: dict) -> list[list[set]]:
    """[seed][experiment] -> set of memorised training points (indices into the data set)."""
    return [[set(e["end"]["memorised"]) for e in r["experiments"]] for r in results["runs"]]


def by_seed(results: dict, values) -> dict:
    """{seed: value} for :func:`plasticity_sim.stats.paired_ci` (pairing by seed)."""
    return {int(s): float(v) for s, v in zip(results["seeds"], values)}


def rare_learned(results: dict) -> dict:
    """{seed: rare features learned after the last experiment}."""
    return by_seed(results, learned(results)[:, -1][:, rare_mask()].sum(1))


def curve(learned_final: np.ndarray) -> np.ndarray:
    """Share learned per frequency rank k (pooled over seeds and classes): (K,)."""
    return learned_final.mean(axis=(0, 1))


def kept_share(results: dict) -> dict:
    """{seed: mean over experiments 2..J of |M_{j-1} & M_j| / |M_{j-1}|}: memorised points kept."""
    out = []
    for runs_ in memorised(results):
        out.append(np.mean([len(a & b) / max(1, len(a)) for a, b in zip(runs_[:-1], runs_[1:])]))
    return by_seed(results, out)


def fitted_shares(results: dict) -> dict:
    """(b) for one run file (warm): {seed: (missed, learned)}, the mean fitted share of the seen points
    of the features missed in an experiment and of those learned in it. A feature counts at experiment
    j >= 2 when it was not learned after j - 1 and some seen point holds it; its fitted share is
    1 - active / seen at the start of j. A seed where one group is empty gets NaN for it."""
    out = {}
    for seed, r, Ls in zip(results["seeds"], results["runs"], learned(results)):
        missed, got = [], []
        for j in range(1, len(r["experiments"])):
            start = r["experiments"][j]["start"]
            seen, active = np.asarray(start["seen"]), np.asarray(start["active"])
            cand = (~Ls[j - 1]) & (seen > 0)
            share = 1 - active / np.maximum(seen, 1)
            missed += list(share[cand & ~Ls[j]])
            got += list(share[cand & Ls[j]])
        out[int(seed)] = (float(np.mean(missed)) if missed else np.nan, float(np.mean(got)) if got else np.nan)
    return out


def fitted_share_gap(results: dict) -> dict:
    """(b): {seed: missed - learned} of :func:`fitted_shares`, over the seeds where both exist."""
    return {s: a - b for s, (a, b) in fitted_shares(results).items() if np.isfinite(a - b)}


# ----------------------------------------------------------------------------- statistics
def holm(diffs: dict, level: float = 0.95) -> dict:
    """Holm's step-down over a family {name: {seed: difference}}: comparisons ranked by the p-value
    of their paired t test, each one's interval at its Holm level 1 - alpha / (m - rank), and
    ``holds`` when that interval lies above 0 and every comparison ranked before it held.
    Returns {name: {"ci": {"mean", "low", "high", "n"}, "p", "p_holm", "level", "holds"}}; the
    intervals are :func:`plasticity_sim.stats.paired_ci`, the adjusted p-values :func:`stats.holm`."""
    alpha, names = 1 - level, list(diffs)
    p = {name: stats.paired_ci(diffs[name]).pvalue for name in names}
    adjusted = dict(zip(names, stats.holm([p[n] for n in names])))
    out, stop = {}, False
    for rank, name in enumerate(sorted(names, key=p.get)):
        lev = 1 - alpha / (len(names) - rank)
        ci = stats.paired_ci(diffs[name], level=lev)
        holds = (not stop) and ci.low > 0
        stop = stop or not holds
        out[name] = {"ci": {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}, "p": p[name],
                     "p_holm": adjusted[name], "holds": holds, "level": lev}
    return out


def difference(a: dict, b: dict) -> dict:
    """{seed: a - b} over the seeds both hold (refuses different seed sets)."""
    if set(a) != set(b):
        raise ValueError(f"cannot pair seeds {sorted(a)} with {sorted(b)}")
    return {k: a[k] - b[k] for k in a}


# ----------------------------------------------------------------------------- effective gamma, tau
def fit_gamma(results: dict, data_for_seed) -> dict:
    """(e) cold's effective gamma: the count threshold c for which "learned iff the feature's points
    in the training set >= c" agrees best with the final probe verdicts (pooled over seeds), and
    the range of thresholds within 2 % of that agreement."""
    L = learned(results)[:, -1]
    counts = np.array([_counts(data_for_seed(s)) for s in results["seeds"]])
    grid = np.arange(1, 61)
    agree = np.array([((counts >= g) == L).mean() for g in grid])
    best = int(grid[agree.argmax()])
    ok = grid[agree >= agree.max() - 0.02]
    return {"gamma": best, "range": (int(ok.min()), int(ok.max())), "agreement": float(agree.max()),
            "counts": counts, "learned": L}


def fit_tau(results: dict, data_for_seed) -> dict:
    """(e) cold's effective tau: the number t of learned features a point must hold for "explained
    (not memorised) iff it holds >= t learned features" to agree best with the network."""
    L = learned(results)[:, -1]
    best = {}
    for t in (1, 2, 3):
        hits = []
        for s, Ls, r in zip(results["seeds"], L, results["runs"]):
            data = data_for_seed(s)
            y, f = data.y_train.numpy(), data.truth["train_features"]
            held = (f & Ls[y]).sum(1)
            mem = np.zeros(len(y), bool)
            mem[list(r["experiments"][-1]["end"]["memorised"])] = True
            hits.append(((held >= t) == ~mem).mean())
        best[t] = float(np.mean(hits))
    tau = max(best, key=best.get)
    return {"tau": tau, "agreement": best}


def _counts(data) -> np.ndarray:
    """(C, K): training points holding each feature."""
    C, K = data.truth["frequencies"].shape
    y, f = data.y_train.numpy(), data.truth["train_features"]
    return np.array([f[y == c].sum(0) for c in range(C)])


# ----------------------------------------------------------------------------- the verdicts
def load_all(results_dir=studies.RESULTS) -> dict:
    """{network: {method: results}} for every file of the study."""
    return {net: {m: studies.load(net, m, results_dir) for m in ms} for net, ms in studies.METHODS.items()}


def data_for_seed(seed: int):
    """The images of ``seed`` (as the study drew them: ``make_feature_noise(seed=seed, **DATA)``)."""
    from plasticity_sim.data import make_feature_noise

    return make_feature_noise(seed=int(seed), **studies.DATA)


def _rows(family: dict) -> list:
    return [(name, r["ci"]["mean"], r["ci"]["low"], r["ci"]["high"], r["holds"]) for name, r in family.items()]


def verdicts(res: dict) -> dict:
    """Predictions (a)-(d) on the loaded study ``res`` (:func:`load_all`): each family's Holm result
    (:func:`holm`) and the rows for :func:`plasticity_sim.bridge.figures.plot_intervals`."""
    nets = list(res)
    rl = {net: {m: rare_learned(r) for m, r in res[net].items()} for net in nets}
    a = holm({net: difference(rl[net]["cold"], rl[net]["warm"]) for net in nets})
    b = {net: fitted_share_gap(res[net]["warm"]) for net in nets}
    b = holm({net: d for net, d in b.items() if len(d) >= 2})
    last_mem = {net: {m: by_seed(r, [len(e["experiments"][-1]["end"]["memorised"]) for e in r["runs"]])
                      for m, r in res[net].items()} for net in nets}
    c = {}
    for net in nets:
        c[f"{net}: memorised, warm - cold"] = difference(last_mem[net]["warm"], last_mem[net]["cold"])
        c[f"{net}: kept, warm - cold"] = difference(kept_share(res[net]["warm"]), kept_share(res[net]["cold"]))
    c = holm(c)
    d = holm({f"{net}: {m} - warm": difference(rl[net][m], rl[net]["warm"])
              for net in nets for m in res[net] if m not in ("cold", "warm")})
    return {"a": a, "b": b, "c": c, "d": d, "rare_learned": rl, "memorised_last": last_mem,
            "rows": {k: _rows(v) for k, v in (("a", a), ("b", b), ("c", c), ("d", d))}}


def effective(res_net: dict) -> dict:
    """(e) for one network: gamma and tau fitted on cold's final state, the model run with them,
    and its predicted cold - warm gap in rare features against the network's paired interval."""
    g = fit_gamma(res_net["cold"], data_for_seed)
    t = fit_tau(res_net["cold"], data_for_seed)
    pred = model_prediction(g["gamma"], t["tau"])
    rare = rare_mask()
    gap_model = pred["cold"]["learned"][:, -1][:, rare].sum(1) - pred["warm"]["learned"][:, -1][:, rare].sum(1)
    gap_net = stats.paired_ci(rare_learned(res_net["cold"]), rare_learned(res_net["warm"]))
    lo, hi = (gap_model.min(), gap_model.max())
    return {"gamma": g, "tau": t, "model": pred, "gap_model": float(gap_model.mean()),
            "gap_model_range": (float(lo), float(hi)), "gap_network": gap_net,
            "inside": bool(gap_net.low <= gap_model.mean() <= gap_net.high)}
