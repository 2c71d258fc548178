"""Where the paper's gain over cold comes from: the J sweep, the budget control and the tuning grid.

    python -m plasticity_sim study dash/j_sweep_mlp          # J = 5, 10, 20, 50; MLP; 5 seeds
    python -m plasticity_sim study dash/j_sweep_cnn          # the same with the 1-D CNN
    python -m plasticity_sim study dash/j_tuning             # validation grid: lambda, shrink, cold's epochs
    python -m plasticity_sim study dash/j_sweep_mlp --list   # one command per job, for a cluster

DASH's Table 1 has S&P and DASH several points *above* a cold start; our J = 5 study (dash/main) has
them tied with it. Four departures from the paper could each make the difference, and this module
varies them (book/dash/02c):

* **J**, the number of chunks (the paper's 50, ours 5). Every arm is an ordinary ``chunked`` sweep at
  the same 4,000 training points with ``num_chunks = J``.
* **Training budget.** A warm-based method's final network has had all experiments' steps; a cold
  start only the last experiment's. The budget control keeps training the cold start's final network
  on all data past its target (``continue_epochs``), measuring test accuracy on the way, so it can be
  read at exactly as many steps as each method's whole run.
* **Method strengths**: a small grid for DASH's lambda and S&P's shrink, and the cold start's epoch
  budget, chosen on a validation split of the *training* points (``dataset_kwargs.validation``),
  never on the test set.
* **Capacity**: one wider 1-D CNN (``cnn_wide``: 64 channels instead of 32, 28,298 parameters instead
  of 8,010) at J = 50, the J of the largest gain in the MLP sweep (FIRE, +2.1 points), fixed before
  the CNN sweep was run. It runs cold's last experiment (not continued: the budget control is the
  32-channel CNN's), warm and S&P (the method whose gain over cold is the paper's largest on
  CIFAR-10 with SGD); the other methods would triple its cost.

Work saved, honestly: every arm uses ``streams="by_size"``: an experiment's batch order and fresh
draws are keyed by the number of points it trains on, and the chunks are one permutation cut into J
pieces. A cold start's last experiment - a fresh network trained on all 4,000 points - is then the
same run at every J (a test checks it), so it is run once per seed (``only_last``, files
``cold_last``) and serves every J; the budget control continues that same run. Cold's full runs,
needed only for its average accuracy and total steps, are run at J = 5 and 10 (MLP) and J = 5 (CNN): a whole
cold run at J costs about J/2 cold trainings on all data and adds no last-accuracy information. Both
networks run warm, S&P, DASH (kernel and row) and FIRE, the MLP at J = 5, 10, 20 and 50 and the CNN at
J = 5, 20 and 50.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plasticity_sim import protocols, runs, stats
from plasticity_sim.sweep import Study, Sweep

J_VALUES = (5, 10, 20, 50)
PRESETS = {"mlp": "tiny", "cnn": "tiny_cnn", "cnn_wide": "tiny_cnn"}
# The capacity arm: 2x the channels, so 3.5x the parameters. 4x (128 channels, 106k parameters) costs
# 4.3x the 32-channel CNN per step on one core, about 3 core-hours at J = 50, beyond this study's budget.
WIDE_CHANNELS = 64
CAPACITY_J = 50
EXTRA = {"mlp": (), "cnn": (), "cnn_wide": ('model_kwargs={"channels": %d}' % WIDE_CHANNELS,)}
# Both networks run the same methods; the CNN (about 1.5x the MLP's cost per step on one core) skips J = 10,
# which on the MLP lies between J = 5 and 20 in every column, so that its sweep fits about 2 h on 2 cores.
METHODS = {"mlp": ("warm", "sp", "dash", "dash_row", "fire"), "cnn": ("warm", "sp", "dash", "dash_row", "fire"),
           # the capacity arm: warm and S&P only. A 64-channel run at J = 50 costs about 8 min of one core
           # (S&P: 61,000 steps); S&P is the method with the paper's largest gain over cold on CIFAR-10 SGD.
           "cnn_wide": ("warm", "sp")}
J_OF = {"mlp": J_VALUES, "cnn": (5, 20, 50), "cnn_wide": (CAPACITY_J,)}
# J at which cold's whole run (its average accuracy and total steps) is measured: only those columns
# need it, and a whole cold run at J costs about J/2 cold trainings on all the data.
COLD_FULL_J = {"mlp": (5, 10), "cnn": (5,), "cnn_wide": ()}
SEEDS = (0, 1, 2, 3, 4)
# The budget control: 3,200 more epochs of the cold start's final network (102,400 steps at 32
# steps an epoch), more than any method's whole run at J = 50 takes, measured every 20 epochs.
CONTINUE = ("continue_epochs=3200", "continue_eval_every=20")
BY_SIZE = ("streams=by_size",)
COLD_LAST = BY_SIZE + ("only_last=true", "num_chunks=5") + CONTINUE   # any J >= 2 gives the same run
RESULTS = runs.results_dir("dash_jsweep")

# The tuning grid (DASH paper: values per setting not published; the code's defaults are lambda 0.3
# and shrink 0.3). Chosen on a validation split of 800 of the 4,000 training points, at J = TUNE_J
# (fixed before any result was seen: the middle of the sweep that is cheap to run), 3 seeds.
TUNE_J = 10
TUNE_SEEDS = (0, 1, 2)
LAMBDAS = (0.1, 0.3, 0.6)
SHRINKS = (0.1, 0.3, 0.6)
VALIDATION = 800
_VALID = ('dataset_kwargs={"num_samples": 10000, "train_split": 0.4, "validation": %d}' % VALIDATION,)
TUNE_RESULTS = runs.results_dir("dash_jtune")


def _arm(model: str, j: int) -> str:
    return f"{model}_J{j}"


def _grid_sweeps(model: str) -> tuple[Sweep, ...]:
    preset, at = PRESETS[model], BY_SIZE + (f"num_chunks={TUNE_J}",)
    out = [Sweep("chunked", preset, ("dash",), _VALID + at + ('method_params={"lam": %g}' % lam,),
                 sub=f"{model}_dash_lam{lam:g}") for lam in LAMBDAS]
    out += [Sweep("chunked", preset, ("sp",), _VALID + at + ('method_params={"shrink": %g}' % s,),
                  sub=f"{model}_sp_shrink{s:g}") for s in SHRINKS]
    out.append(Sweep("chunked", preset, ("cold",), _VALID + COLD_LAST, sub=f"{model}_cold_last"))
    return tuple(out)


def _sweep_sweeps(model: str) -> tuple[Sweep, ...]:
    preset, extra = PRESETS[model], EXTRA[model]
    cold_last = COLD_LAST if model != "cnn_wide" else BY_SIZE + ("only_last=true", "num_chunks=5")
    out = [Sweep("chunked", preset, ("cold",), extra + cold_last, sub=f"{model}_cold_last")]
    for j in J_OF[model]:
        methods = METHODS[model] + (("cold",) if j in COLD_FULL_J[model] else ())
        out.append(Sweep("chunked", preset, methods, extra + BY_SIZE + (f"num_chunks={j}",), sub=_arm(model, j)))
    return tuple(out)


STUDIES = (
    Study("dash/j_sweep_mlp", "dash_jsweep", _sweep_sweeps("mlp"), chapters=("dash/02c",),
          doc="J = 5, 10, 20, 50 at the same data, MLP, 6 methods; cold's last run shared by every J and "
              "continued for the budget control"),
    Study("dash/j_sweep_cnn", "dash_jsweep", _sweep_sweeps("cnn"), chapters=("dash/02c",),
          doc="the same J sweep with the 1-D CNN"),
    Study("dash/j_capacity", "dash_jsweep", _sweep_sweeps("cnn_wide"), chapters=("dash/02c",),
          doc=f"capacity: a 1-D CNN with {WIDE_CHANNELS} channels (3.5x the parameters) at J = {CAPACITY_J}, cold, warm, S&P"),
    Study("dash/j_tuning", "dash_jtune", _grid_sweeps("mlp"), seeds=TUNE_SEEDS, chapters=("dash/02c",),
          doc=f"validation grid at J = {TUNE_J} (MLP): DASH lambda, S&P shrink, cold's epoch budget"),
)


# ---------------------------------------------------------------------------------------------
# Loading
def _load(folder: Path) -> dict[str, dict[int, dict]]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no results in {folder}; run `python -m plasticity_sim study dash/j_sweep_mlp` (or _cnn)")
    out: dict[str, dict[int, dict]] = {}
    for r in protocols.load_together(files, protocol="chunked"):
        out.setdefault(r["config"]["method"], {})[int(r["config"]["seed"])] = r
    return out


def load_sweep(model: str, results_dir: str | Path = RESULTS) -> dict:
    """``{"cold_last": {seed: results}, J: {method: {seed: results}}}`` for one model."""
    if model not in PRESETS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(PRESETS)}")
    root = Path(results_dir)
    out: dict = {"cold_last": _load(root / f"{model}_cold_last")["cold"]}
    for j in J_OF[model]:
        out[j] = _load(root / _arm(model, j))
    return out


# ---------------------------------------------------------------------------------------------
# The budget control
def cold_at_steps(cold_last: dict, total_steps: float) -> tuple[float, int]:
    """The cold start's test accuracy after (at most) ``total_steps`` steps on all data: the last
    point of its run (the target, then the continuation) at or below that many steps, and the steps
    there. Raises if the continuation is shorter than asked (the control would be cut short)."""
    record = cold_last["experiments"][-1]
    curve = record.get("continuation") or {"steps": [], "test_acc": []}
    steps = [record["steps"]] + [record["steps"] + s for s in curve["steps"]]
    accs = [record["test_acc"]] + list(curve["test_acc"])
    if total_steps > steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else 0):
        raise ValueError(f"the budget control asks for {total_steps:.0f} steps but the cold run stops at "
                         f"{steps[-1]}; raise continue_epochs")
    i = max(k for k, s in enumerate(steps) if s <= max(total_steps, steps[0]))
    return float(accs[i]), int(steps[i])


def cold_best(cold_last: dict) -> tuple[float, int]:
    """The cold start's best test accuracy anywhere on its continued run, and the steps there (an
    upper bound for any epoch budget: it is chosen by looking at the test set, so only a bound)."""
    record = cold_last["experiments"][-1]
    curve = record["continuation"]
    accs = [record["test_acc"]] + list(curve["test_acc"])
    steps = [record["steps"]] + [record["steps"] + s for s in curve["steps"]]
    k = int(np.argmax(accs))
    return float(accs[k]), int(steps[k])


# ---------------------------------------------------------------------------------------------
# The effect-versus-J table
def effect_rows(model: str, results_dir: str | Path = RESULTS, *, level: float = 0.95) -> list[dict]:
    """One row per (J, method): final accuracy (mean, sample std over seeds), total steps, and two
    paired differences in points with t-intervals over seeds: ``vs_cold`` (method − the cold
    start's last experiment, shared by every J) and ``vs_budget`` (method − the same cold run read
    at the method's own total steps, the budget control). Holm's correction runs over the whole
    family of ``vs_cold`` comparisons of the model and, separately, of the ``vs_budget`` ones
    (``p_holm``)."""
    sweep = load_sweep(model, results_dir)
    cold = sweep["cold_last"]
    rows = []
    for j in J_OF[model]:
        for method, by_seed in sweep[j].items():
            seeds = stats.pair_by_seed({s: r for s, r in by_seed.items()}, cold, (f"{method} J={j}", "cold"))
            last = {s: by_seed[s]["summary"]["test_acc_last"] for s in seeds}
            total = {s: by_seed[s]["summary"]["total_steps"] for s in seeds}
            row = {"model": model, "J": j, "method": method, "seeds": list(seeds),
                   "acc_last": stats.mean_std([100 * last[s] for s in seeds]),
                   "acc_avg": stats.mean_std([100 * by_seed[s]["summary"]["test_acc_avg"] for s in seeds]),
                   "total_steps": stats.mean_std([total[s] for s in seeds])}
            if method != "cold":
                row["vs_cold"] = stats.paired_ci({s: 100 * (last[s] - cold[s]["summary"]["test_acc_last"])
                                                  for s in seeds}, level=level)
                if all("continuation" in cold[s]["experiments"][-1] for s in seeds):   # not the capacity arm
                    budget = {s: cold_at_steps(cold[s], total[s]) for s in seeds}
                    row["vs_budget"] = stats.paired_ci({s: 100 * (last[s] - budget[s][0]) for s in seeds},
                                                       level=level)
                    row["budget_steps"] = float(np.mean([budget[s][1] for s in seeds]))
            rows.append(row)
    for key in ("vs_cold", "vs_budget"):
        family = {(r["J"], r["method"]): r[key] for r in rows if key in r}
        verdicts = stats.holm_verdicts(family)
        for r in rows:
            if key in r:
                v = verdicts[(r["J"], r["method"])]
                r[f"p_holm_{key}"], r[f"verdict_{key}"] = v["p_holm"], v["verdict"]
    return rows


# ---------------------------------------------------------------------------------------------
# The tuning grid (validation split) and what it selects
def load_tuning(model: str = "mlp", results_dir: str | Path = TUNE_RESULTS) -> dict:
    """``{("dash", lam) | ("sp", shrink): {seed: results}, "cold_last": {seed: results}}``."""
    root = Path(results_dir)
    out: dict = {("dash", lam): _load(root / f"{model}_dash_lam{lam:g}")["dash"] for lam in LAMBDAS}
    out.update({("sp", s): _load(root / f"{model}_sp_shrink{s:g}")["sp"] for s in SHRINKS})
    out["cold_last"] = _load(root / f"{model}_cold_last")["cold"]
    for key, by_seed in out.items():
        if sorted(by_seed) != list(TUNE_SEEDS):
            raise ValueError(f"tuning arm {key!r} holds seeds {sorted(by_seed)}, not {list(TUNE_SEEDS)}")
        for r in by_seed.values():   # a tuning run must never have seen the test set
            if r.get("dataset_meta", {}).get("validation") != VALIDATION:
                raise ValueError(f"tuning arm {key!r} was not run on the {VALIDATION}-point validation split")
    return out


def _cold_curve(cold_last: dict) -> tuple[list[int], list[float]]:
    """(epochs after the target, accuracy): 0 is the target itself, then the continuation."""
    record = cold_last["experiments"][-1]
    curve = record["continuation"]
    return [0] + list(curve["epochs"]), [record["test_acc"]] + list(curve["test_acc"])


def select_strengths(tuning: dict) -> dict:
    """What the validation grid selects: DASH's lambda and S&P's shrink with the highest mean
    validation accuracy at the last experiment (a tie keeps the code's default 0.3), and the cold
    start's extra epochs after its target with the highest mean validation accuracy (a tie keeps
    the fewest). Returns the choices and the grid's rows (``(method, value, mean, std)``)."""
    rows, chosen = [], {}
    for method, grid, default in (("dash", LAMBDAS, 0.3), ("sp", SHRINKS, 0.3)):
        means = {v: stats.mean_std([100 * r["summary"]["test_acc_last"] for r in tuning[(method, v)].values()])
                 for v in grid}
        rows += [(method, v, *means[v]) for v in grid]
        best = max(m for m, _ in means.values())
        chosen[method] = default if means[default][0] == best else next(v for v in grid if means[v][0] == best)
    curves = [_cold_curve(r) for r in tuning["cold_last"].values()]
    epochs = curves[0][0]
    mean = np.mean([acc for _, acc in curves], axis=0) * 100
    chosen["cold_epochs"] = int(epochs[int(np.argmax(mean))])   # argmax: the first of equal maxima
    chosen["cold_curve"] = (epochs, [float(v) for v in mean])
    return {"chosen": chosen, "rows": rows}


def cold_at_epochs(cold_last: dict, epochs: int) -> float:
    """The cold start's test accuracy ``epochs`` epochs after its target (0: at the target)."""
    grid, accs = _cold_curve(cold_last)
    if epochs not in grid:
        raise ValueError(f"epochs={epochs} is not a measured point of the continuation ({grid[0]}..{grid[-1]})")
    return float(accs[grid.index(epochs)])


def tuned_rows(model: str = "mlp", results_dir: str | Path = RESULTS, tuned_dir: str | Path = TUNE_RESULTS,
               *, level: float = 0.95) -> dict:
    """Test results at J = TUNE_J with the selected strengths, paired with the cold start at its
    selected epoch budget: ``{"chosen": ..., "rows": [{"method", "value", "vs_cold", ...}]}`` (Holm
    over the rows). A selected value equal to the default reads the J sweep's own runs."""
    sel = select_strengths(load_tuning(model, tuned_dir))["chosen"]
    sweep = load_sweep(model, results_dir)
    cold = {s: cold_at_epochs(r, sel["cold_epochs"]) for s, r in sweep["cold_last"].items()}
    rows = []
    for method, key in (("dash", "lam"), ("sp", "shrink")):
        value = sel[method]
        by_seed = sweep[TUNE_J][method] if value == 0.3 else \
            _load(Path(results_dir) / f"{model}_J{TUNE_J}_{method}_{key}{value:g}")[method]
        seeds = stats.pair_by_seed(by_seed, cold, (method, "cold (tuned epochs)"))
        diffs = {s: 100 * (by_seed[s]["summary"]["test_acc_last"] - cold[s]) for s in seeds}
        rows.append({"method": method, "param": key, "value": value, "vs_cold": stats.paired_ci(diffs, level=level),
                     "acc_last": stats.mean_std([100 * by_seed[s]["summary"]["test_acc_last"] for s in seeds])})
    verdicts = stats.holm_verdicts({r["method"]: r["vs_cold"] for r in rows})
    for r in rows:
        r["p_holm"], r["verdict"] = verdicts[r["method"]]["p_holm"], verdicts[r["method"]]["verdict"]
    return {"chosen": sel, "rows": rows, "cold_acc": stats.mean_std([100 * v for v in cold.values()])}


# ---------------------------------------------------------------------------------------------
# The theory beside it: the discrete model at the same total data for every J
def theory_vs_j(n_seeds: int = 10, total_points: int = 50_000, forget_prob: float = 0.3) -> dict:
    """The discrete learning process (the paper's synthetic setting, 50,000 points in all) at each
    J of the sweep: ``{J: {method: (mean accuracy %, std, mean learned features)}}`` for cold, warm,
    ideal and S&P (forget probability ``forget_prob``). Seconds to run."""
    from plasticity_sim.theory.experiment import Fig3Config, run_fig3

    out = {}
    for j in J_VALUES:
        cfg = Fig3Config(n_exp=j, n_per_exp=total_points // j, n_seeds=n_seeds,
                         methods=("cold", "warm", "ideal", ("shrink_perturb", {"forget_prob": forget_prob})))
        summary = run_fig3(cfg).summary()
        out[j] = {m: (100 * s["accuracy"][0], 100 * s["accuracy"][1], s["n_learned"][0]) for m, s in summary.items()}
    return out

