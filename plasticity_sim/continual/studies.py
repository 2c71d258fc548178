"""Numbers for the continual-learning chapters (book/continual), and the commands that make them.

Regenerate the shipped results (into ``results/continual/``, each file with provenance)::

    python -m plasticity_sim study continual/regression
    python -m plasticity_sim study continual/frames

``regression``: the slowly-changing regression, plain backprop vs continual backprop, 30 paired
runs (same seeds: same targets, bit streams and initial weights) through the registered
``slow_regression`` protocol (two results files). ``frames``: the grid behind chapter 1's slider
figure (activation x step size x replacement rate, 10 runs each, shorter). Chapter 2's
diagnostics-vs-loss correlations (:func:`regression_predictors`) are read from the regression files.

Statistics: paired differences over seeds with a two-sided 95 % Student-t interval
(:func:`plasticity_sim.stats.paired_ci`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy import stats as _st

from plasticity_sim import runs
from plasticity_sim.sweep import Call, Study, check_call_output
from plasticity_sim.stats import pair_by_seed, paired_ci, t_quantile

RESULTS = runs.results_dir("continual")
HEADLINE = {"steps": 600_000, "bin_size": 10_000, "lr": 0.01, "activation": "relu",
            "seeds": tuple(range(30))}
FRAME_GRID = {"activation": ("relu", "tanh", "leaky_relu"), "lr": (0.01, 0.003),
              "replacement_rate": (0.0, 1e-4, 1e-3)}
FRAME_RUN = {"steps": 300_000, "bin_size": 10_000, "seeds": tuple(range(10))}


def pearson_ci(x, y, level: float = 0.95) -> dict:
    """Pearson correlation with its Fisher-z interval: ``{"r", "lo", "hi", "n"}``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 4:
        raise ValueError("pearson_ci needs two 1-D arrays of the same length >= 4")
    r = float(np.corrcoef(x, y)[0, 1])
    z, se = np.arctanh(np.clip(r, -0.999999, 0.999999)), 1 / np.sqrt(len(x) - 3)
    q = _st.norm.ppf(0.5 + level / 2)
    return {"r": r, "lo": float(np.tanh(z - q * se)), "hi": float(np.tanh(z + q * se)), "n": int(len(x))}


# ----------------------------------------------------------------------------- regression (chapter 1)
def regression_config(method: str, **overrides):
    """The ``slow_regression`` config of the chapter's headline run for ``method`` ("bp", "cbp")."""
    from plasticity_sim import protocols

    values = {**HEADLINE, "method": method, **overrides}
    return protocols.config_from_dict(values, protocol="slow_regression")


def run_regression_study(out_dir=RESULTS, *, methods=("bp", "cbp"), overwrite=True, **overrides) -> list[Path]:
    """Run the headline regression for each method into ``out_dir/regression_<method>.json``."""
    from plasticity_sim import protocols

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in methods:
        path = out_dir / f"regression_{m}.json"
        protocols.run_config(regression_config(m, **overrides), out=path, overwrite=overwrite)
        paths.append(path)
    return paths


def load_regression(method: str, results_dir=RESULTS) -> dict:
    """A regression results file, checked by ``protocols.load_results``: a ``slow_regression`` run
    of ``method``."""
    from plasticity_sim import protocols

    path = Path(results_dir) / f"regression_{method}.json"
    (data,) = protocols.load_together([path], protocol="slow_regression")
    if data["config"].get("method") != method:
        raise ValueError(f"{path}: field 'method' is {data['config'].get('method')!r}, expected {method!r}; "
                         f"regenerate it with: python -m plasticity_sim study continual/regression")
    return data


def regression_errors(data: dict) -> np.ndarray:
    """(seeds, bins) binned squared error of a regression results file, rows in seed order."""
    recs = sorted(data["records"], key=lambda r: r["seed"])
    return np.array([r["error_bins"] for r in recs])


def regression_headline(results_dir=RESULTS) -> dict:
    """Chapter 1's claims from the shipped files: the rise of BP's error from the first to the last
    tenth of the run (paired over seeds), and CBP minus BP in the last tenth (paired).

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    from plasticity_sim import protocols

    bp, cbp = load_regression("bp", results_dir), load_regression("cbp", results_dir)
    protocols.check_together([(str(Path(results_dir) / f"regression_{m}.json"), d)
                              for m, d in (("bp", bp), ("cbp", cbp))], protocol="slow_regression")
    # the same seeds in both files (rows of regression_errors are in seed order), or an error
    pair_by_seed({r["seed"]: r for r in bp["records"]}, {r["seed"]: r for r in cbp["records"]}, ("bp", "cbp"))
    e_bp, e_cbp = regression_errors(bp), regression_errors(cbp)
    tenth = max(1, e_bp.shape[1] // 10)
    first, last = e_bp[:, :tenth].mean(1), e_bp[:, -tenth:].mean(1)
    last_cbp = e_cbp[:, -tenth:].mean(1)
    return {"bp_rise": paired_ci(last - first), "cbp_minus_bp_last": paired_ci(last_cbp - last),
            "cbp_rise": paired_ci(last_cbp - e_cbp[:, :tenth].mean(1)),
            "bp_first": float(first.mean()), "bp_last": float(last.mean()), "cbp_last": float(last_cbp.mean()),
            "n": int(len(first)), "bins": int(e_bp.shape[1]), "bin_size": int(bp["config"]["bin_size"]),
            "steps": int(bp["config"]["steps"]),
            "wall_time_s": {"bp": bp["provenance"]["wall_time_s"], "cbp": cbp["provenance"]["wall_time_s"]}}


def run_frames(out_dir=RESULTS, *, grid=None, run=None) -> Path:
    """The slider grid of chapter 1 into ``out_dir/regression_frames.json``: for each activation,
    step size and replacement rate (0 = plain backprop), the mean binned error over the runs and
    its 95 % t half-width per bin."""
    from plasticity_sim.protocols.continual import run_regression

    grid, run = dict(grid or FRAME_GRID), dict(run or FRAME_RUN)
    frames = []
    t0 = time.perf_counter()
    for act in grid["activation"]:
        for lr in grid["lr"]:
            for rho in grid["replacement_rate"]:
                out = run_regression(list(run["seeds"]), steps=run["steps"], bin_size=run["bin_size"],
                                     activation=act, lr=lr, method="cbp" if rho > 0 else "bp",
                                     replacement_rate=rho)
                e = out["error"]
                half = t_quantile(len(e) - 1) * e.std(0, ddof=1) / np.sqrt(len(e))
                frames.append({"activation": act, "lr": lr, "replacement_rate": rho,
                               "mean": [float(v) for v in e.mean(0)], "half": [float(v) for v in half],
                               "dead": [float(v) for v in out["dead"].mean(0)],
                               "elapsed": out["elapsed"]})
    path = Path(out_dir) / "regression_frames.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(path, {"format": "plasticity_sim.continual_frames/1", "grid": grid,
                                  "run": {**run, "seeds": list(run["seeds"])}, "frames": frames,
                                  "provenance": dict(runs.provenance("cpu"), wall_time_s=time.perf_counter() - t0)})
    return path


def load_frames(results_dir=RESULTS) -> dict:
    """The slider grid file, checked: every grid point present once."""
    path = Path(results_dir) / "regression_frames.json"
    data = runs.read_json(path, "frames file")
    try:
        if data.get("format") != "plasticity_sim.continual_frames/1":
            raise ValueError(f"{path}: field 'format' is {data.get('format')!r}, expected "
                             "'plasticity_sim.continual_frames/1'")
        grid = data["grid"]
        want = {(a, lr, r) for a in grid["activation"] for lr in grid["lr"] for r in grid["replacement_rate"]}
        have = [(f["activation"], f["lr"], f["replacement_rate"]) for f in data["frames"]]
    except (KeyError, TypeError, AttributeError) as err:   # a foreign or damaged file
        raise ValueError(f"{path}: damaged frames file ({type(err).__name__}: {err})") from None
    if set(have) != want or len(have) != len(want):
        raise ValueError("regression_frames.json does not hold exactly one frame per grid point")
    return data


def frame(data: dict, activation: str, lr: float, replacement_rate: float) -> dict:
    """The frame of one grid point."""
    for f in data["frames"]:
        if (f["activation"], f["lr"], f["replacement_rate"]) == (activation, lr, replacement_rate):
            return f
    raise ValueError(f"no frame for activation={activation!r}, lr={lr!r}, replacement_rate={replacement_rate!r}")


def frame_summary(data: dict) -> list[dict]:
    """Chapter 1's grid table: for each (activation, step size) of ``load_frames()``, the mean error
    over runs in the first and the last tenth of the frame, per replacement rate.

    Returns one dict per (activation, lr) in grid order: ``{"activation", "lr", "first": {rho: e},
    "last": {rho: e}}`` (``rho`` = 0.0 is plain backprop).

    Explained in: book/continual/01_loss_of_plasticity.ipynb
    """
    grid = data["grid"]
    rows = []
    for activation in grid["activation"]:
        for lr in grid["lr"]:
            first, last = {}, {}
            for rho in grid["replacement_rate"]:
                m = np.asarray(frame(data, activation, lr, rho)["mean"], float)
                tenth = max(1, len(m) // 10)
                first[rho], last[rho] = float(m[:tenth].mean()), float(m[-tenth:].mean())
            rows.append({"activation": activation, "lr": lr, "first": first, "last": last})
    return rows


# ----------------------------------------------------------------------------- measuring (chapter 2)
def regression_predictors(results_dir=RESULTS) -> dict:
    """Which diagnostic predicts the loss, over BP runs: Pearson correlation (Fisher-z 95 %
    interval) between each run's rise in error (last tenth minus first tenth) and its dead-unit
    fraction / mean hidden weight magnitude in the last tenth.

    Explained in: book/continual/02_measuring_plasticity.ipynb
    """
    bp = load_regression("bp", results_dir)
    recs = sorted(bp["records"], key=lambda r: r["seed"])
    e = np.array([r["error_bins"] for r in recs])
    tenth = max(1, e.shape[1] // 10)
    rise = e[:, -tenth:].mean(1) - e[:, :tenth].mean(1)
    dead = np.array([r["dead_bins"] for r in recs])[:, -tenth:].mean(1)
    wmag = np.array([r["weight_magnitude_bins"] for r in recs])[:, -tenth:].mean(1)
    return {"dead_vs_rise": pearson_ci(dead, rise), "weight_vs_rise": pearson_ci(wmag, rise),
            "dead_last": float(dead.mean()), "n": int(len(rise)),
            "runs": {"rise": rise, "dead": dead, "weight": wmag}}   # one value per run, seed order


def regression_file(out, *, method: str, seeds, overwrite: bool = False, check_only: bool = False) -> str:
    """The study runner's job for ``regression_<method>.json`` (all seeds in one config)."""
    from plasticity_sim import protocols

    out = Path(out)
    config = regression_config(method, seeds=tuple(int(s) for s in seeds))
    runs.check_output(out, overwrite=overwrite, what="results file")
    if check_only:
        protocols.get_check("slow_regression")(config)
        return str(out)
    protocols.run_config(config, out=out, overwrite=overwrite)
    return str(out)


def frames_file(out, *, seeds, overwrite: bool = False, check_only: bool = False) -> str:
    """The study runner's job for ``regression_frames.json`` (the slider grid)."""
    out = check_call_output(out, "regression_frames.json", "frames", overwrite=overwrite)
    if check_only:
        return str(out)
    return str(run_frames(out.parent, run={**FRAME_RUN, "seeds": tuple(int(s) for s in seeds)}))


# The part's regression studies, run by `python -m plasticity_sim study continual/<name>`.
STUDIES = (
    Study("continual/regression", "continual",
          tuple(Call("plasticity_sim.continual.studies:regression_file", f"regression_{m}.json", {"method": m})
                for m in ("bp", "cbp")),
          seeds=HEADLINE["seeds"], chapters=("continual/01", "continual/02", "guide/01"),
          doc="slowly-changing regression, backprop and CBP, 30 seeds"),
    Study("continual/frames", "continual", (Call("plasticity_sim.continual.studies:frames_file",
                                                 "regression_frames.json"),),
          seeds=FRAME_RUN["seeds"], chapters=("continual/01",),
          doc="the slider grid: activation x step size x replacement rate, 10 seeds"),
)
